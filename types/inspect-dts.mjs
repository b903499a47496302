// Prints what web/resilient-fetch.d.ts declares, as JSON, read with the
// TypeScript compiler's own checker (not a regex): the module's exports, the
// property names of its interfaces (and of their members' object types), and the members of string-literal
// unions. tests/integration/test_js_types.py compares it with the shim and the
// Python side. Usage: node types/inspect-dts.mjs [path/to/file.d.ts]
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const require = createRequire(import.meta.url);
const ts = require("typescript");
const here = path.dirname(fileURLToPath(import.meta.url));
const file = path.resolve(process.argv[2] ?? path.join(here, "..", "web", "resilient-fetch.d.ts"));

const program = ts.createProgram([file], { strict: true, noEmit: true, lib: ["lib.es2022.d.ts", "lib.dom.d.ts"] });
const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
const checker = program.getTypeChecker();
const source = program.getSourceFile(file);
const moduleSymbol = checker.getSymbolAtLocation(source);
const exported = new Map(checker.getExportsOfModule(moduleSymbol).map((s) => [s.getName(), s]));

// The property names of a member's object type (array element types too), for
// the option groups: { retry?: RetryOptions } -> RetryOptions' names.
function shapeOf(type) {
  const names = new Set();
  for (let t of type.isUnion() ? type.types : [type]) {
    if (checker.isArrayType(t)) t = checker.getTypeArguments(t)[0];
    if (!(t.flags & ts.TypeFlags.Object) || checker.getSignaturesOfType(t, ts.SignatureKind.Call).length) continue;
    for (const p of checker.getPropertiesOfType(t)) names.add(p.getName());
  }
  return [...names].sort();
}

const interfaces = {};
const shapes = {};
const unions = {};
for (const [name, symbol] of exported) {
  if (symbol.flags & ts.SymbolFlags.Interface) {
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    const props = checker.getPropertiesOfType(type);
    interfaces[name] = props.map((p) => p.getName()).sort();
    shapes[name] = Object.fromEntries(props.map((p) => [p.getName(), shapeOf(checker.getTypeOfSymbol(p))]));
  } else if (symbol.flags & ts.SymbolFlags.TypeAlias) {
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    const parts = type.isUnion() ? type.types : [type];
    if (parts.every((t) => t.isStringLiteral())) unions[name] = parts.map((t) => t.value).sort();
  }
}
const values = [...exported.values()]
  .filter((s) => s.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Variable))
  .map((s) => s.getName())
  .sort();
console.log(JSON.stringify({ file, diagnostics, values, interfaces, shapes, unions }));
