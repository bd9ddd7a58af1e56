/*! callpath dni.js | AGPL-3.0-or-later */
/*
 * Paste: <script async src="https://HOST/dni.js" data-site="SITE_KEY"></script>
 * Options: data-consent="required", data-hide="true", data-cookie-domain="example.com".
 * API: callpath('consent', true|false), callpath('swap'). Docs: docs/snippet.md.
 * Contract with the backend: docs/snippet.md and DESIGN.md ("Public contract").
 *
 * Rules this file keeps:
 * - It never breaks the page: every entry point is guarded, every failure leaves (or puts
 *   back) the original numbers, and only text node values and three attributes change.
 * - Only the site's target numbers change, each written in its own style (separators,
 *   parentheses, country prefix, full-width digits); digit grouping comes from the backend.
 * - It stays small (a test fails past 3,000 bytes minified and gzipped): ES2017 syntax,
 *   which every browser with fetch, MutationObserver and AbortController understands.
 */
((w, d) => {
  const script = d.currentScript;
  // AbortController (2017-2019) implies fetch and MutationObserver: older browsers are left
  // alone, with their original numbers.
  if (w.__callpath || !script || !w.AbortController) return;
  w.__callpath = 1;

  const guard = (fn) => (a, b) => {
    try {
      return fn(a, b);
    } catch (e) {
      /* never break the page */
    }
  };
  const opt = script.dataset;
  const now = Date.now;
  const de = d.documentElement;
  const site = opt.site || "";
  const cookieDomain = opt.cookieDomain;
  const base = new URL("v1/", script.src);
  const KEY = "callpath_" + site;
  const HIDE = "data-callpath-hide";
  // Elements whose text is never touched: code, editors and form fields (template contents
  // are outside the document tree, so walkers and selectors never reach them anyway).
  const SKIP = "script,style,noscript,textarea,select,[contenteditable]";
  const TEL = 'a[href^="tel:" i]';
  const ATTRS = ["title", "aria-label"];
  // Text is matched after folding full-width ASCII (０-９, ＋, （）, －, ．) to ASCII, which
  // keeps every offset. Separators allowed between the digits of one number: spaces,
  // hyphens and dashes (ASCII, Unicode, the katakana long-vowel mark), dots, parentheses.
  const SEP = "[\\s\\-.()\u2010-\u2015\u2212\u30fc]{0,3}";
  // Nine digits close together: text that may hold a phone number. Checked before any other
  // work on a text node (most have none), and hidden while the targets are unknown.
  const PHONE = /[\d\uff10-\uff19](?:[^\d\uff10-\uff19]{0,3}[\d\uff10-\uff19]){8}/;

  let consent = opt.consent != "required";
  let state = null; // {t: token, s: swaps, e: lease expiry (ms), h: heartbeat (s)}
  let compiled = [];
  let re = null;
  let records = []; // [slot, original, ours] for every change, so the originals can return
  let pending = [];
  let raf = 0;
  let timer = 0;
  let last = 0;
  let busy = 0;
  let started = 0;
  let hiding = 0;
  let href = "";

  // ---- number styles ----------------------------------------------------------------------
  const chr = String.fromCharCode;
  const fold = (s) => s.replace(/[\uff01-\uff5e]/g, (c) => chr(c.charCodeAt(0) - 65248));
  const wide = (s) => s.replace(/\d/g, (c) => chr(+c + 65296));
  // A regex source for these digits with separators between them.
  const pattern = (s) => s.replace(/\d(?=.)/g, "$&" + SEP);

  // The swap whose pattern (capturing group) made this match.
  const which = (m) => compiled[m.indexOf(m[0], 1) - 1];

  // One swap from the backend, ready to find and write numbers.
  const compile = (sw) => {
    const intl = sw.international;
    const cc = intl.slice(1).split(/\D/)[0];
    const target = sw.target.slice(1);
    const national = sw.national.replace(/\D/g, "");
    const trunk = national.slice(0, national.length + cc.length + 1 - sw.number.length);
    const own = !target.indexOf(cc); // the target shares the tracking number's country
    const nsn = target.slice(own ? cc.length : 0);
    return {
      p: own
        ? `(?:\\+${SEP})?${pattern(cc)}${SEP}` +
          `(?:\\(0\\)${SEP})?${pattern(nsn)}|\\(?${pattern(trunk + nsn)}`
        : "\\+" + SEP + pattern(target),
      n: nsn.length,
      o: own,
      i: intl,
      e: sw.number,
      g: intl.slice(1 + cc.length).match(/\d+/g),
    };
  };

  // The number `m` as [original piece, replacement piece] pairs: the lead (country prefix,
  // trunk 0, opening parenthesis) is kept, then digit groups and separators alternate; the
  // tracking number's groups take the original separators in order.
  const pieces = (m, c) => {
    if (!c.o) return [[m, c.i]];
    const G = c.g;
    const fw = /[\uff10-\uff19]/.test(m);
    // The lead ends where the last n digits (the national significant number) begin.
    const i = fold(m).search(RegExp(`(\\d\\D*){${c.n}}$`));
    const lead = m.slice(0, i);
    const rest = m.slice(i).match(/[\d\uff10-\uff19]+|[^\d\uff10-\uff19]+/g);
    const seps = rest.filter((x, j) => j % 2);
    // Unchanged text goes piece by piece, so each character stays in its own element.
    const same = (x) => [...x].map((ch) => [ch, ch]);
    const out = same(lead);
    rest.forEach((x, j) => {
      let g = j >> 1;
      let s = "";
      if (j % 2) {
        if (G[g + 1]) s = x;
      } else {
        s = G[g] || "";
        if (j == rest.length - 1)
          while (G[++g]) s += (seps[Math.min(g, seps.length) - 1] || "") + G[g];
      }
      out.push(...(s == x ? same(x) : [[x, fw ? wide(s) : s]]));
    });
    return out;
  };

  // ---- changing the page: a slot is [text node] or [element, attribute] ------------------
  const get = (s) => (s[1] ? s[0].getAttribute(s[1]) : s[0].nodeValue);
  const set = (s, v) => (s[1] ? s[0].setAttribute(s[1], v) : (s[0].nodeValue = v));
  const put = (s, v) => {
    const o = get(s);
    if (o != v) {
      set(s, v);
      records.push([s, o, v]);
    }
  };

  // Swap every target number in the text of these slots, read as one string so that a
  // number split across inline elements is found; each piece goes back to its own node.
  const swapIn = (slots) => {
    let vals = slots.map((s) => get(s) || "");
    let pos = 0;
    let m, txt, f, a, b;
    while (re && ((txt = vals.join("")), (re.lastIndex = pos), (m = re.exec((f = fold(txt)))))) {
      a = m.index;
      pos = b = a + m[0].length;
      // Part of a longer digit run (an order number, another number): leave it.
      if (/\d[-.]?$/.test(f.substring(a - 2, a)) || /^[-.]?\d/.test(f.substr(b, 2))) continue;
      const offs = [];
      const add = [];
      let p = 0;
      vals.forEach((v, j) => {
        offs[j] = p;
        p += v.length;
        add[j] = "";
      });
      p = a;
      for (const [o, n] of pieces(txt.slice(a, b), which(m))) {
        let j = vals.length - 1;
        while (offs[j] > p) j--;
        add[j] += n;
        p += o.length;
        pos += n.length - o.length;
      }
      vals = vals.map((v, j) =>
        offs[j] < b && offs[j] + v.length > a
          ? v.slice(0, Math.max(0, a - offs[j])) + add[j] + v.slice(Math.max(0, b - offs[j]))
          : v
      );
    }
    slots.forEach((s, j) => put(s, vals[j]));
  };

  // Visit the text nodes under `root`: all of them, or (with `fn`) those that may hold a
  // number outside skipped elements. A plain walker with no filter callback is ten times
  // faster than one, so elements are not filtered on the way down.
  const texts = (root, fn) => {
    const walker = d.createTreeWalker(root, 4);
    const all = [];
    let n;
    while ((n = walker.nextNode()))
      if (!fn) all.push([n]);
      else if (PHONE.test(n.nodeValue) && !n.parentNode.closest(SKIP)) fn(n);
    return all;
  };

  const text = (t) => {
    if (re) swapIn([[t]]);
    else if (hiding) t.parentNode.setAttribute(HIDE, "");
  };

  const attrs = (e) => {
    const m = re && e.matches(TEL) && /tel:([^;?]*)/i.exec(e.getAttribute("href"));
    for (const a of ATTRS) if (e.hasAttribute(a)) swapIn([[e, a]]);
    if (!m) return;
    // The whole number of the link must be a target, in any of the forms text may take.
    const v = fold(unescape(m[1])).trim();
    re.lastIndex = 0;
    const x = re.exec(v);
    if (x && x[0] == v) put([e, "href"], "tel:" + which(x).e);
    const split = texts(e);
    if (split[1]) swapIn(split);
  };

  const scan = (n) => {
    const el = n.nodeType == 3 ? n.parentNode : n; // comments have no `matches`: skipped
    if (!n.isConnected || !el.matches || el.closest(SKIP)) return;
    // A text node's own element is not rescanned: only the link it may sit in.
    n == el ? texts(n, text) : PHONE.test(n.nodeValue) && text(n);
    if (re) {
      if (n == el) el.querySelectorAll("[title],[aria-label]," + TEL).forEach(attrs);
      attrs(el.closest(TEL) || el);
    }
  };

  // Change the page without reacting to our own mutations.
  const quiet = (fn) => {
    observer.takeRecords().forEach(record);
    fn();
    observer.takeRecords();
  };
  const rescan = () => quiet(() => scan(de));

  const restore = () => {
    quiet(() => records.forEach((r) => get(r[0]) == r[2] && set(r[0], r[1])));
    records = [];
    compiled = [];
    re = null;
    hiding = 0;
    d.querySelectorAll(`[${HIDE}]`).forEach((e) => e.removeAttribute(HIDE));
  };

  const apply = (swaps) => {
    restore();
    compiled = swaps.map(compile);
    re = compiled[0] && RegExp(compiled.map((c) => "(" + c.p + ")").join("|"), "g");
    rescan();
  };

  // ---- watching the page --------------------------------------------------------------------
  const here = () => location.href.split("#")[0];
  const record = (r) => (r.type == "childList" ? r.addedNodes.forEach(queue) : queue(r.target));
  const queue = (n) => {
    pending.push(n);
    raf = raf || requestAnimationFrame(flush);
  };
  const observer = new MutationObserver(guard((rs) => rs.forEach(record)));
  const flush = guard(() => {
    const todo = pending;
    const url = here();
    raf = 0;
    pending = [];
    // Forget nodes the page has dropped, so a long-lived app does not keep them alive.
    records = records.filter((r) => r[0][0].isConnected);
    quiet(() => todo.forEach(scan));
    if (url != href) {
      // A single-page route change is a page view: tell the backend, keep the lease.
      href = url;
      live() ? beat(1) : session();
    }
  });

  const watch = () => {
    href = here();
    observer.observe(de, {
      childList: true,
      subtree: true,
      characterData: true,
      attributeFilter: ["href", ...ATTRS],
    });
    for (const k of ["pushState", "replaceState"]) {
      const f = history[k];
      history[k] = function () {
        const r = f.apply(this, arguments);
        queue(de);
        return r;
      };
    }
    w.addEventListener("popstate", () => queue(de));
    d.addEventListener("visibilitychange", wake);
    w.addEventListener("pageshow", wake);
  };

  // ---- storage: sessionStorage, or a first-party cookie shared across subdomains -----------
  const load = () => {
    try {
      const v = JSON.parse(
        decodeURIComponent(
          cookieDomain ? d.cookie.match(KEY + "=([^;]*)")[1] : sessionStorage[KEY]
        )
      );
      return v.s.map && v;
    } catch (e) {
      /* nothing stored, or storage blocked */
    }
  };
  // Keep `state`; with no state, forget the visit.
  const save = () => {
    try {
      const v = state ? encodeURIComponent(JSON.stringify(state)) : "";
      if (cookieDomain)
        d.cookie = `${KEY}=${v};path=/;domain=${cookieDomain}` + (state ? "" : ";max-age=0");
      else sessionStorage[KEY] = v;
    } catch (e) {
      /* storage blocked: the visit is simply not remembered */
    }
  };

  // ---- talking to the backend ----------------------------------------------------------------
  const post = (path, body, ok, fail) => {
    last = now();
    fetch(base + path, {
      method: "POST",
      body: JSON.stringify(body), // a string body goes as text/plain: no CORS preflight
      keepalive: true,
      // A backend that hangs must not hold the page's keepalive budget for long.
      signal: AbortSignal.timeout && AbortSignal.timeout(1e4),
    })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then(ok, fail)
      .catch(() => {});
  };

  const page = (b) => {
    b.url = location.href.slice(0, 2048);
    b.referrer = d.referrer.slice(0, 2048);
    b.title = d.title.slice(0, 512);
    return b;
  };

  const live = () => started && state && state.s[0];

  const session = () => {
    if (!started || busy) return;
    const ga = /\b_ga=GA\d\.\d+\.(\d{1,30}\.\d{1,30})/.exec(d.cookie);
    const b = page({ site });
    if (state) b.token = state.t;
    if (ga) b.ga = ga[1];
    busy = 1;
    post(
      "session",
      b,
      (r) => {
        busy = 0;
        if (!started) return;
        state = { t: r.token, s: r.swaps, e: now() + r.ttl * 1e3, h: r.heartbeat };
        save();
        apply(r.swaps);
        next();
      },
      () => {
        busy = 0;
        lost();
      }
    );
  };

  // The lease is gone and no new one came: the original numbers come back.
  const lost = () => {
    restore();
    if (state) {
      state.s = [];
      save();
    }
  };

  const next = (ms) => {
    clearTimeout(timer);
    timer = live() && state.h && setTimeout(() => wake((timer = 0)), ms || state.h * 1e3);
  };
  // Heartbeats go while the page is visible: a hidden page lets the chain lapse, and
  // visibilitychange or pageshow picks it up again (at once when a beat is overdue).
  const wake = guard(() => {
    const due = live() && last + state.h * 1e3 - now();
    if (!timer && !d.hidden) due > 0 ? next(due) : beat();
  });

  const beat = (pageView) =>
    live() &&
    post(
      "heartbeat",
      pageView ? page({ token: state.t }) : { token: state.t },
      (r) => {
        if (!live()) return;
        state.e = now() + r.ttl * 1e3;
        save();
        next();
      },
      (status) => {
        if (live()) status == 410 ? session() : now() > state.e ? lost() : next();
      }
    );

  // ---- starting, consent, API -----------------------------------------------------------------
  const start = guard(() => {
    if (started || !consent || navigator.webdriver) return;
    if (d.prerendering) return d.addEventListener("prerenderingchange", start);
    started = 1;
    if (!href) watch();
    state = load();
    if (state && state.e > now() && state.s[0]) {
      // A later page view of a live visit: swap before first paint, no session request.
      apply(state.s);
      beat(1);
    } else {
      if (opt.hide == "true") {
        hiding = 1;
        d.head.insertAdjacentHTML("beforeend", `<style>[${HIDE}]{visibility:hidden!important}</style>`);
        rescan();
        setTimeout(guard(() => hiding && restore()), 1e3);
      }
      session();
    }
  });

  const queued = (w.callpath && w.callpath.q) || [];
  w.callpath = guard((cmd, value) => {
    if (cmd == "consent") {
      if (value) {
        consent = 1;
        start();
      } else {
        // Withdrawn: forget the visit, stop talking to the backend, put the originals back.
        consent = started = 0;
        state = null;
        save();
        next();
        lost();
      }
    } else if (cmd == "swap") rescan();
  });
  for (const args of queued) w.callpath(args[0], args[1]);
  start();
})(window, document);
