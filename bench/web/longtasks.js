// Collect main-thread long tasks (> 50 ms) from the start of the page. A
// classic script in <head> runs before any module; `buffered` also replays
// long tasks that ended before the observer existed.
window.benchLongTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      window.benchLongTasks.push({ start: entry.startTime, duration: entry.duration });
    }
  }).observe({ type: "longtask", buffered: true });
} catch (err) {
  window.benchLongTasksError = String(err);
}
