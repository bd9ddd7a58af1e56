// callpath dashboard: the live incoming-call feed and copy buttons. No inline scripts (CSP).
"use strict";

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text;
  return td;
}

function callRow(c) {
  const tr = document.createElement("tr");
  tr.dataset.id = String(c.id);
  if (c.qualified) tr.className = "qualified";
  const time = document.createElement("td");
  const link = document.createElement("a");
  link.href = c.url;
  link.textContent = c.time;
  time.appendChild(link);
  tr.appendChild(time);
  tr.appendChild(cell(c.caller, "mono"));
  tr.appendChild(cell(c.tracking, "mono"));
  tr.appendChild(cell(c.source));
  tr.appendChild(cell(c.keyword));
  tr.appendChild(cell(c.talk, "num"));
  const status = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = "badge s-" + c.state;
  badge.textContent = c.status;
  status.appendChild(badge);
  tr.appendChild(status);
  tr.appendChild(cell(c.qualified ? "✓" : ""));
  const rec = document.createElement("td");
  if (c.recording) {
    const a = document.createElement("a");
    a.href = c.recording;
    a.rel = "noreferrer";
    a.target = "_blank";
    a.textContent = "▶";
    rec.appendChild(a);
  }
  tr.appendChild(rec);
  tr.appendChild(cell(c.matched, "match m-" + c.method));
  tr.appendChild(cell(c.confidence, c.level ? "confidence c-" + c.level : ""));
  return tr;
}

function startLive(table) {
  const body = table.querySelector("tbody");
  const state = document.getElementById("live-state");
  const empty = document.getElementById("live-empty");
  const url = table.dataset.stream + "?after=" + encodeURIComponent(table.dataset.cursor || "0");
  const source = new EventSource(url);
  source.onopen = () => {
    state.textContent = state.dataset.on;
    state.classList.add("on");
  };
  source.onerror = () => {
    state.textContent = state.dataset.off;
    state.classList.remove("on");
  };
  source.addEventListener("call", (ev) => {
    const c = JSON.parse(ev.data);
    if (body.querySelector('tr[data-id="' + c.id + '"]')) return;
    const row = callRow(c);
    row.classList.add("fresh");
    body.insertBefore(row, body.firstChild);
    if (empty) empty.hidden = true;
    while (body.children.length > 200) body.removeChild(body.lastChild);
  });
  source.addEventListener("update", (ev) => {
    const c = JSON.parse(ev.data);
    const old = body.querySelector('tr[data-id="' + c.id + '"]');
    if (old) body.replaceChild(callRow(c), old);
  });
}

function startCopy(button) {
  button.addEventListener("click", async () => {
    const target = document.querySelector(button.dataset.copy);
    if (!target) return;
    try {
      await navigator.clipboard.writeText(target.textContent);
    } catch (e) {
      const range = document.createRange();
      range.selectNodeContents(target);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      return;
    }
    const label = button.textContent;
    button.textContent = button.dataset.done;
    setTimeout(() => { button.textContent = label; }, 1500);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live-calls");
  if (live) startLive(live);
  document.querySelectorAll("button.copy").forEach(startCopy);
});
