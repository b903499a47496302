// Demo page logic: every request goes through the Python client via the shim.
import { createClient } from "./resilient-fetch.js";

const $ = (id) => document.getElementById(id);
const statusEl = $("status");
const errorEl = $("error");

function setStatus(text, cls) {
  statusEl.textContent = text;
  statusEl.className = `status ${cls}`;
}

function showError(err) {
  if (!err) {
    errorEl.hidden = true;
    errorEl.textContent = "";
    return;
  }
  errorEl.hidden = false;
  errorEl.textContent = err.code ? `${err.code}: ${err.message}` : String(err.message || err);
}

async function apiJson(client, url, init) {
  const resp = await client.fetch(url, init);
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = new Error(data?.message || `HTTP ${resp.status}`);
    err.code = `HTTP_${resp.status}`;
    throw err;
  }
  return data;
}

function renderItems(items) {
  const list = $("items");
  list.replaceChildren(
    ...items.map((item) => {
      const li = document.createElement("li");
      li.dataset.id = item.id;
      li.textContent = item.name;
      return li;
    }),
  );
}

async function refresh(client) {
  try {
    const data = await apiJson(client, "api/items");
    renderItems(data.items);
    showError(null);
  } catch (err) {
    showError(err);
  }
}

async function main() {
  let client;
  try {
    client = await createClient();
  } catch (err) {
    setStatus(`failed to load: ${err.message}`, "failed");
    throw err;
  }
  window.resilientClient = client;
  setStatus("ready", "ready");
  for (const id of ["item-name", "add-button", "refresh"]) $(id).disabled = false;
  $("refresh").addEventListener("click", () => refresh(client));
  $("add-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("item-name");
    const name = input.value.trim();
    if (!name) return;
    try {
      await apiJson(client, "api/items", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name }),
      });
      input.value = "";
      showError(null);
    } catch (err) {
      showError(err);
    }
    await refresh(client);
  });
  await refresh(client);
}

main();
