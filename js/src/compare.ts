// Compare runs: parallel coordinates over params + a metric, and a param-vs-metric
// scatter, drawn as plain SVG (no plotly here). Clicking a line or a point toggles the
// run in the shared selection (the table's).
import { Channel, decodeRows, formatNumber, h, injectStyle, RenderProps, Row, watchStore } from "./_common";

const ID_COL = "__run_id";
const NAME_COL = "attributes.run_name";
const SVG = "http://www.w3.org/2000/svg";

const CSS = `
.tb-compare .tb-panels { display: flex; flex-wrap: wrap; gap: 12px; }
.tb-compare svg { background: var(--jp-layout-color1, #fff); overflow: visible; }
.tb-compare .tb-axis line, .tb-compare .tb-axis path { stroke: var(--jp-ui-font-color2, #777); }
.tb-compare text { fill: var(--jp-ui-font-color1, #222); font-size: 10px; }
.tb-compare .tb-axis-title { font-weight: 600; font-size: 11px; }
.tb-compare .tb-line { fill: none; stroke-width: 1.5; opacity: 0.75; cursor: pointer; }
.tb-compare .tb-line:hover { stroke-width: 3; opacity: 1; }
.tb-compare .tb-dim .tb-line:not(.tb-on), .tb-compare .tb-dim .tb-point:not(.tb-on) { opacity: 0.15; }
.tb-compare .tb-line.tb-on { stroke-width: 3; opacity: 1; }
.tb-compare .tb-point { cursor: pointer; stroke: var(--jp-layout-color1, #fff); stroke-width: 1; }
.tb-compare .tb-point.tb-on { stroke: var(--jp-ui-font-color0, #000); stroke-width: 2; }
`;

/** One axis: a column mapped to [0, 1] (numbers, log numbers or categories). */
interface Axis {
  column: string;
  pos(v: unknown): number | null;
  ticks: { at: number; label: string }[];
}

function makeAxis(column: string, rows: Row[]): Axis {
  const raw = rows.map((r) => r[column]).filter((v) => v !== null && v !== undefined);
  const nums = raw.map((v) => (typeof v === "number" ? v : Number(v)));
  if (raw.length && nums.every((n) => Number.isFinite(n))) {
    const lo = Math.min(...nums);
    const hi = Math.max(...nums);
    const log = lo > 0 && hi / lo >= 100;
    const f = (n: number) => (log ? Math.log10(n) : n);
    const [a, b] = [f(lo), f(hi)];
    const span = b - a || 1;
    const pos = (v: unknown) => {
      if (v === null || v === undefined) return null;
      const n = Number(v);
      return Number.isFinite(n) && (!log || n > 0) ? (f(n) - a) / span : null;
    };
    const ticks = log
      ? Array.from({ length: Math.floor(b) - Math.ceil(a) + 1 }, (_, i) => Math.ceil(a) + i)
        .map((p) => ({ at: (p - a) / span, label: formatNumber(Math.pow(10, p)) }))
      : [0, 0.25, 0.5, 0.75, 1].map((t) => ({ at: t, label: formatNumber(a + t * span) }));
    return { column, pos, ticks: lo === hi ? [{ at: 0, label: formatNumber(lo) }] : ticks };
  }
  const cats = [...new Set(raw.map(String))].sort();
  const at = (i: number) => (cats.length > 1 ? i / (cats.length - 1) : 0.5);
  const index = new Map(cats.map((c, i) => [c, at(i)]));
  return {
    column,
    pos: (v) => (v === null || v === undefined ? null : index.get(String(v)) ?? null),
    ticks: cats.map((c, i) => ({ at: at(i), label: c.length > 14 ? c.slice(0, 13) + "…" : c })),
  };
}

/** Blue (low) -> orange (high), readable on light and dark themes. */
function colour(t: number | null): string {
  if (t === null) return "#999";
  const lerp = (a: number, b: number) => Math.round(a + (b - a) * t);
  return `rgb(${lerp(49, 240)},${lerp(130, 120)},${lerp(189, 40)})`;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function label(col: string): string {
  return col.slice(col.indexOf(".") + 1);
}

function render({ model, el }: RenderProps): () => void {
  const channel = new Channel(model);
  let disposed = false;
  let rows: Row[] = [];

  const root = h("div", { class: "tb-widget tb-compare" });
  injectStyle(root, CSS);
  const xSelect = h("select", { class: "tb-x" });
  const info = h("span", { class: "tb-info tb-muted" });
  const toolbar = h("div", { class: "tb-toolbar" }, h("label", {}, "scatter x ", xSelect), info);
  const errorBox = h("div", { class: "tb-error" });
  const parallel = svg("svg", { class: "tb-parallel" });
  const scatter = svg("svg", { class: "tb-scatter" });
  root.append(toolbar, errorBox, h("div", { class: "tb-panels" }, parallel as unknown as Node, scatter as unknown as Node));
  el.append(root);

  const toggle = (id: string) => {
    const sel = new Set<string>(model.get("selected") ?? []);
    sel.has(id) ? sel.delete(id) : sel.add(id);
    model.set("selected", [...sel]); // the change handler redraws
    model.save_changes();
  };

  function title(row: Row, cols: string[]): SVGTitleElement {
    const t = svg("title");
    t.textContent = [String(row[NAME_COL] ?? row[ID_COL]), ...cols.map((c) => `${label(c)}: ${
      typeof row[c] === "number" ? formatNumber(row[c]) : row[c] ?? ""}`)].join("\n");
    return t;
  }

  function draw(): void {
    const params: string[] = model.get("params") ?? [];
    const metric: string = model.get("metric");
    const axes = [...params, metric].filter(Boolean).map((c) => makeAxis(c, rows));
    const colourAxis = metric ? makeAxis(metric, rows) : null;
    const selected = new Set<string>(model.get("selected") ?? []);
    const dim = selected.size > 0;

    // parallel coordinates
    const W = Math.max(360, 120 * axes.length), H = 260, top = 24, bottom = 30, left = 40;
    const step = axes.length > 1 ? (W - 2 * left) / (axes.length - 1) : 0;
    parallel.setAttribute("width", String(W));
    parallel.setAttribute("height", String(H));
    parallel.replaceChildren();
    parallel.classList.toggle("tb-dim", dim);
    const y = (t: number) => top + (1 - t) * (H - top - bottom);
    axes.forEach((axis, i) => {
      const g = svg("g", { class: "tb-axis", "data-col": axis.column });
      const x = left + i * step;
      g.append(svg("line", { x1: x, x2: x, y1: y(0), y2: y(1) }));
      for (const t of axis.ticks) {
        g.append(svg("line", { x1: x - 3, x2: x, y1: y(t.at), y2: y(t.at) }));
        const text = svg("text", { x: x - 5, y: y(t.at) + 3, "text-anchor": "end" });
        text.textContent = t.label;
        g.append(text);
      }
      const name = svg("text", { x, y: top - 10, "text-anchor": "middle", class: "tb-axis-title" });
      name.textContent = label(axis.column);
      g.append(name);
      parallel.append(g);
    });
    for (const row of rows) {
      const id = String(row[ID_COL]);
      const pts = axes.map((a, i) => [left + i * step, a.pos(row[a.column])] as const)
        .filter(([, t]) => t !== null).map(([x, t]) => `${x},${y(t as number)}`);
      if (pts.length < 1) continue;
      const line = svg("polyline", { class: "tb-line", points: pts.join(" "), "data-run-id": id,
        stroke: colour(colourAxis ? colourAxis.pos(row[metric]) : null) });
      if (selected.has(id)) line.classList.add("tb-on");
      line.append(title(row, axes.map((a) => a.column)));
      line.addEventListener("click", () => toggle(id));
      parallel.append(line);
    }

    // scatter: x vs metric
    const xCol = model.get("x") || params[0] || "";
    xSelect.replaceChildren(...params.map((p) => h("option", { value: p, text: label(p) })));
    xSelect.value = xCol;
    const SW = 360, SH = 260, sl = 50, sb = 34, st = 14, sr = 14;
    scatter.setAttribute("width", String(SW));
    scatter.setAttribute("height", String(SH));
    scatter.replaceChildren();
    scatter.classList.toggle("tb-dim", dim);
    if (!xCol || !metric) return;
    const ax = makeAxis(xCol, rows), ay = makeAxis(metric, rows);
    const sx = (t: number) => sl + t * (SW - sl - sr);
    const sy = (t: number) => st + (1 - t) * (SH - st - sb);
    const g = svg("g", { class: "tb-axis" });
    g.append(svg("line", { x1: sl, x2: SW - sr, y1: sy(0), y2: sy(0) }), svg("line", { x1: sl, x2: sl, y1: sy(0), y2: sy(1) }));
    for (const t of ax.ticks) {
      const text = svg("text", { x: sx(t.at), y: sy(0) + 12, "text-anchor": "middle" });
      text.textContent = t.label;
      g.append(text);
    }
    for (const t of ay.ticks) {
      const text = svg("text", { x: sl - 4, y: sy(t.at) + 3, "text-anchor": "end" });
      text.textContent = t.label;
      g.append(text);
    }
    const xt = svg("text", { x: (sl + SW - sr) / 2, y: SH - 4, "text-anchor": "middle", class: "tb-axis-title" });
    xt.textContent = label(xCol);
    const yt = svg("text", { x: 10, y: st + 6, class: "tb-axis-title" });
    yt.textContent = label(metric);
    g.append(xt, yt);
    scatter.append(g);
    for (const row of rows) {
      const id = String(row[ID_COL]);
      const tx = ax.pos(row[xCol]), ty = ay.pos(row[metric]);
      if (tx === null || ty === null) continue;
      const dot = svg("circle", { class: "tb-point", cx: sx(tx), cy: sy(ty), r: 5, "data-run-id": id, fill: colour(ty) });
      if (selected.has(id)) dot.classList.add("tb-on");
      dot.append(title(row, [xCol, metric]));
      dot.addEventListener("click", () => toggle(id));
      scatter.append(dot);
    }
  }

  async function load(): Promise<void> {
    const reply = await channel.request("data");
    if (reply === null || disposed) return;
    const [msg, buffers] = reply;
    if (!msg.ok) { errorBox.textContent = msg.error ?? "error"; return; }
    errorBox.textContent = "";
    rows = decodeRows(buffers[0]).rows;
    const total = msg.total as number;
    info.textContent = rows.length < total ? `first ${rows.length} of ${total} runs` : `${total} runs`;
    draw();
  }

  // change:x reloads (Backbone fires change events on local sets too)
  xSelect.addEventListener("change", () => { model.set("x", xSelect.value); model.save_changes(); });
  const onRefresh = (msg: any) => { if (msg?.type === "refresh") void load(); };
  const reload = () => void load();
  const redraw = () => draw();
  model.on("msg:custom", onRefresh);
  for (const t of ["params", "metric", "max_runs"]) model.on(`change:${t}`, reload);
  model.on("change:selected", redraw);
  model.on("change:x", reload);

  const watch = watchStore(model, channel, load);
  void load().then(() => watch.start());

  return () => {
    disposed = true;
    watch.stop();
    channel.close();
    model.off("msg:custom", onRefresh);
    for (const t of ["params", "metric", "max_runs"]) model.off(`change:${t}`, reload);
    model.off("change:selected", redraw);
    model.off("change:x", reload);
  };
}

export default { render };
