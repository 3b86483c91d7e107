// Learning curves: one plotly chart per metric, one line per run. Points arrive
// down-sampled (min/max per bucket) as Arrow IPC; smoothing and log scale are local.
import Plotly from "plotly.js-basic-dist-min";
import { Channel, decodeColumns, h, injectStyle, RenderProps } from "./_common";

/** Mirrors trackbook.widgets._curves_query.run_labels */
interface RunLabel { run_id: string; name: string; params: Record<string, string>; }

interface Series { x: number[]; y: number[]; }

const CSS = `
.tb-curves .tb-plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 8px; }
.tb-curves .tb-curve { height: 320px; min-width: 0; }
.tb-curves .tb-smoothing { width: 110px; vertical-align: middle; }
.tb-curves .tb-empty { padding: 12px; }
`;

// A colour per run, stable across the metric charts.
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];

/** TensorBoard's debiased exponential moving average. */
export function smooth(y: number[], weight: number): number[] {
  if (weight <= 0) return y;
  const out = new Array<number>(y.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!Number.isFinite(v)) { out[i] = v; continue; }
    last = last * weight + (1 - weight) * v;
    n += 1;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

function cssVar(el: HTMLElement, name: string, fallback: string): string {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

function render({ model, el }: RenderProps): () => void {
  const channel = new Channel(model);
  let disposed = false;
  let labels: RunLabel[] = [];
  let series = new Map<string, Map<string, Series>>(); // metric -> run id -> points
  let version: string | null = null;
  const charts = new Map<string, HTMLDivElement>();

  const root = h("div", { class: "tb-widget tb-curves" });
  injectStyle(root, CSS);
  const xSelect = h("select", { class: "tb-x" },
    h("option", { value: "step", text: "step" }),
    h("option", { value: "time", text: "wall time" }),
    h("option", { value: "relative", text: "relative time (s)" }));
  xSelect.value = model.get("x_axis");
  const smoothInput = h("input", { class: "tb-smoothing", type: "range", min: "0", max: "0.99", step: "0.01" });
  smoothInput.value = String(model.get("smoothing"));
  const smoothLabel = h("span", { class: "tb-muted" });
  const logBox = h("input", { type: "checkbox", class: "tb-log" });
  logBox.checked = !!model.get("log_y");
  const info = h("span", { class: "tb-info tb-muted" });
  const toolbar = h("div", { class: "tb-toolbar" },
    h("label", {}, "x ", xSelect),
    h("label", {}, "smoothing ", smoothInput, " ", smoothLabel),
    h("label", {}, logBox, " log y"), info);
  const errorBox = h("div", { class: "tb-error" });
  const plots = h("div", { class: "tb-plots" });
  root.append(toolbar, errorBox, plots);
  el.append(root);

  function setError(message: string): void {
    errorBox.textContent = message;
  }

  async function load(): Promise<void> {
    const reply = await channel.request("data", { x_axis: model.get("x_axis") });
    if (reply === null || disposed) return;
    const [msg, buffers] = reply;
    if (!msg.ok) { setError(msg.error ?? "error"); return; }
    setError("");
    labels = msg.runs as RunLabel[];
    const cols = decodeColumns(buffers[0]);
    const next = new Map<string, Map<string, Series>>();
    const runIds = (cols.run_id ?? []) as ArrayLike<string>;
    const keys = (cols.key ?? []) as ArrayLike<string>;
    const xs = (cols.x ?? []) as ArrayLike<number>;
    const ys = (cols.value ?? []) as ArrayLike<number>;
    for (let i = 0; i < runIds.length; i++) {
      let byRun = next.get(keys[i]);
      if (!byRun) next.set(keys[i], (byRun = new Map()));
      let s = byRun.get(runIds[i]);
      if (!s) byRun.set(runIds[i], (s = { x: [], y: [] }));
      s.x.push(xs[i]);
      s.y.push(ys[i]);
    }
    series = next;
    info.textContent = `${labels.length} run${labels.length === 1 ? "" : "s"} · ${(msg.points as number).toLocaleString()} points`;
    draw();
  }

  function draw(): void {
    const metrics: string[] = model.get("metrics") ?? [];
    const weight = model.get("smoothing") as number;
    smoothLabel.textContent = weight ? weight.toFixed(2) : "off";
    const xAxis = model.get("x_axis") as string;
    const font = cssVar(el, "--jp-ui-font-color1", "#222");
    const grid = cssVar(el, "--jp-border-color2", "#e0e0e0");
    for (const [metric, div] of charts) {
      if (!metrics.includes(metric)) { Plotly.purge(div); div.remove(); charts.delete(metric); }
    }
    if (!labels.length) {
      plots.replaceChildren(h("div", { class: "tb-empty tb-muted", text: "No runs to draw: tick runs in the table." }));
      charts.clear();
      return;
    }
    plots.querySelector(".tb-empty")?.remove();
    for (const metric of metrics) {
      let div = charts.get(metric);
      if (!div) {
        div = h("div", { class: "tb-curve", "data-metric": metric });
        charts.set(metric, div);
      }
      plots.append(div); // keeps the metrics' order
      const byRun = series.get(metric) ?? new Map<string, Series>();
      const traces: unknown[] = [];
      labels.forEach((run, i) => {
        const s = byRun.get(run.run_id);
        if (!s) return;
        const color = PALETTE[i % PALETTE.length];
        const hoverParams = Object.entries(run.params).map(([k, v]) => `${k}=${v}`).join("<br>");
        const hover = `<b>${run.name}</b><br>${xAxis} %{x}<br>${metric} %{y:.4g}` +
          (hoverParams ? `<br>${hoverParams}` : "") + "<extra></extra>";
        if (weight > 0) {
          traces.push({ type: "scatter", mode: "lines", x: s.x, y: s.y, line: { color, width: 1 },
            opacity: 0.25, hoverinfo: "skip", showlegend: false, legendgroup: run.run_id });
        }
        traces.push({
          type: "scatter", mode: "lines", name: run.name, x: s.x, y: smooth(s.y, weight),
          line: { color, width: 1.5 }, legendgroup: run.run_id, hovertemplate: hover,
          meta: run.run_id,
        });
      });
      const layout = {
        title: { text: metric, font: { size: 13 } },
        margin: { l: 50, r: 10, t: 32, b: 36 },
        paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
        font: { color: font, size: 11 },
        xaxis: { type: xAxis === "time" ? "date" : "linear", gridcolor: grid, zeroline: false,
          title: { text: xAxis === "relative" ? "seconds" : xAxis } },
        yaxis: { type: model.get("log_y") ? "log" : "linear", gridcolor: grid, zeroline: false,
          tickformat: "~g" },
        showlegend: true, legend: { orientation: "h", y: -0.18 },
        uirevision: `${metric}-${xAxis}`, // keep zoom across live updates
      };
      void Plotly.react(div, traces, layout, { responsive: true, displaylogo: false });
    }
  }

  xSelect.addEventListener("change", () => { model.set("x_axis", xSelect.value); model.save_changes(); });
  smoothInput.addEventListener("input", () => {
    model.set("smoothing", Number(smoothInput.value));
    model.save_changes();
    draw();
  });
  logBox.addEventListener("change", () => { model.set("log_y", logBox.checked); model.save_changes(); draw(); });

  const reload = () => void load();
  const redraw = () => {
    smoothInput.value = String(model.get("smoothing"));
    logBox.checked = !!model.get("log_y");
    draw();
  };
  const onX = () => { xSelect.value = model.get("x_axis"); void load(); };
  for (const t of ["runs", "metrics", "resolution", "max_points"]) model.on(`change:${t}`, reload);
  model.on("change:x_axis", onX);
  model.on("change:smoothing", redraw);
  model.on("change:log_y", redraw);

  let timer: ReturnType<typeof setTimeout> | undefined;
  const poll = async () => {
    const seconds = model.get("refresh_seconds") as number;
    if (disposed || !seconds) return;
    const reply = await channel.request("version");
    if (reply && !disposed && reply[0].ok) {
      const v = reply[0].version as string;
      if (version !== null && v !== version) await load();
      version = v;
    }
    if (!disposed) timer = setTimeout(poll, seconds * 1000);
  };
  void load().then(() => { if (!disposed) timer = setTimeout(poll, 0); });

  const resize = new ResizeObserver(() => { for (const div of charts.values()) if (div.isConnected && div.offsetWidth) Plotly.Plots.resize(div); });
  resize.observe(plots);

  return () => {
    disposed = true;
    if (timer !== undefined) clearTimeout(timer);
    resize.disconnect();
    channel.close();
    for (const div of charts.values()) Plotly.purge(div);
    for (const t of ["runs", "metrics", "resolution", "max_points"]) model.off(`change:${t}`, reload);
    model.off("change:x_axis", onX);
    model.off("change:smoothing", redraw);
    model.off("change:log_y", redraw);
  };
}

export default { render };
