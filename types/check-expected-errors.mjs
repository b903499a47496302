// The negative half of `make typecheck-js`. tsc already fails on an unused
// `@ts-expect-error`; this also checks each one fails for the reason written
// on it. It compiles the project with every `// @ts-expect-error TSnnnn: why`
// directive blanked out, then requires, for each, a diagnostic with code nnnn
// on the line below it, and no diagnostic anywhere else.
// Usage: node types/check-expected-errors.mjs [types/tsconfig.json]
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const ts = require("typescript");
const here = path.dirname(fileURLToPath(import.meta.url));
const configPath = path.resolve(process.argv[2] ?? path.join(here, "tsconfig.json"));

const { config } = ts.readConfigFile(configPath, ts.sys.readFile);
const parsed = ts.parseJsonConfigFileContent(config, ts.sys, path.dirname(configPath));
const DIRECTIVE = /^(\s*)\/\/ @ts-expect-error(?: (TS\d+))?(.*)$/;
const expected = []; // { file, line, code }
const problems = [];
const host = ts.createCompilerHost(parsed.options);
const readFile = host.readFile.bind(host);
host.readFile = (file) => {
  const text = readFile(file);
  if (text === undefined || !parsed.fileNames.includes(path.resolve(file))) return text;
  const lines = text.split("\n").map((line, i) => {
    const m = DIRECTIVE.exec(line);
    if (!m) return line;
    if (!m[2]) problems.push(`${file}:${i + 1}: @ts-expect-error without the TS code it expects`);
    expected.push({ file: path.resolve(file), line: i + 1, code: Number(m[2]?.slice(2)) });
    return `${m[1]}// (expected error below)`;
  });
  return lines.join("\n");
};
const program = ts.createProgram(parsed.fileNames, parsed.options, host);
const found = ts.getPreEmitDiagnostics(program).map((d) => ({
  file: d.file ? path.resolve(d.file.fileName) : "",
  line: d.file ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0,
  code: d.code,
  text: ts.flattenDiagnosticMessageText(d.messageText, " "),
}));
for (const e of expected) {
  if (!found.some((d) => d.file === e.file && d.line === e.line + 1 && d.code === e.code)) {
    const got = found.filter((d) => d.file === e.file && d.line === e.line + 1);
    problems.push(`${e.file}:${e.line + 1}: expected TS${e.code}, got ${got.map((d) => `TS${d.code} ${d.text}`).join("; ") || "no error"}`);
  }
}
for (const d of found) {
  if (!expected.some((e) => e.file === d.file && e.line + 1 === d.line)) {
    problems.push(`${d.file}:${d.line}: unexpected TS${d.code}: ${d.text}`);
  }
}
if (expected.length === 0) problems.push("no @ts-expect-error directives found: nothing proves the types are not `any`");
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`${expected.length} expected type errors, each with its code`);
