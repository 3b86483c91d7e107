// plotly.js-basic-dist-min ships no types; the widgets use a handful of calls.
declare module "plotly.js-basic-dist-min" {
  const Plotly: {
    react(el: HTMLElement, data: unknown[], layout: unknown, config?: unknown): Promise<unknown>;
    purge(el: HTMLElement): void;
    Plots: { resize(el: HTMLElement): void };
  };
  export default Plotly;
}

// The plotly bundle as text (js/build.mjs): evaluated once per page by _plotly_loader.ts.
declare module "plotly-source" {
  const source: string;
  export default source;
}
