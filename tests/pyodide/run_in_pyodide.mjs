// Runs the pytest unit suite inside real Pyodide under Node.
//   node --experimental-wasm-stack-switching tests/pyodide/run_in_pyodide.mjs \
//        <wheel-dir> <tests-dir> [pytest args...]
// Every *.whl in <wheel-dir> (our client + pure-Python pytest and friends) is
// unpacked into site-packages; <tests-dir> is mounted read-only at /work/tests.
// Exits with pytest's exit code.
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadPyodide } from "pyodide";

const [wheelDir, testsDir, ...pytestArgs] = process.argv.slice(2);
if (!wheelDir || !testsDir) {
  console.error("usage: run_in_pyodide.mjs <wheel-dir> <tests-dir> [pytest args...]");
  process.exit(2);
}

const pyodide = await loadPyodide();
const writer = (stream) => ({ write: (buf) => { stream.write(buf); return buf.length; } });
pyodide.setStdout(writer(process.stdout));
pyodide.setStderr(writer(process.stderr));
const wheels = readdirSync(wheelDir).filter((f) => f.endsWith(".whl"));
if (!wheels.some((f) => f.startsWith("resilient_fetch-"))) {
  console.error(`no resilient_fetch wheel in ${wheelDir}`);
  process.exit(2);
}
for (const name of wheels) {
  const bytes = new Uint8Array(readFileSync(join(wheelDir, name)));
  pyodide.unpackArchive(bytes, "wheel", { extractDir: "/lib/python3.14/site-packages" });
}
pyodide.FS.mkdirTree("/work/tests");
pyodide.mountNodeFS("/work/tests", resolve(testsDir));
// The same pytest entry point as the Chromium runner (test_unit_suite_in_chromium.py).
pyodide.runPython(readFileSync(new URL("./pytest_main.py", import.meta.url), "utf8"));
pyodide.globals.set("PYTEST_ARGS", pyodide.toPy(pytestArgs));
const code = await pyodide.runPythonAsync("main(PYTEST_ARGS)");
process.exit(Number(code));
