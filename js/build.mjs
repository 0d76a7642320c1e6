// Bundle every js/<name>/index.js into interpwidgets/static/<name>.js: one per widget, and host.js, the
// small host that save_html() inlines to render a widget in an offline page.
// `node build.mjs --watch` rebuilds on change; anywidget hot-reloads the bundle in a running notebook.
import * as esbuild from "esbuild";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "interpwidgets", "static");
rmSync(out, { recursive: true, force: true });  // only what this build makes ships in the wheel
mkdirSync(out, { recursive: true });


const entries = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && !["node_modules", "lib"].includes(d.name))
  .filter((d) => existsSync(join(here, d.name, "index.js")))
  .map((d) => ({ in: join(here, d.name, "index.js"), out: d.name }));

const options = { entryPoints: entries, bundle: true, format: "esm", outdir: out, minify: true, sourcemap: false,
                  logLevel: "warning" };
if (process.argv.includes("--watch")) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log(`watching ${entries.length} bundle(s) into ${out}`);
} else {
  if (entries.length) await esbuild.build(options);
  console.log(`built ${entries.length} bundle(s) into ${out}`);
}
