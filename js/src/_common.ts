// Shared by every trackbook widget: the anywidget surface we use, uuid-keyed
// request/response over custom messages, Arrow decoding and human formatting.
import { tableFromIPC } from "@uwdata/flechette";

/** The part of anywidget's model API the widgets use. */
export interface Model {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[]): void;
  on(event: string, cb: (...args: any[]) => void): void;
  off(event: string, cb: (...args: any[]) => void): void;
}

export interface RenderProps {
  model: Model;
  el: HTMLElement;
}

/** Every reply from Python carries the id of the request it answers. */
export interface Reply {
  type: "reply";
  id: string;
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

/** A row decoded from an Arrow IPC buffer. */
export type Row = Record<string, unknown>;

let counter = 0;

function newId(): string {
  counter += 1;
  const rand = Math.random().toString(36).slice(2, 10);
  return `${Date.now().toString(36)}-${counter}-${rand}`;
}

/** Request/response over custom messages; a later request of the same kind wins. */
export class Channel {
  private pending = new Map<string, { resolve: (r: [Reply, DataView[]]) => void; kind: string }>();
  private latest = new Map<string, string>();
  private readonly onMsg: (msg: any, buffers: DataView[]) => void;

  constructor(private model: Model) {
    this.onMsg = (msg, buffers) => {
      if (!msg || msg.type !== "reply") return;
      const entry = this.pending.get(msg.id);
      if (!entry) return;
      this.pending.delete(msg.id);
      entry.resolve([msg as Reply, buffers ?? []]);
    };
    model.on("msg:custom", this.onMsg);
  }

  /**
   * Send `{type: kind, id, ...payload}`; resolve with the reply, or with null when a newer
   * request of the same kind was sent in between (its answer is stale).
   */
  async request(kind: string, payload: Record<string, unknown> = {}): Promise<[Reply, DataView[]] | null> {
    const id = newId();
    this.latest.set(kind, id);
    const answer = new Promise<[Reply, DataView[]]>((resolve) => {
      this.pending.set(id, { resolve, kind });
    });
    this.model.send({ type: kind, id, ...payload });
    const result = await answer;
    return this.latest.get(kind) === id ? result : null;
  }

  close(): void {
    this.model.off("msg:custom", this.onMsg);
    this.pending.clear();
  }
}

/** Decode an Arrow IPC stream into plain row objects. */
export function decodeRows(buffer: DataView | undefined): { rows: Row[]; columns: string[] } {
  if (!buffer) return { rows: [], columns: [] };
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const table = tableFromIPC(bytes);
  const columns = table.schema.fields.map((f) => f.name);
  return { rows: table.toArray() as Row[], columns };
}

/** Decode an Arrow IPC stream into named columns (arrays), for plotting. */
export function decodeColumns(buffer: DataView | undefined): Record<string, ArrayLike<unknown>> {
  if (!buffer) return {};
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const table = tableFromIPC(bytes);
  const out: Record<string, ArrayLike<unknown>> = {};
  for (const f of table.schema.fields) out[f.name] = table.getChild(f.name)!.toArray();
  return out;
}

/** `el("div", {class: "x"}, child...)` */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | number | undefined> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === "text") node.textContent = String(v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const wrapped = (...args: A) => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      fn(...args);
    }, ms);
  };
  wrapped.cancel = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  return wrapped;
}

const numberFmt = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });

/** Metric values: 4 significant digits, exponent form for very large or small magnitudes. */
export function formatNumber(v: unknown): string {
  if (v === null || v === undefined) return "";
  const n = typeof v === "bigint" ? Number(v) : (v as number);
  if (typeof n !== "number") return String(v);
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "∞" : "-∞";
  const a = Math.abs(n);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return n.toExponential(2);
  return numberFmt.format(n);
}

/** Milliseconds since the epoch -> "14:03:12" today, "Mar 4 14:03" otherwise. */
export function formatTime(ms: unknown): string {
  if (ms === null || ms === undefined) return "";
  const d = new Date(Number(ms));
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  if (sameDay) return d.toLocaleTimeString(undefined, { hour12: false });
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
}

/** A duration in ms -> "850ms", "42s", "3m 05s", "2h 10m", "3d 4h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 24) return `${hrs}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

/** Theme-following base styles shared by the widgets (JupyterLab `--jp-*` variables). */
export const BASE_CSS = `
.tb-widget {
  font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #222);
  background: var(--jp-layout-color1, #fff);
}
.tb-widget button, .tb-widget input, .tb-widget select {
  font: inherit;
  color: var(--jp-ui-font-color1, #222);
  background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color1, #bbb);
  border-radius: 3px;
  padding: 2px 6px;
}
.tb-widget button:hover:not(:disabled) { background: var(--jp-layout-color2, #eee); }
.tb-widget button:disabled { opacity: 0.5; }
.tb-toolbar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-bottom: 4px; }
.tb-error {
  color: var(--jp-error-color1, #c62828);
  background: var(--jp-error-color3, #fdecea);
  border-left: 3px solid var(--jp-error-color1, #c62828);
  padding: 3px 8px; margin: 4px 0; white-space: pre-wrap;
  font-family: var(--jp-code-font-family, monospace); font-size: 12px;
}
.tb-error:empty { display: none; }
.tb-muted { color: var(--jp-ui-font-color2, #666); }
`;

export function injectStyle(el: HTMLElement, css: string): void {
  el.append(h("style", { text: BASE_CSS + css }));
}

/**
 * Live refresh: ask the kernel for the store's version every `refresh_seconds` (0 = off)
 * and await `onChange()` when it moved since the previous answer. Call `start()` once the
 * first data is drawn, `stop()` when the view is disposed.
 */
export function watchStore(model: Model, channel: Channel, onChange: () => Promise<unknown>) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let version: string | null = null;
  const poll = async () => {
    const seconds = model.get("refresh_seconds") as number;
    if (stopped || !seconds) return;
    const reply = await channel.request("version");
    if (reply && !stopped && reply[0].ok) {
      const v = reply[0].version as string;
      if (version !== null && v !== version) await onChange();
      version = v;
    }
    if (!stopped) timer = setTimeout(poll, seconds * 1000);
  };
  return {
    start() {
      if (!stopped) timer = setTimeout(poll, 0);
    },
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
