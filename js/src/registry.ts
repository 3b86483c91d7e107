// The registry widget: a registered model's versions (stage/alias badges, source run,
// metrics side by side), promote / archive / alias / roll back actions confirmed inline,
// and the promotion log. Every action is a request; the reply carries the fresh state.
import { Channel, RenderProps, Reply, formatNumber, formatTime, h, injectStyle } from "./_common";

// -- message shapes (src/trackbook/widgets/_registry.py declares the same) -------------
interface VersionRow {
  version: number;
  stage: string;
  aliases: string[];
  run_id: string | null;
  run_name: string | null;
  source: string;
  created: number;
  user: string | null;
  description: string | null;
  metrics: Record<string, number>;
}

interface LogRow {
  seq: number;
  timestamp: number;
  user: string | null;
  action: "stage" | "alias" | "rollback" | "rename";
  target: string;
  version: number | null;
  from: unknown;
  to: unknown;
  comment: string | null;
  archived: number[];
}

interface RegistryState {
  name: string;
  versions: VersionRow[];
  metrics: string[];
  aliases: Record<string, number>;
  history: LogRow[];
  history_total: number;
  rollback_targets: string[];
}

interface StateReply extends Reply {
  state?: RegistryState;
  message?: string;
}

/** What a confirm row will send when confirmed. */
interface Pending {
  kind: "promote" | "alias" | "rollback";
  label: string;
  payload: Record<string, unknown>;
  version?: number; // the row the confirm row sits under (none: the rollback bar)
  values: { comment: string; alias: string; archive: boolean }; // kept across redraws
}

const CSS = `
.tb-registry .tb-scroll { overflow-x: auto; max-width: 100%; }
.tb-registry table { border-collapse: collapse; width: 100%; margin: 4px 0; }
.tb-registry th, .tb-registry td {
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0);
  padding: 3px 6px; text-align: left; white-space: nowrap;
}
.tb-registry th { background: var(--jp-layout-color2, #f3f3f3); font-weight: 600; }
.tb-registry td.tb-num { text-align: right; font-variant-numeric: tabular-nums; }
.tb-registry h4 { margin: 8px 0 2px; font-size: var(--jp-ui-font-size1, 13px); }
.tb-badge {
  display: inline-block; padding: 0 6px; margin-right: 3px; border-radius: 8px;
  font-size: 11px; line-height: 17px;
  border: 1px solid var(--jp-border-color1, #bbb);
  background: var(--jp-layout-color2, #eee); color: var(--jp-ui-font-color1, #222);
}
.tb-badge.tb-stage-Production { background: var(--jp-success-color1, #388e3c); color: var(--jp-ui-inverse-font-color1, #fff); border-color: transparent; }
.tb-badge.tb-stage-Staging { background: var(--jp-warn-color1, #f57c00); color: var(--jp-ui-inverse-font-color1, #fff); border-color: transparent; }
.tb-badge.tb-stage-Archived { color: var(--jp-ui-font-color2, #666); }
.tb-badge.tb-alias { background: var(--jp-brand-color1, #1976d2); color: var(--jp-ui-inverse-font-color1, #fff); border-color: transparent; }
.tb-registry .tb-actions button { margin-right: 3px; font-size: 11px; }
.tb-registry tr.tb-confirm td { background: var(--jp-layout-color2, #f5f5f5); white-space: normal; }
.tb-registry tr.tb-confirm input[type=text] { width: 14em; margin: 0 6px; }
.tb-registry .tb-result { color: var(--jp-success-color1, #2e7d32); padding: 2px 0; }
.tb-registry .tb-result:empty { display: none; }
.tb-registry .tb-log { margin: 0; padding-left: 18px; font-size: 12px; }
.tb-registry .tb-log li { margin: 1px 0; }
.tb-registry code { font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
`;

function holder(v: unknown): string {
  if (v === null || v === undefined) return "(none)";
  return typeof v === "number" ? `v${v}` : String(v);
}

function logText(e: LogRow): string {
  const what = e.action === "stage" ? `v${e.version} stage` : e.action === "alias" ? `@${e.target}`
    : e.action === "rename" ? "renamed" : `rollback ${e.target}`;
  let s = `${formatTime(e.timestamp)}  ${e.user ?? "?"}: ${what} ${holder(e.from)} -> ${holder(e.to)}`;
  if (e.archived && e.archived.length) s += ` (archived ${e.archived.map((v) => `v${v}`).join(", ")})`;
  if (e.comment) s += ` — ${e.comment}`;
  return s;
}

function render({ model, el }: RenderProps): () => void {
  const channel = new Channel(model);
  const root = h("div", { class: "tb-widget tb-registry" });
  injectStyle(root, CSS);
  const title = h("div", { class: "tb-toolbar" });
  const result = h("div", { class: "tb-result", role: "status" });
  const error = h("div", { class: "tb-error", role: "alert" });
  const table = h("table", { class: "tb-versions" });
  const rollbackBar = h("div", { class: "tb-toolbar tb-rollback" });
  const rollbackConfirm = h("table", { class: "tb-rollback-confirm" });
  const logTitle = h("h4", { text: "Promotion log" });
  const log = h("ol", { class: "tb-log", reversed: true });
  const scroller = h("div", { class: "tb-scroll" }, table);
  root.append(title, result, error, scroller, rollbackBar, rollbackConfirm, logTitle, log);
  el.append(root);

  let state: RegistryState | null = null;
  let pending: Pending | null = null;
  let busy = false;
  let closed = false;

  function setError(text: string): void {
    error.textContent = text;
    if (text) result.textContent = "";
  }

  function confirmRow(p: Pending, colspan: number): HTMLTableRowElement {
    const comment = h("input", { type: "text", class: "tb-comment", placeholder: "comment (optional)" });
    const alias = h("input", { type: "text", class: "tb-alias-input", placeholder: "alias, e.g. champion" });
    const archive = h("input", { type: "checkbox", class: "tb-archive-existing" });
    comment.value = p.values.comment;
    alias.value = p.values.alias;
    archive.checked = p.values.archive;
    comment.addEventListener("input", () => (p.values.comment = comment.value));
    alias.addEventListener("input", () => (p.values.alias = alias.value));
    archive.addEventListener("change", () => (p.values.archive = archive.checked));
    alias.addEventListener("keydown", (ev) => { if (ev.key === "Enter") ok.click(); });
    comment.addEventListener("keydown", (ev) => { if (ev.key === "Enter") ok.click(); });
    const ok = h("button", { class: "tb-confirm-ok", text: "Confirm", disabled: busy });
    const cancel = h("button", { class: "tb-confirm-cancel", text: "Cancel" });
    const cell = h("td", { colspan }, h("span", { text: p.label }));
    if (p.kind === "alias") cell.append(alias);
    if (p.kind === "promote" && (p.payload.stage === "Production" || p.payload.stage === "Staging")) {
      cell.append(h("label", {}, archive, ` archive other ${p.payload.stage} versions`));
    }
    cell.append(comment, ok, cancel);
    ok.addEventListener("click", () => {
      const payload: Record<string, unknown> = { ...p.payload, comment: comment.value };
      if (p.kind === "alias") payload.alias = alias.value;
      if (p.kind === "promote") payload.archive_existing_versions = archive.checked;
      void act(p.kind, payload);
    });
    cancel.addEventListener("click", () => {
      pending = null;
      draw();
    });
    const row = h("tr", { class: "tb-confirm" }, cell);
    if (!busy) setTimeout(() => (p.kind === "alias" ? alias : comment).focus(), 0);
    return row;
  }

  function ask(p: Omit<Pending, "values">): void {
    pending = { ...p, values: { comment: "", alias: "", archive: false } };
    result.textContent = "";
    setError("");
    draw();
  }

  function versionButtons(v: VersionRow): HTMLElement {
    const cell = h("td", { class: "tb-actions" });
    const add = (label: string, cls: string, disabled: boolean, p: Omit<Pending, "values">) => {
      const b = h("button", { class: cls, text: label, disabled: disabled || busy, title: p.label });
      b.addEventListener("click", () => ask(p));
      cell.append(b);
    };
    const promote = (stage: string, cls: string) =>
      add(`Promote to ${stage}`, cls, v.stage === stage, {
        kind: "promote", version: v.version,
        label: `Promote version ${v.version} to ${stage}?`,
        payload: { version: v.version, stage },
      });
    promote("Staging", "tb-promote-staging");
    promote("Production", "tb-promote-production");
    add("Archive", "tb-archive", v.stage === "Archived", {
      kind: "promote", version: v.version, label: `Archive version ${v.version}?`,
      payload: { version: v.version, stage: "Archived" },
    });
    add("Set alias…", "tb-set-alias", false, {
      kind: "alias", version: v.version, label: `Point alias at version ${v.version}:`,
      payload: { version: v.version },
    });
    return cell;
  }

  function draw(): void {
    if (!state) return;
    const s = state;
    title.replaceChildren(
      h("b", { text: `Registered model ${s.name}` }),
      h("span", { class: "tb-muted", text: `${s.versions.length} versions` }),
      (() => {
        const b = h("button", { class: "tb-refresh", text: "Refresh", disabled: busy });
        b.addEventListener("click", () => void refresh());
        return b;
      })(),
    );
    const head = h("tr", {},
      h("th", { text: "Version" }), h("th", { text: "Stage / aliases" }), h("th", { text: "Source run" }),
      ...s.metrics.map((m) => h("th", { text: m })),
      h("th", { text: "Registered" }), h("th", { text: "Actions" }));
    const ncols = 5 + s.metrics.length;
    const rows: HTMLElement[] = [];
    for (const v of s.versions) {
      const badges = h("td", { class: "tb-badges" },
        h("span", { class: `tb-badge tb-stage tb-stage-${v.stage}`, text: v.stage }),
        ...v.aliases.map((a) => h("span", { class: "tb-badge tb-alias", text: `@${a}` })));
      const run = h("td", { class: "tb-run", title: v.run_id ?? v.source },
        v.run_id ? h("code", { text: v.run_id.slice(0, 8) }) : h("span", { class: "tb-muted", text: v.source }),
        v.run_name ? ` ${v.run_name}` : "");
      rows.push(h("tr", { "data-version": v.version },
        h("td", { class: "tb-num", text: `v${v.version}` }), badges, run,
        ...s.metrics.map((m) => h("td", { class: "tb-num", text: formatNumber(v.metrics[m]) })),
        h("td", { class: "tb-muted", text: formatTime(v.created) }),
        versionButtons(v)));
      if (pending && pending.version === v.version) rows.push(confirmRow(pending, ncols));
    }
    table.replaceChildren(h("thead", {}, head), h("tbody", {}, ...rows));

    rollbackBar.replaceChildren(h("span", { class: "tb-muted", text: "Roll back:" }));
    for (const t of s.rollback_targets) {
      const b = h("button", { class: "tb-rollback-btn", "data-target": t, text: t in s.aliases ? `@${t}` : t, disabled: busy });
      b.addEventListener("click", () => ask({ kind: "rollback", label: `Roll back ${t} to its previous holder?`, payload: { target: t } }));
      rollbackBar.append(b);
    }
    if (!s.rollback_targets.length) rollbackBar.append(h("span", { class: "tb-muted", text: " nothing is held" }));
    rollbackConfirm.replaceChildren();
    if (pending && pending.version === undefined) rollbackConfirm.append(h("tbody", {}, confirmRow(pending, 1)));

    logTitle.textContent = `Promotion log (${s.history_total} entries, latest first)`;
    log.replaceChildren(...s.history.map((e) => h("li", { "data-seq": e.seq, text: logText(e) })));
    if (!s.history.length) log.replaceChildren(h("li", { class: "tb-muted", text: "no promotions yet" }));
  }

  async function send(kind: string, payload: Record<string, unknown> = {}): Promise<StateReply | null> {
    const answer = await channel.request(kind, payload);
    if (!answer || closed) return null;
    return answer[0] as StateReply;
  }

  async function refresh(): Promise<void> {
    const reply = await send("state");
    if (!reply) return;
    if (!reply.ok) return setError(reply.error ?? "error");
    state = reply.state ?? state;
    draw();
  }

  async function act(kind: string, payload: Record<string, unknown>): Promise<void> {
    busy = true;
    draw();
    const reply = await send(kind, payload);
    busy = false;
    if (!reply) return;
    if (reply.ok) {
      pending = null;
      setError("");
      result.textContent = reply.message ?? "done";
      state = reply.state ?? state;
      draw();
    } else {
      setError(reply.error ?? "error"); // keep the confirm row so the user can fix the input
      draw();
    }
    await refresh(); // the store is the source of truth
  }

  let timer: ReturnType<typeof setInterval> | undefined;
  function schedule(): void {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    const secs = Number(model.get("refresh_seconds")) || 0;
    if (secs > 0) timer = setInterval(() => { if (!busy && !pending) void refresh(); }, secs * 1000);
  }
  const onSettings = () => { schedule(); void refresh(); };
  model.on("change:refresh_seconds", schedule);
  model.on("change:metrics", onSettings);
  model.on("change:model_name", onSettings);
  schedule();
  void refresh();

  return () => {
    closed = true;
    if (timer !== undefined) clearInterval(timer);
    model.off("change:refresh_seconds", schedule);
    model.off("change:metrics", onSettings);
    model.off("change:model_name", onSettings);
    channel.close();
  };
}

export default { render };
