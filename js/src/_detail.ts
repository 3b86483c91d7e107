// The run table's detail pane: params, latest metrics, tags, artifacts and logged models
// of one run; "Register…" on a model asks for a registered-model name, confirms, and
// registers it in the kernel (the same register_model code), showing the version made.
// Image artifacts arrive as bytes in the reply's buffers and are shown from blob: URLs
// made here; the page never receives a path or URL into the kernel's file system.
import { Channel, formatDuration, formatNumber, formatTime, h } from "./_common";

/** Mirrors trackbook.widgets._protocol.ArtifactEntry */
interface ArtifactEntry { path: string; size: number; mime?: string; preview?: number; }

/** Mirrors trackbook.widgets._detail.RegisteredRef */
interface RegisteredRef { name: string; version: number; }

/** Mirrors trackbook.widgets._detail.LoggedModel */
interface LoggedModel { path: string; flavors: string[]; versions: RegisteredRef[]; }

/** Mirrors trackbook.widgets._detail.Registered (the reply of a "register" request) */
interface Registered { name: string; version: number; source: string; run_id: string; }

/** The "Register…" form of one model: asking for the name, then confirming. */
interface RegisterForm { path: string; step: "name" | "confirm"; name: string; error: string; busy: boolean; }

/** Mirrors trackbook.widgets._protocol.RunDetail + _detail.RunDetailWithModels */
interface RunDetail {
  run_id: string;
  run_name: string | null;
  status: string;
  experiment_id: string;
  user_id: string | null;
  start_time: number | null;
  end_time: number | null;
  params: [string, string][];
  metrics: [string, number][];
  tags: [string, string][];
  artifacts: ArtifactEntry[];
  artifacts_truncated: boolean;
  models: LoggedModel[];
  registered_names: string[];
  datasets?: DatasetRow[];
}

/** Mirrors trackbook.widgets._detail.DatasetRow: a dataset the run used (log_input). */
interface DatasetRow {
  name: string;
  digest: string;
  context: string | null;
  source_type: string;
  rows: number | null;
  cols: number | null;
}

export const DETAIL_CSS = `
.tb-runs .tb-body { display: flex; gap: 8px; align-items: flex-start; }
.tb-runs .tb-body > .tb-scroll { flex: 1 1 auto; min-width: 0; }
.tb-runs .tb-detail { flex: 0 0 clamp(240px, 36%, 380px); max-height: 460px; overflow: auto;
  border: 1px solid var(--jp-border-color2, #ddd); padding: 6px 8px; box-sizing: border-box; }
.tb-runs .tb-detail[hidden] { display: none; }
.tb-runs .tb-detail-head { display: flex; align-items: center; gap: 6px; margin-bottom: 4px; }
.tb-runs .tb-detail-title { font-weight: 600; font-size: var(--jp-ui-font-size2, 14px); overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }
.tb-runs .tb-detail-close { margin-left: auto; line-height: 1; }
.tb-runs .tb-detail h4 { margin: 8px 0 2px; font-size: 12px; color: var(--jp-ui-font-color2, #666); }
.tb-runs .tb-detail table { width: 100%; min-width: 0; }
.tb-runs .tb-detail td { height: auto; padding: 1px 4px; max-width: 200px; }
.tb-runs .tb-detail td:first-child { color: var(--jp-ui-font-color2, #666); }
.tb-runs .tb-detail ul { list-style: none; margin: 0; padding: 0; }
.tb-runs .tb-detail li { padding: 1px 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tb-runs .tb-preview { display: block; max-width: 100%; max-height: 220px; margin: 2px 0 6px;
  background: #fff; border: 1px solid var(--jp-border-color2, #ddd); }
.tb-runs tbody tr.tb-detail-open { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: -2px; }
.tb-runs .tb-run-link { cursor: pointer; color: var(--jp-content-link-color, #1976d2); }
.tb-runs .tb-run-link:hover { text-decoration: underline; }
.tb-runs .tb-detail li.tb-model { white-space: normal; padding: 2px 0; }
.tb-runs .tb-detail .tb-model-path { font-family: var(--jp-code-font-family, monospace); }
.tb-runs .tb-detail .tb-registered { background: var(--jp-brand-color1, #1976d2); margin-left: 3px; }
.tb-runs .tb-detail button.tb-register { margin-left: 6px; font-size: 11px; }
.tb-runs .tb-register-form { margin: 3px 0 3px 8px; padding: 4px 6px; background: var(--jp-layout-color2, #f5f5f5); }
.tb-runs .tb-register-form input { width: 12em; margin: 0 4px; }
.tb-runs .tb-register-form button { margin: 2px 2px 0 0; font-size: 11px; }
.tb-runs .tb-register-result { color: var(--jp-success-color1, #388e3c); margin: 2px 0; }
`;

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function keyValueTable(cls: string, rows: [string, string][]): HTMLElement {
  if (!rows.length) return h("div", { class: `${cls} tb-muted`, text: "none" });
  const body = h("tbody");
  for (const [k, v] of rows) {
    body.append(h("tr", { "data-key": k }, h("td", { text: k, title: k }), h("td", { text: v, title: v })));
  }
  return h("table", { class: cls }, body);
}

/** The pane; `show(runId)` loads it, `close()` hides it and tells Python (the `detail` trait). */
export class DetailPane {
  readonly el: HTMLDivElement;
  private runId = "";
  private urls: string[] = [];
  private run: RunDetail | null = null;
  private buffers: DataView[] = [];
  private form: RegisterForm | null = null;
  private notice: { path: string; text: string } | null = null;

  constructor(private channel: Channel, private onClose: () => void) {
    this.el = h("div", { class: "tb-detail", hidden: true });
  }

  get current(): string {
    return this.runId;
  }

  async show(runId: string): Promise<void> {
    if (runId !== this.runId) {
      this.form = null;
      this.notice = null;
    }
    this.runId = runId;
    if (!runId) {
      this.hide();
      return;
    }
    this.el.hidden = false;
    if (!this.el.childElementCount) this.el.append(h("div", { class: "tb-muted", text: "Loading…" }));
    const reply = await this.channel.request("run", { run_id: runId });
    if (reply === null || this.runId !== runId) return; // a newer run was clicked
    const [msg, buffers] = reply;
    if (!msg.ok) {
      this.draw(null, [], msg.error ?? "error");
      return;
    }
    this.run = msg.run as RunDetail;
    this.buffers = buffers;
    this.draw(this.run, buffers, "");
  }

  private redraw(): void {
    if (this.run && this.run.run_id === this.runId) this.draw(this.run, this.buffers, "");
  }

  private openForm(m: LoggedModel): void {
    const known = m.versions.length ? m.versions[m.versions.length - 1].name : "";
    this.form = { path: m.path, step: "name", name: known || m.path, error: "", busy: false };
    this.notice = null;
    this.redraw();
    this.el.querySelector<HTMLInputElement>("input.tb-register-name")?.focus();
  }

  private async register(form: RegisterForm): Promise<void> {
    const runId = this.runId;
    form.busy = true;
    form.error = "";
    this.redraw();
    const reply = await this.channel.request("register", { run_id: runId, path: form.path, name: form.name });
    if (reply === null || this.runId !== runId || this.form !== form) return;
    const [msg] = reply;
    form.busy = false;
    if (!msg.ok) {
      form.step = "name"; // back to the name, to fix it
      form.error = msg.error ?? "error";
      this.redraw();
      return;
    }
    const mv = msg.registered as Registered;
    this.form = null;
    this.notice = { path: form.path, text: `Registered ${form.path} as '${mv.name}' version ${mv.version}` };
    await this.show(runId); // the new version's badge comes from the store
  }

  private modelItem(m: LoggedModel, names: string[]): HTMLElement {
    const li = h("li", { class: "tb-model", "data-path": m.path },
      h("span", { class: "tb-model-path", text: m.path, title: `runs:/${this.runId}/${m.path}` }));
    if (m.flavors.length) li.append(" ", h("span", { class: "tb-muted", text: m.flavors.join(", ") }));
    for (const v of m.versions) {
      li.append(h("span", { class: "tb-badge tb-registered", "data-name": v.name, "data-version": v.version,
        text: `${v.name} v${v.version}` }));
    }
    const form = this.form && this.form.path === m.path ? this.form : null;
    const open = h("button", { class: "tb-register", text: "Register…", disabled: !!form,
      title: "register this model as a new version of a registered model" });
    open.addEventListener("click", () => this.openForm(m));
    li.append(open);
    if (this.notice && this.notice.path === m.path) {
      li.append(h("div", { class: "tb-register-result", role: "status", text: this.notice.text }));
    }
    if (form) li.append(this.formBox(form, names));
    return li;
  }

  private formBox(form: RegisterForm, names: string[]): HTMLElement {
    const box = h("div", { class: "tb-register-form" });
    const cancel = h("button", { class: "tb-register-cancel", text: "Cancel", disabled: form.busy });
    cancel.addEventListener("click", () => {
      this.form = null;
      this.redraw();
    });
    if (form.step === "name") {
      const listId = `tb-register-names-${this.runId}`;
      const input = h("input", { type: "text", class: "tb-register-name", value: form.name, list: listId,
        placeholder: "registered model name", "aria-label": "registered model name" });
      const list = h("datalist", { id: listId }, ...names.map((n) => h("option", { value: n })));
      const next = h("button", { class: "tb-register-next", text: "Next…" });
      const go = () => {
        form.name = input.value.trim();
        if (!form.name) {
          form.error = "enter a registered model name, e.g. churn-model";
        } else {
          form.error = "";
          form.step = "confirm";
        }
        this.redraw();
      };
      input.addEventListener("input", () => { form.name = input.value; });
      input.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
      next.addEventListener("click", go);
      box.append(h("label", { text: "Name" }), input, list, h("br"), next, cancel);
    } else {
      const exists = this.run?.registered_names.includes(form.name) ?? false;
      const what = exists ? `a new version of '${form.name}'` : `version 1 of a new registered model '${form.name}'`;
      const ok = h("button", { class: "tb-register-confirm", text: form.busy ? "Registering…" : "Confirm", disabled: form.busy });
      ok.addEventListener("click", () => void this.register(form));
      box.append(h("div", { class: "tb-register-question", text: `Register runs:/${this.runId.slice(0, 8)}…/${form.path} as ${what}?` }),
        ok, cancel);
    }
    if (form.error) box.append(h("div", { class: "tb-error tb-register-error", role: "alert", text: form.error }));
    return box;
  }

  /** Reload the run shown (live refresh); no-op when closed or while a "Register…" form
   * is open (a redraw would drop what the user is typing). */
  refresh(): void {
    if (this.runId && !this.form) void this.show(this.runId);
  }

  private hide(): void {
    this.run = null;
    this.buffers = [];
    this.form = null;
    this.notice = null;
    this.el.hidden = true;
    this.revoke();
    this.el.replaceChildren();
  }

  private revoke(): void {
    for (const u of this.urls) URL.revokeObjectURL(u);
    this.urls = [];
  }

  private draw(run: RunDetail | null, buffers: DataView[], error: string): void {
    const close = h("button", { class: "tb-detail-close", title: "close", text: "×" });
    close.addEventListener("click", () => {
      this.runId = "";
      this.hide();
      this.onClose();
    });
    const head = h("div", { class: "tb-detail-head" });
    const parts: HTMLElement[] = [head];
    if (!run) {
      head.append(h("span", { class: "tb-detail-title", text: this.runId.slice(0, 8) }), close);
      parts.push(h("div", { class: "tb-error", text: error }));
      this.revoke();
      this.el.replaceChildren(...parts);
      return;
    }
    head.append(
      h("span", { class: "tb-detail-title", text: run.run_name || run.run_id.slice(0, 8), title: run.run_name ?? "" }),
      h("span", { class: `tb-badge ${run.status}`, text: run.status }), close);
    const ran = run.start_time !== null
      ? `${formatTime(run.start_time)}${run.end_time !== null ? ` · ${formatDuration(run.end_time - run.start_time)}` : ""}`
      : "";
    parts.push(h("div", { class: "tb-muted tb-detail-meta", title: run.run_id, text: `${run.run_id} · ${ran}` }));
    parts.push(h("h4", { text: `Params (${run.params.length})` }), keyValueTable("tb-detail-params", run.params));
    parts.push(h("h4", { text: `Metrics (${run.metrics.length})` }),
      keyValueTable("tb-detail-metrics", run.metrics.map(([k, v]) => [k, formatNumber(v)])));
    const datasets = run.datasets ?? [];
    if (datasets.length) {
      const items = datasets.map((d) => {
        const shape = d.rows !== null ? ` · ${d.rows.toLocaleString()}${d.cols !== null ? ` × ${d.cols}` : ""}` : "";
        return h("li", { "data-digest": d.digest, title: `${d.name} (${d.source_type}, digest ${d.digest})` },
          `${d.name} `, h("span", { class: "tb-muted", text: `${d.digest}${d.context ? ` · ${d.context}` : ""}${shape}` }));
      });
      parts.push(h("h4", { text: `Datasets (${datasets.length})` }), h("ul", { class: "tb-detail-datasets" }, ...items));
    }
    const list = h("ul", { class: "tb-detail-artifacts" });
    const urls: string[] = [];
    for (const a of run.artifacts) {
      const li = h("li", { "data-path": a.path, title: a.path }, `${a.path} `, h("span", { class: "tb-muted", text: formatBytes(a.size) }));
      const buf = a.preview !== undefined ? buffers[a.preview] : undefined;
      if (buf && a.mime) {
        const bytes = new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength);
        const url = URL.createObjectURL(new Blob([bytes], { type: a.mime }));
        urls.push(url);
        li.append(h("img", { class: "tb-preview", src: url, alt: a.path, "data-path": a.path }));
      }
      list.append(li);
    }
    if (!run.artifacts.length) list.append(h("li", { class: "tb-muted", text: "none" }));
    if (run.artifacts_truncated) list.append(h("li", { class: "tb-muted", text: "… more files not listed" }));
    parts.push(h("h4", { text: `Artifacts (${run.artifacts.length}${run.artifacts_truncated ? "+" : ""})` }), list);
    if (run.models.length) {
      const models = h("ul", { class: "tb-detail-models" }, ...run.models.map((m) => this.modelItem(m, run.registered_names)));
      parts.push(h("h4", { text: `Models (${run.models.length})` }), models);
    }
    parts.push(h("h4", { text: `Tags (${run.tags.length})` }), keyValueTable("tb-detail-tags", run.tags));
    this.revoke();
    this.urls = urls;
    this.el.replaceChildren(...parts);
  }

  dispose(): void {
    this.revoke();
  }
}
