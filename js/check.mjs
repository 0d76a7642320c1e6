// The front end's size, measured: every function over the line limit in our sources (js/<name>/, js/lib/),
// and every bundle's size in interpwidgets/static/. `node check.mjs` prints JSON; tests/test_js_sources.py
// holds the limits.
import { parse } from "acorn";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const FUNCTIONS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);

function* sources(dir) {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    if (d.isDirectory() && d.name !== "node_modules") yield* sources(join(dir, d.name));
    else if (d.isFile() && d.name.endsWith(".js") && dir !== here) yield join(dir, d.name);
  }
}

/** [name, lines] of every function in `node`, nested ones included. */
function* functions(node, name = "(anonymous)") {
  if (!node || typeof node.type !== "string") return;
  if (FUNCTIONS.has(node.type)) yield [node.id?.name || name, node.loc.end.line - node.loc.start.line + 1];
  for (const [key, value] of Object.entries(node)) {
    if (key === "loc") continue;
    const inner = node.type === "VariableDeclarator" || node.type === "Property" || node.type === "MethodDefinition"
      ? node.id?.name || node.key?.name || name : name;
    for (const child of Array.isArray(value) ? value : [value]) {
      if (child && typeof child === "object") yield* functions(child, inner);
    }
  }
}

const report = { functions: [], bundles: {} };
for (const file of sources(here)) {
  const tree = parse(readFileSync(file, "utf8"), { ecmaVersion: "latest", sourceType: "module", locations: true });
  for (const [name, lines] of functions(tree)) report.functions.push({ file: relative(here, file), name, lines });
}
const statics = join(here, "..", "interpwidgets", "static");
for (const f of readdirSync(statics)) report.bundles[f] = statSync(join(statics, f)).size;
console.log(JSON.stringify(report));
