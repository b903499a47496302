// Start-up sample: ?mode=client awaits createClient() as built (from the
// memory snapshot when dist/ has one); ?mode=client_plain the same with the
// snapshot refused (loadRuntime({snapshot: false}), Python booted and the
// client imported in the page); ?mode=pyodide a bare loadPyodide() from the
// same files. All import their module dynamically, so none pays for module
// loading another skips.
const mode = new URLSearchParams(location.search).get("mode");
const status = document.getElementById("status");

async function start() {
  const moduleStart = performance.now();
  let boot = "pyodide";
  if (mode === "client" || mode === "client_plain") {
    const { createClient, loadRuntime } = await import("../resilient-fetch.js");
    const runtime = loadRuntime({ snapshot: mode === "client" });
    await createClient();
    boot = (await runtime).boot;
  } else if (mode === "pyodide") {
    const { loadPyodide } = await import("../pyodide/pyodide.mjs");
    await loadPyodide({ indexURL: new URL("../pyodide/", import.meta.url).href });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  const ready = performance.now(); // ms since navigation start (timeOrigin)
  // A long task is reported after it ends: give the observer two more turns.
  await new Promise((resolve) => setTimeout(resolve, 100));
  await new Promise((resolve) => setTimeout(resolve, 0));
  const tasks = window.benchLongTasks.filter((t) => t.start < ready);
  const nav = performance.getEntriesByType("navigation")[0];
  // Bytes over the network for all the page's files (a cache hit counts 0, a 304 its headers).
  const transferred = performance.getEntriesByType("resource").reduce((sum, e) => sum + e.transferSize, 0);
  return {
    mode,
    boot,
    readyMs: ready,
    moduleStartMs: moduleStart,
    domContentLoadedMs: nav ? nav.domContentLoadedEventEnd : null,
    longTasks: tasks.length,
    longestTaskMs: tasks.reduce((m, t) => Math.max(m, t.duration), 0),
    longTaskTotalMs: tasks.reduce((s, t) => s + t.duration, 0),
    longTaskError: window.benchLongTasksError ?? null,
    transferredBytes: transferred,
  };
}

start().then(
  (result) => { window.benchStartup = result; status.textContent = "done"; status.dataset.state = "done"; },
  (err) => { window.benchStartup = { mode, error: String(err && err.stack || err) }; status.textContent = "failed"; status.dataset.state = "done"; },
);
