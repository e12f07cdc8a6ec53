// The console's own script: the live tail, copy buttons, auto-submitting selects. No inline
// script anywhere (the Content-Security-Policy forbids it).
"use strict";

const MAX_ROWS = 500; // a fast tail keeps the page light: older rows fall off the bottom

function startTail(body) {
  const state = document.getElementById("live-state");
  const source = new EventSource(body.dataset.tail);
  source.addEventListener("row", (message) => {
    const template = document.createElement("template");
    template.innerHTML = message.data.trim();
    const row = template.content.firstElementChild;
    if (!row) return;
    const existing = document.getElementById(row.id);
    if (existing) {
      existing.replaceWith(row);
    } else {
      body.querySelector("tr.empty")?.remove();
      body.prepend(row);
      while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
    }
    if (state) state.textContent = "● Live";
  });
  source.addEventListener("stale", () => { if (state) state.textContent = "○ Reconnecting…"; });
  source.onerror = () => { if (state) state.textContent = "○ Reconnecting…"; };
  window.addEventListener("pagehide", () => source.close());
}

document.addEventListener("DOMContentLoaded", () => {
  const tail = document.querySelector("[data-tail]");
  if (tail) startTail(tail);
  document.body.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const input = document.getElementById(button.dataset.copy);
    input.select();
    (navigator.clipboard ? navigator.clipboard.writeText(input.value) : Promise.reject())
      .then(() => { button.textContent = "Copied"; })
      .catch(() => { button.textContent = "Selected: press Ctrl-C"; });
  });
  document.body.addEventListener("change", (event) => {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
  });
});
