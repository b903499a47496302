// Prints, as JSON, the members the shim really gives a page: the module's
// exports, the client object createClient() resolves with, client.outbox, a
// client.loader() object and the controls on client.upload()'s promise. The shim runs unchanged from web/; only what it
// loads is faked (Pyodide, the manifest fetch), so no runtime or build is
// needed. tests/integration/test_js_types.py compares it with the d.ts.
// Usage: node types/shim-keys.mjs [path/to/resilient-fetch.js]
import { register } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const shim = path.resolve(process.argv[2] ?? path.join(here, "..", "web", "resilient-fetch.js"));

// A Python object as the shim sees it: any attribute is a callable that
// answers another such object (not thenable, no `type`: never a dict result).
const py = () => new Proxy(function () {}, {
  get: (_target, name) => (name === "then" || name === "type" ? undefined : py()),
  apply: () => py(),
});
globalThis.__fakePyodide = {
  loadPyodide: async () => ({
    registerJsModule() {},
    runPython: () => "/site-packages",
    unpackArchive() {},
    toPy: () => ({ destroy() {} }),
    pyimport: () => py(),
  }),
  version: "fake",
};
// Pyodide itself is replaced by a module that hands out the fake above.
const fakePyodide = "data:text/javascript," + encodeURIComponent(
  "export const loadPyodide = globalThis.__fakePyodide.loadPyodide;" +
  "export const version = globalThis.__fakePyodide.version;");
register("data:text/javascript," + encodeURIComponent(`
  export async function resolve(specifier, context, next) {
    if (/\\/pyodide\\/pyodide\\.mjs$/.test(specifier)) return { url: ${JSON.stringify(fakePyodide)}, shortCircuit: true };
    return next(specifier, context);
  }`));
globalThis.fetch = async (url) => {
  const body = String(url).endsWith("manifest.json")
    ? JSON.stringify({ wheel: "fake.whl", wheelSha256: "", pyodideVersion: "fake", backendUrl: "" })
    : "";
  return new Response(body, { status: 200 });
};

const mod = await import(pathToFileURL(shim).href);
const client = await mod.createClient({ baseUrl: "http://127.0.0.1:9/" });
const loader = client.loader({ url: "api/items/batch" });
// The fake answers no real result: the upload's promise rejects, its controls stay.
const upload = typeof client.upload === "function" ? client.upload(new Blob(["x"]), "api/uploads/") : null;
upload?.catch(() => {});
console.log(JSON.stringify({
  module: Object.keys(mod).sort(),
  client: Object.keys(client).sort(),
  outbox: Object.keys(client.outbox).sort(),
  loader: Object.keys(loader).sort(),
  upload: upload ? Object.keys(upload).sort() : [],
}));
