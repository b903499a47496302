// Start-up sample: ?mode=client awaits createClient(); ?mode=pyodide awaits a
// bare loadPyodide() from the same files. Both import their module
// dynamically, so neither pays for module loading the other skips.
const mode = new URLSearchParams(location.search).get("mode");
const status = document.getElementById("status");

async function start() {
  const moduleStart = performance.now();
  if (mode === "client") {
    const { createClient } = await import("../resilient-fetch.js");
    await createClient();
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
  return {
    mode,
    readyMs: ready,
    moduleStartMs: moduleStart,
    domContentLoadedMs: nav ? nav.domContentLoadedEventEnd : null,
    longTasks: tasks.length,
    longestTaskMs: tasks.reduce((m, t) => Math.max(m, t.duration), 0),
    longTaskTotalMs: tasks.reduce((s, t) => s + t.duration, 0),
    longTaskError: window.benchLongTasksError ?? null,
  };
}

start().then(
  (result) => { window.benchStartup = result; status.textContent = "done"; status.dataset.state = "done"; },
  (err) => { window.benchStartup = { mode, error: String(err && err.stack || err) }; status.textContent = "failed"; status.dataset.state = "done"; },
);
