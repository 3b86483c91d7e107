// The run table's detail pane: params, latest metrics, tags and artifacts of one run.
// Image artifacts arrive as bytes in the reply's buffers and are shown from blob: URLs
// made here; the page never receives a path or URL into the kernel's file system.
import { Channel, formatDuration, formatNumber, formatTime, h } from "./_common";

/** Mirrors trackbook.widgets._protocol.ArtifactEntry */
interface ArtifactEntry { path: string; size: number; mime?: string; preview?: number; }

/** Mirrors trackbook.widgets._protocol.RunDetail */
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

  constructor(private channel: Channel, private onClose: () => void) {
    this.el = h("div", { class: "tb-detail", hidden: true });
  }

  get current(): string {
    return this.runId;
  }

  async show(runId: string): Promise<void> {
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
    this.draw(msg.run as RunDetail, buffers, "");
  }

  /** Reload the run shown (live refresh); no-op when closed. */
  refresh(): void {
    if (this.runId) void this.show(this.runId);
  }

  private hide(): void {
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
    parts.push(h("h4", { text: `Tags (${run.tags.length})` }), keyValueTable("tb-detail-tags", run.tags));
    this.revoke();
    this.urls = urls;
    this.el.replaceChildren(...parts);
  }

  dispose(): void {
    this.revoke();
  }
}
