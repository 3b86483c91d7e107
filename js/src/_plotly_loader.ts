// plotly, evaluated once per page however many curves widgets are displayed: the bundle
// travels inside each widget's code as a string (no CDN, works offline and in exported
// HTML), and the first widget turns it into a module that the others reuse.
import type PlotlyModule from "plotly.js-basic-dist-min";
import source from "plotly-source";

export type Plotly = typeof PlotlyModule;

// One module per plotly build: the key changes with the bundled text's length and head.
const KEY = `__trackbook_plotly_${source.length}_${source.slice(0, 64).replace(/\W/g, "")}`;

export function loadPlotly(): Promise<Plotly> {
  const g = globalThis as unknown as Record<string, Promise<Plotly> | undefined>;
  let pending = g[KEY];
  if (!pending) {
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    pending = import(/* webpackIgnore: true */ url).then((m) => m.default as Plotly);
    pending.finally(() => URL.revokeObjectURL(url)).catch(() => undefined);
    g[KEY] = pending;
    pending.catch(() => { delete g[KEY]; }); // let a later widget try again
  }
  return pending;
}
