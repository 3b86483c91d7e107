// Learning curves: one plotly chart per metric, one line per run. Points arrive
// down-sampled (min/max per bucket) as Arrow IPC; smoothing and log scale are local.
import { Channel, decodeColumns, h, injectStyle, RenderProps, watchStore } from "./_common";
import { loadPlotly, Plotly } from "./_plotly_loader";

/** Mirrors trackbook.widgets._curves_query.run_labels */
interface RunLabel { run_id: string; name: string; params: Record<string, string>; }

interface Series { x: Float64Array; y: Float32Array; }

/** Mirrors trackbook.widgets._curves_query.wire_format: the next `n` points are this series'. */
interface WireSeries { run_id: string; key: string; n: number; }

/** Above this many runs the legend is left out (hover names the run): 100 legend
 * entries cost plotly more than the lines. */
const MAX_LEGEND_RUNS = 20;

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
export function smooth(y: ArrayLike<number>, weight: number): ArrayLike<number> {
  if (weight <= 0) return y;
  const out = new Float64Array(y.length);
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
  const charts = new Map<string, HTMLDivElement>();
  let plotly: Plotly | null = null; // set once loaded (once per page, shared by widgets)
  // Load plotly while the kernel prepares the points (draw() reports a failure).
  loadPlotly().then((p) => { plotly = p; }, () => undefined);

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
    // Series arrive grouped: msg.series says whose the next `n` points are; x is sent
    // as float32 offsets from x0 (so wall-clock ms keep their precision).
    const cols = decodeColumns(buffers[0]);
    const xs = (cols.x ?? new Float32Array()) as Float32Array;
    const ys = (cols.value ?? new Float32Array()) as Float32Array;
    const x0 = msg.x0 as number;
    const next = new Map<string, Map<string, Series>>();
    let at = 0;
    for (const s of msg.series as WireSeries[]) {
      const x = new Float64Array(s.n);
      for (let i = 0; i < s.n; i++) x[i] = xs[at + i] + x0;
      let byRun = next.get(s.key);
      if (!byRun) next.set(s.key, (byRun = new Map()));
      byRun.set(s.run_id, { x, y: ys.subarray(at, at + s.n) });
      at += s.n;
    }
    series = next;
    info.textContent = `${labels.length} run${labels.length === 1 ? "" : "s"} · ${(msg.points as number).toLocaleString()} points`;
    // for tests and benchmarks: data replies decoded, and the kernel's time on the last one
    root.dataset.loaded = String(Number(root.dataset.loaded ?? 0) + 1);
    root.dataset.kernelMs = String(msg.ms);
    await draw();
  }

  async function draw(): Promise<void> {
    let Plotly: Plotly;
    try {
      Plotly = plotly ?? (plotly = await loadPlotly());
    } catch (err) {
      setError(`could not load plotly: ${err}`);
      return;
    }
    if (disposed) return;
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
    const drawing: Promise<unknown>[] = [];
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
        showlegend: labels.length <= MAX_LEGEND_RUNS, legend: { orientation: "h", y: -0.18 },
        uirevision: `${metric}-${xAxis}`, // keep zoom across live updates
      };
      drawing.push(Plotly.react(div, traces, layout, { responsive: true, displaylogo: false }));
    }
    await Promise.all(drawing);
    root.dataset.drawn = String(Number(root.dataset.drawn ?? 0) + 1); // tests, benchmarks
  }

  xSelect.addEventListener("change", () => { model.set("x_axis", xSelect.value); model.save_changes(); });
  smoothInput.addEventListener("input", () => {
    model.set("smoothing", Number(smoothInput.value)); // the change handler redraws
    model.save_changes();
  });
  logBox.addEventListener("change", () => { model.set("log_y", logBox.checked); model.save_changes(); });

  const reload = () => void load();
  const redraw = () => {
    smoothInput.value = String(model.get("smoothing"));
    logBox.checked = !!model.get("log_y");
    void draw();
  };
  const onX = () => { xSelect.value = model.get("x_axis"); void load(); };
  for (const t of ["runs", "metrics", "resolution", "max_points"]) model.on(`change:${t}`, reload);
  model.on("change:x_axis", onX);
  model.on("change:smoothing", redraw);
  model.on("change:log_y", redraw);

  const watch = watchStore(model, channel, load);
  void load().then(() => watch.start());

  const resize = new ResizeObserver(() => {
    for (const div of charts.values()) if (plotly && div.isConnected && div.offsetWidth) plotly.Plots.resize(div);
  });
  resize.observe(plots);

  return () => {
    disposed = true;
    watch.stop();
    resize.disconnect();
    channel.close();
    for (const div of charts.values()) plotly?.purge(div);
    for (const t of ["runs", "metrics", "resolution", "max_points"]) model.off(`change:${t}`, reload);
    model.off("change:x_axis", onX);
    model.off("change:smoothing", redraw);
    model.off("change:log_y", redraw);
  };
}

export default { render };
