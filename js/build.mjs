// Bundle each widget entry into src/trackbook/static/<widget>.js (ESM, minified).
// Usage: node build.mjs [--watch]. Called by hatch_build.py at install time.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";
import fs from "node:fs";

const here = path.dirname(fileURLToPath(import.meta.url));
// One bundle per widget: every js/src/*.ts whose name does not start with "_" (shared code).
export const ENTRIES = fs.readdirSync(path.join(here, "src"))
  .filter((f) => f.endsWith(".ts") && !f.startsWith("_"))
  .map((f) => f.slice(0, -3));

const options = {
  entryPoints: ENTRIES.map((name) => path.join(here, "src", `${name}.ts`)),
  outdir: path.join(here, "..", "src", "trackbook", "static"),
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  logLevel: "warning",
  legalComments: "none",
};

if (process.argv.includes("--watch")) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log("watching js/src ...");
} else {
  await esbuild.build(options);
}
