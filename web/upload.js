// Demo upload panel: a resumable, verified upload (tus 1.0) through the Python client.
// The protocol (offsets, retries, resume, what is remembered) is upload.py's; this
// module only picks the file, shows progress and asks the server what it holds.

const $ = (id) => document.getElementById(id);
const MB = 1024 * 1024;
const TEST_FILE_SIZE = 20 * MB;
const ENDPOINT = "api/uploads/";

/**
 * The "20 MB test file": the same bytes every time (a xorshift32 block of
 * 64 KiB repeated, each copy stamped with its number), so making it again
 * after a reload is the same data, which resumes.
 */
export function makeTestFile(size = TEST_FILE_SIZE) {
  const block = new Uint32Array(16384);
  let x = 0x9e3779b9;
  for (let i = 0; i < block.length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    block[i] = x;
  }
  const blockBytes = new Uint8Array(block.buffer);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  for (let offset = 0, n = 0; offset < size; offset += blockBytes.length, n++) {
    bytes.set(blockBytes.subarray(0, Math.min(blockBytes.length, size - offset)), offset);
    if (offset + 4 <= size) view.setUint32(offset, n, true);
  }
  return new File([bytes], `test-${Math.round(size / MB)}MB.bin`, { type: "application/octet-stream" });
}

const PHASES = {
  waiting: "waiting", hashing: "hashing the file (SHA-256)…", uploading: "uploading",
  paused: "paused", retrying: "connection trouble: retrying from the server's offset",
  offline: "offline: waiting for the network", verifying: "checking with the server…",
  done: "done", failed: "failed", aborted: "cancelled",
};

const fmtMB = (bytes) => `${(bytes / MB).toFixed(1)} MB`;

/** Wire the #upload-panel section to `client` (the page's resilient client). */
export function wireUpload(client) {
  const panel = $("upload-panel");
  if (!panel) return;
  const bar = $("upload-progress");
  const status = $("upload-status");
  const hash = $("upload-hash");
  const [fileInput, makeButton, pauseButton, resumeButton, cancelButton] =
    ["upload-file", "upload-make", "upload-pause", "upload-resume", "upload-cancel"].map($);
  let current = null;

  const controls = (running) => {
    fileInput.disabled = makeButton.disabled = running;
    pauseButton.disabled = resumeButton.disabled = cancelButton.disabled = !running;
  };

  function render(event) {
    panel.dataset.phase = event.phase;
    panel.dataset.sent = String(event.sent);
    panel.dataset.total = String(event.total);
    bar.max = Math.max(1, event.total);
    bar.value = event.sent;
    const pct = event.total ? Math.floor((100 * event.sent) / event.total) : 100;
    const rate = event.rate > 0 ? `, ${fmtMB(event.rate)}/s` : "";
    status.textContent = `${PHASES[event.phase] ?? event.phase}: ${fmtMB(event.sent)} of ${fmtMB(event.total)} (${pct} %)${rate}`;
  }

  async function start(file) {
    hash.textContent = "–";
    delete panel.dataset.verified;
    delete panel.dataset.resumedFrom;
    panel.dataset.state = "running";
    controls(true);
    const upload = client.upload(file, ENDPOINT, { onProgress: render, metadata: { purpose: "demo" } });
    current = upload;
    window.demoUpload = upload; // tests and the curious: state(), pause(), resume()
    try {
      const result = await upload;
      panel.dataset.url = result.url;
      panel.dataset.resumedFrom = String(result.resumedFrom);
      // What the server holds, in its own words (not tus: the demo backend's info).
      const info = await (await client.fetch(`${result.url}/info`, { resilience: { priority: "low" } })).json();
      const confirmed = result.verified && info.verified === true && info.sha256 === result.sha256;
      hash.textContent = confirmed ? info.sha256 : `not confirmed (server: ${info.sha256 ?? "none"})`;
      panel.dataset.verified = String(confirmed);
      status.textContent = `done: ${fmtMB(result.size)}` +
        (result.resumedFrom ? `, resumed at ${fmtMB(result.resumedFrom)}` : "") +
        `, ${fmtMB(result.bytesSent)} sent by this page`;
      panel.dataset.state = "done";
    } catch (err) {
      status.textContent = `${err.code ?? err.name}: ${err.message}`;
      panel.dataset.state = err.code === "ABORTED" ? "aborted" : "failed";
      if (err.details?.actual) hash.textContent = `mismatch: server has ${err.details.actual}`;
    } finally {
      if (current === upload) current = null;
      controls(false);
    }
  }

  fileInput.addEventListener("change", () => {
    if (fileInput.files?.length) start(fileInput.files[0]);
  });
  makeButton.addEventListener("click", () => start(makeTestFile()));
  pauseButton.addEventListener("click", () => current?.pause());
  resumeButton.addEventListener("click", () => current?.resume());
  // Cancel keeps it resumable: the same file picked again goes on from the server's offset.
  cancelButton.addEventListener("click", () => current?.abort());
  controls(false);
  panel.dataset.state = "ready";
}
