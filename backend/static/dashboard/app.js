// callpath dashboard: the live incoming-call feed (with its optional sound and desktop
// notification), copy buttons and confirmations. No inline scripts (CSP).
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
  tr.appendChild(cell(c.target, "branch"));
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

// The user's choices for the live screen, kept in this browser (localStorage) only.
const SOUND_KEY = "callpath.live.sound";
const NOTIFY_KEY = "callpath.live.notify";

function stored(key) {
  try { return window.localStorage.getItem(key) === "1"; } catch (e) { return false; }
}

function store(key, on) {
  try { window.localStorage.setItem(key, on ? "1" : "0"); } catch (e) { /* private mode */ }
}

let audio = null;

// A short two-tone chime made with Web Audio: no sound file to fetch or to license.
function chime() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  audio = audio || new Ctx();
  const now = audio.currentTime;
  [880, 660].forEach((freq, i) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, now + i * 0.18);
    gain.gain.exponentialRampToValueAtTime(0.25, now + i * 0.18 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.16);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + i * 0.18);
    osc.stop(now + i * 0.18 + 0.17);
  });
}

function liveOptions() {
  const box = document.getElementById("live-options");
  const sound = document.getElementById("live-sound");
  const notify = document.getElementById("live-notify");
  const note = document.getElementById("live-notify-note");
  if (!box || !sound || !notify) return { sound: () => false, notify: () => false };
  box.hidden = false;
  sound.checked = stored(SOUND_KEY);
  const supported = "Notification" in window;
  notify.checked = supported && stored(NOTIFY_KEY) && Notification.permission === "granted";
  if (!supported) {
    notify.disabled = true;
    note.textContent = note.dataset.unsupported;
  } else if (Notification.permission === "denied") {
    note.textContent = note.dataset.denied;
  }
  sound.addEventListener("change", () => {
    store(SOUND_KEY, sound.checked);
    if (sound.checked) chime(); // a click lets the page play sound; the user hears which
  });
  // Permission is asked on this click only, never when the page opens.
  notify.addEventListener("change", async () => {
    if (!notify.checked) {
      store(NOTIFY_KEY, false);
      return;
    }
    let permission = Notification.permission;
    if (permission === "default") permission = await Notification.requestPermission();
    notify.checked = permission === "granted";
    store(NOTIFY_KEY, notify.checked);
    note.textContent = permission === "denied" ? note.dataset.denied : note.dataset.help;
  });
  return {
    sound: () => sound.checked,
    notify: () => notify.checked && supported && Notification.permission === "granted",
  };
}

function announce(options, table, c) {
  if (options.sound()) chime();
  if (options.notify()) {
    const text = [c.tracking, c.target, c.source, c.keyword].filter(Boolean).join(" · ");
    const n = new Notification(table.dataset.title, { body: text, tag: "call-" + c.id });
    n.onclick = () => { window.focus(); window.location.href = c.url; };
  }
}

function startLive(table) {
  const options = liveOptions();
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
    announce(options, table, c);
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

// A form with a box marked data-confirm asks before it is sent with that box ticked (disabling
// a user). Without script the form still works: ticking the box and saving is two steps.
function startConfirm(form) {
  form.addEventListener("submit", (ev) => {
    const box = form.querySelector("input[data-confirm]:checked");
    if (box && !window.confirm(box.dataset.confirm)) ev.preventDefault();
  });
}

// A form with data-progress sends its file itself, to show the upload's progress in the
// named <progress> (a cost report can be tens of megabytes). The answer replaces the page
// as a normal post would: the page it redirected to, or the form again with its errors.
// Without script the form posts as any other.
function startUpload(form) {
  const bar = document.getElementById(form.dataset.progress);
  form.addEventListener("submit", (ev) => {
    const file = form.querySelector("input[type=file]");
    const name = form.querySelector("input[name=filename]");
    if (name && file && file.files[0]) name.value = file.files[0].name;
    if (!bar || !window.XMLHttpRequest) return;
    ev.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    bar.hidden = false;
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status < 400 && xhr.responseURL) {
        window.location.assign(xhr.responseURL);
        return;
      }
      document.open();
      document.write(xhr.responseText);
      document.close();
    });
    xhr.addEventListener("error", () => form.submit());
    form.querySelectorAll("button[type=submit]").forEach((b) => (b.disabled = true));
    xhr.send(new FormData(form));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live-calls");
  if (live) startLive(live);
  document.querySelectorAll("button.copy").forEach(startCopy);
  document.querySelectorAll("form").forEach((form) => {
    if (form.querySelector("input[data-confirm]")) startConfirm(form);
    if (form.dataset.progress) startUpload(form);
  });
});

// The call page's recording player: playback speed, and a transcript line seeks to its time.
document.querySelectorAll("select.speed").forEach((select) => {
  select.addEventListener("change", () => {
    const player = document.getElementById(select.dataset.player);
    if (player) player.playbackRate = Number(select.value);
  });
});
document.querySelectorAll("button.seek").forEach((button) => {
  button.addEventListener("click", () => {
    const player = document.getElementById(button.dataset.player);
    if (!player) return;
    // Seeking leaves the channel graph alone: listening to one side stays on that side.
    player.currentTime = Number(button.dataset.start);
    player.play().catch(() => {});
  });
});

// One side of a two-channel recording (channel 0: the caller, 1: the business). The
// element's sound goes through a Web Audio graph, built the first time someone picks a side
// (a user gesture, so the browser lets the AudioContext start): source → splitter → one
// gain per channel → merger → speakers. Each side's gain mutes or keeps it; a cross gain
// puts the chosen side in both ears. For the browser test, which measures that the muted
// side is silent and the chosen one is in both ears: player.channelTaps holds an
// AnalyserNode per side after its gain, player.earTaps one per ear after the merger.
function channelGraph(player) {
  if (player.channelGraph) return player.channelGraph;
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  const ctx = new Context();
  const source = ctx.createMediaElementSource(player);
  const splitter = ctx.createChannelSplitter(2);
  const merger = ctx.createChannelMerger(2);
  const side = [ctx.createGain(), ctx.createGain()];
  const cross = [ctx.createGain(), ctx.createGain()]; // side 0 → right ear, side 1 → left ear
  const taps = [ctx.createAnalyser(), ctx.createAnalyser()];
  source.connect(splitter);
  [0, 1].forEach((c) => {
    splitter.connect(side[c], c);
    side[c].connect(taps[c]);
    side[c].connect(merger, 0, c);
    side[c].connect(cross[c]);
    cross[c].connect(merger, 0, 1 - c);
    cross[c].gain.value = 0;
  });
  merger.connect(ctx.destination);
  const ears = ctx.createChannelSplitter(2);
  const earTaps = [ctx.createAnalyser(), ctx.createAnalyser()];
  merger.connect(ears);
  [0, 1].forEach((e) => ears.connect(earTaps[e], e));
  // A context made without a gesture starts suspended: every play (a gesture) resumes it.
  player.addEventListener("play", () => { if (ctx.state === "suspended") ctx.resume(); });
  player.channelTaps = taps;
  player.earTaps = earTaps;
  player.channelGraph = { ctx, side, cross };
  return player.channelGraph;
}
document.querySelectorAll("select.listen").forEach((select) => {
  select.addEventListener("change", () => {
    const player = document.getElementById(select.dataset.player);
    const graph = player && channelGraph(player);
    if (!graph) return;
    const only = select.value === "both" ? null : Number(select.value);
    [0, 1].forEach((c) => {
      graph.side[c].gain.value = only === null || only === c ? 1 : 0;
      graph.cross[c].gain.value = only === c ? 1 : 0;
    });
    if (graph.ctx.state === "suspended") graph.ctx.resume();
    player.dataset.listen = select.value;
    player.dispatchEvent(new Event("timeupdate")); // the highlighted line follows the side
  });
});

// The transcript line being said is marked (aria-current) as the recording plays; when one
// side is chosen, only that side's lines.
document.querySelectorAll("ol.transcript[data-player]").forEach((list) => {
  const player = document.getElementById(list.dataset.player);
  if (!player) return;
  const lines = Array.from(list.querySelectorAll("li[data-start]"));
  let marked = null;
  const mark = () => {
    const t = player.currentTime;
    const side = player.dataset.listen || "both";
    let now = null;
    lines.forEach((li) => {
      if (side !== "both" && li.dataset.channel !== side) return;
      if (Number(li.dataset.start) <= t && t < Number(li.dataset.end)) now = li;
    });
    if (now === marked) return;
    if (marked) marked.removeAttribute("aria-current");
    if (now) now.setAttribute("aria-current", "true");
    marked = now;
  };
  player.addEventListener("timeupdate", mark);
  player.addEventListener("seeked", mark);
});
