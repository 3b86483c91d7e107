// Bundle each widget entry into src/trackbook/static/<widget>.js (ESM, minified).
// Usage: node build.mjs [--watch]. Called by hatch_build.py at install time.
//
// plotly is bundled on its own first and imported by the curves widget as a *string*
// ("plotly-source"): the widget evaluates it once per page and caches the module, where
// importing a bundle with plotly inside would compile plotly again for every widget
// (~0.7 s each in headless chromium on 2 cores).
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";
import fs from "node:fs";

const here = path.dirname(fileURLToPath(import.meta.url));
// One bundle per widget: every js/src/*.ts whose name does not start with "_" (shared code).
export const ENTRIES = fs.readdirSync(path.join(here, "src"))
  .filter((f) => f.endsWith(".ts") && !f.startsWith("_"))
  .map((f) => f.slice(0, -3));

async function plotlySource() {
  const result = await esbuild.build({
    stdin: { contents: 'export { default } from "plotly.js-basic-dist-min";', resolveDir: here },
    bundle: true, format: "esm", minify: true, target: "es2020", write: false,
    legalComments: "none", logLevel: "warning",
  });
  return result.outputFiles[0].text;
}

function plotlySourcePlugin(text) {
  return {
    name: "plotly-source",
    setup(build) {
      build.onResolve({ filter: /^plotly-source$/ }, () => ({ path: "plotly-source", namespace: "plotly-source" }));
      build.onLoad({ filter: /.*/, namespace: "plotly-source" }, () => ({ contents: text, loader: "text" }));
    },
  };
}

const options = {
  entryPoints: ENTRIES.map((name) => path.join(here, "src", `${name}.ts`)),
  outdir: path.join(here, "..", "src", "trackbook", "static"),
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  logLevel: "warning",
  legalComments: "none",
  plugins: [plotlySourcePlugin(await plotlySource())],
};

if (process.argv.includes("--watch")) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log("watching js/src ...");
} else {
  await esbuild.build(options);
}
