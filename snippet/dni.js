/*! callpath dni.js | AGPL-3.0-or-later */
/*
 * Paste: <script async src="https://HOST/dni.js" data-site="SITE_KEY"></script>
 * Options: data-consent="required", data-hide="true", data-cookie-domain="example.com".
 * API: callpath('consent', true|false), callpath('swap'), callpath('numbers') (a promise of
 * the swaps), callpath('on', 'swap', fn). Docs: docs/snippet.md.
 * Contract with the backend: docs/snippet.md and DESIGN.md ("Public contract").
 *
 * Rules this file keeps:
 * - It never breaks the page: every entry point is guarded, every failure leaves (or puts
 *   back) the original numbers, and only text node values and three attributes change.
 * - Only the site's target numbers change, each written in its own style (separators,
 *   parentheses, country prefix, full-width digits); digit grouping comes from the backend.
 * - One visit per browser: a first-party cookie holds the signed token (never the numbers);
 *   the numbers come from /v1/session or from this tab's cache of that token's answer.
 * - Numbers are leased only for the targets found on the page: the snippet reports the
 *   phone-shaped digit runs it sees (and those that appear later) and the backend picks.
 * - Every tag on a page runs (several site keys), each with its own visit.
 * - It stays small (a test fails past 3,000 bytes minified and gzipped): ES2017 syntax,
 *   which every browser with fetch, MutationObserver and AbortController understands.
 */
((w, d) => {
  const script = d.currentScript;
  const guard = (fn) => (...a) => {
    try {
      return fn(...a);
    } catch (e) {
      /* never break the page */
    }
  };
  const opt = script ? script.dataset : {};
  const site = opt.site;
  const KEY = "callpath." + site; // not "callpath_": cookies of older versions held the whole visit
  // AbortSignal.timeout (2022) implies fetch, MutationObserver and ES2017: older browsers
  // are left alone, with their original numbers. Every tag runs (several site keys on one page),
  // once per key.
  if (w[KEY] || !site || !(w.AbortSignal || 0).timeout) return;
  w[KEY] = 1;

  const now = Date.now;
  const cookieDomain = opt.cookieDomain;
  const base = new URL("v1/", script.src);
  const HIDE = "data-callpath-hide";
  // Elements whose text and attributes are never touched: code, form fields, editors (an
  // editor would save the tracking number into the content; contenteditable="false" is not
  // one), and what the site excludes. Template contents are outside the document tree.
  const SKIP =
    "title,script,style,noscript,textarea,select,[data-callpath-skip]," +
    "[contenteditable]:not([contenteditable=false])";
  const TEL = 'a[href^="tel:" i]';
  const ATTRS = ["title", "aria-label"];
  const WATCH = { childList: 1, subtree: 1, characterData: 1, attributeFilter: ["href", ...ATTRS] };
  // Text is matched after folding full-width ASCII (０-９, ＋, （）, －, ．) to ASCII, which
  // keeps every offset; the backend sends each target's pattern (attribution/swaps.py).
  // Nine digits close together: text that may hold a phone number. Checked before any other
  // work on a text node (most have none), and hidden while the targets are unknown.
  const PHONE = /\d(\D{0,3}\d){8}/;
  // A phone-shaped run of digits, reported to the backend so that it leases numbers only
  // for the targets on the page.
  const RUN = /\d(\D{0,3}\d){8,}/g;

  // In a frame of a page of the same origin (whose tag may be starting the visit right
  // now): wait up to three seconds for the visit's token, then continue that visit.
  let waits;
  try {
    waits = w != top && top.document && 30;
  } catch (e) {
    /* another origin */
  }
  let consent = opt.consent != "required";
  let state; // {t: token, s: swaps, e: lease expiry (ms), h: heartbeat (s), f: runs sent}
  let compiled;
  let re;
  let records = []; // [slot, original, ours] for every change, so the originals can return
  let pending = [];
  let found = new Set(); // runs seen on the page and not yet reported
  const ons = []; // callpath('on', 'swap', fn) callbacks, and callpath('numbers') waiting
  const seen = []; // targets swapped since the last page report, in page order
  let sent; // runs reported during this visit (a Set, from the start)
  // Flags and times start undefined (falsy); `last` is set by the first request.
  let raf, last, busy, started, hiding, pushed, href, navs; // href: the path last reported

  // ---- number styles ----------------------------------------------------------------------
  const chr = String.fromCharCode;
  const fold = (s) => s.replace(/[\uff01-\uff5e]/g, (c) => chr(c.charCodeAt() - 65248));
  const wide = (s) => s.replace(/\d/g, (c) => chr(+c + 65296));
  // The swap whose pattern (capturing group) made this match.
  const which = (m) => compiled[m.indexOf(m[0], 1) - 1];
  // The first swap; throws when one is malformed, before anything is used or stored.
  const check = (s) => s.map((c) => c.p.trim() + c.g.join()) && s[0];

  // What each character of the number `m` becomes (an array as long as `m`): the lead
  // (country prefix, trunk 0, opening parenthesis) stays, the digit groups that follow
  // become the tracking number's groups (`g`) and the separators between them stay; extra
  // groups take the last separator. A digit group that does not change stays as it is, so
  // that each character stays in its own element.
  const pieces = (m, c) => {
    seen.push(c.target); // (a number about to be swapped)
    const G = c.g;
    const out = m.split("");
    const f = fold(m);
    // The lead ends where the last n digits (the national significant number; all the
    // digits of a target of another country, whose `g` is the whole number) begin.
    const i = f.search(RegExp(`(\\d\\D*){${c.n}}$`));
    const seps = f.slice(i).match(/\D+/g) || [];
    let k = 0;
    f.slice(i).replace(/(\d+)|\D/g, (x, dg, at) => {
      at += i;
      if (dg) {
        // The last group takes the tracking number's remaining groups.
        x = (seps[k] ? [G[k]] : G.slice(k)).join(seps[k++ - 1] || "");
        if (/[\uff10-\uff19]/.test(m)) x = wide(x);
        if (x != m.substr(at, dg.length)) out.fill("", at, at + dg.length)[at] = x;
      } else if (!G[k]) out[at] = "";
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
    let m, txt, f, a, out, q;
    while (re && ((txt = vals.join("")), (re.lastIndex = pos), (m = re.exec((f = fold(txt)))))) {
      a = m.index;
      pos = a + m[0].length;
      // Part of a longer digit run (an order number, another number): leave it (the
      // pattern itself refuses a digit after the number).
      if (/\d[-.]?$/.test(f.substring(a - 2, a))) continue;
      out = pieces(txt.slice(a, pos), which(m));
      // Each character's replacement goes to the slot that character came from.
      q = -a;
      vals = vals.map((v) => v.replace(/[^]/g, (ch) => (q++ in out ? out[q - 1] : ch)));
      pos = a + out.join("").length;
    }
    slots.forEach((s, j) => put(s, vals[j]));
  };

  // Note the phone-shaped runs of `v` that are not a known target's, to report them.
  const collect = (v) =>
    fold(v).replace(RUN, (x) => {
      x = x.replace(/\D/g, "");
      if (!sent.has(x) && !(re && x.replace(re, "").length < 9)) found.add(x);
    });

  // Skipped: the element, or the host of its shadow root (and so on up), is in or is one.
  const skipped = (e) => e && (e.closest(SKIP) || skipped(e.getRootNode().host));
  const phone = (n) => PHONE.test(fold(n.nodeValue));

  // Call `fn` with each node of a type (4: text, 1: element) under `root`. A plain walker
  // with no filter callback is ten times faster than one, and an element walker ten times
  // faster than querySelectorAll("*").
  const walk = (root, type, fn) => {
    const walker = d.createTreeWalker(root, type);
    while (walker.nextNode()) fn(walker.currentNode);
  };
  // The text nodes under `root`, as slots.
  const texts = (root, all = []) => {
    walk(root, 4, (n) => all.push([n]));
    return all;
  };

  const text = (t) => {
    const p = t.parentNode;
    collect(t.nodeValue);
    if (re) swapIn([[t]]);
    // Before the answer: hide the element holding the number, unless it is a large one (a
    // section, the body) with more than 200 characters of text. The style that hides goes
    // into the document, or the shadow root, with the first element hidden there.
    else if (hiding && p.textContent.length < 200) {
      const r = p.getRootNode();
      if (!r.querySelector(`[${HIDE}]`)) {
        const s = d.createElement("style");
        s.textContent = `[${HIDE}]{visibility:hidden!important}`;
        (r.head || r).append(s);
        undo.push(() => s.remove());
      }
      p.setAttribute(HIDE, "");
      undo.push(() => p.removeAttribute(HIDE));
    }
  };

  const attrs = (e) => {
    if (skipped(e)) return;
    for (const a of ATTRS) if (e.hasAttribute(a)) swapIn([[e, a]]);
    // tel:NUMBER, tel://NUMBER; the extension, pause and post-dial parts are kept.
    const m = e.matches(TEL) && /^tel:(?:\/\/)?([^;,?]*)(.*)/i.exec(e.getAttribute("href"));
    if (!m) return;
    // The whole number of the link must be a target, in any of the forms text may take.
    const v = fold(m[1]).trim();
    collect(v);
    if (!re) return;
    re.lastIndex = 0;
    const x = re.exec(v);
    if (x && x[0] == v) put([e, "href"], "tel:" + which(x).number + m[2]);
    swapIn(texts(e));
  };

  // An element's open shadow root (closed ones cannot be reached) is scanned, and watched
  // from then on (observing a root again changes nothing).
  const shade = (e) => (e = e.shadowRoot) && (observer.observe(e, WATCH), scan(e));

  // Scan a node: a text node, an element or an open shadow root (type 11), with the shadow
  // roots of the elements in it.
  const scan = (n) => {
    const t = n.nodeType;
    const el = t == 3 ? n.parentNode : t > 9 ? n.host : n;
    if (!n.isConnected || t == 8 || skipped(el)) return;
    // A text node's own element is not rescanned: only the link it may sit in.
    if (t == 3) phone(n) && text(n);
    else {
      // (Text that may hold a number, outside skipped elements.)
      walk(n, 4, (x) => phone(x) && !skipped(x.parentNode) && text(x));
      n.querySelectorAll("[title],[aria-label]," + TEL).forEach(attrs);
      shade(n);
      walk(n, 1, shade);
    }
    attrs(el.closest(TEL) || el);
  };

  // Change the page without reacting to our own mutations.
  const quiet = (fn) => {
    observer.takeRecords().forEach(record);
    fn();
    observer.takeRecords();
  };
  const rescan = () => quiet(() => scan(d.documentElement));

  let undo = []; // what hiding did, to be undone
  const restore = () => {
    quiet(() => records.forEach((r) => get(r[0]) == r[2] && set(r[0], r[1])));
    records = [];
    re = 0;
    hiding = 0;
    undo.forEach((f) => f());
    undo = [];
  };

  const apply = (swaps) => {
    restore();
    compiled = swaps;
    re = check(swaps) && RegExp(swaps.map((c) => c.p).join("|"), "g");
    rescan();
    if (re) for (const f of ons) guard(f)(swaps);
  };

  // ---- watching the page --------------------------------------------------------------------
  const record = (r) => (r.type == "childList" ? r.addedNodes.forEach(queue) : queue(r.target));
  const tick = () => (raf = raf || requestAnimationFrame(flush));
  const queue = (n) => {
    pending.push(n);
    tick();
  };
  const observer = new MutationObserver(guard((rs) => rs.forEach(record)));
  const flush = guard(() => {
    const todo = pending;
    raf = 0;
    pending = [];
    quiet(() => todo.forEach(scan));
    // New numbers on the page: ask for them.
    more();
  });
  // A route change is a page view, reported once the route has settled for a second
  // (a router that pushes and then rewrites the address makes one), unless only
  // replaceState changed only the query (a search box rewriting ?q= as the visitor types).
  // A page view of a live visit is a beat, else a session request (that reports it too).
  // A page already reported (a session request for new numbers of the new view) is not
  // reported again. (The same address pushed again reaches the backend, which adds no page
  // view for it.)
  const view = guard(
    () => (!pushed && location.pathname == href) || (live() && !found.size ? beat(1) : session())
  );
  const nav = () => {
    clearTimeout(navs);
    navs = setTimeout(view, 1e3);
  };

  // Call `fn(this)` before each call of the method `o[k]`.
  const hook = (o, k, fn) => {
    const f = o[k];
    o[k] = function (...a) {
      fn(this);
      return f.apply(this, a);
    };
  };

  const watch = () => {
    href = location.pathname;
    observer.observe(d, WATCH);
    // (The address is read when the route has settled, after the call.)
    for (const k of ["pushState", "replaceState"])
      hook(history, k, () => {
        pushed |= k < "r";
        nav();
      });
    // A shadow root attached later (a custom element defined or upgraded after load): its
    // host is scanned once its content is in, and the root is watched from then on.
    hook(Element.prototype, "attachShadow", queue);
    w.addEventListener("popstate", nav);
    // Heartbeats go while the page is visible, one every `heartbeat` seconds since the last
    // request: a hidden page sends none, and one goes within a second of it being shown
    // again when a beat is overdue.
    setInterval(guard(() => d.hidden || (live() && now() - last >= state.h * 1e3 && beat())), 1e3);
  };

  // ---- storage: the token in a first-party cookie, this tab's copy of the answer ----------
  const load = () => {
    // Tokens are URL-safe: the cookie holds one as is.
    const t = (d.cookie.match(KEY + "=([^;]+)") || [])[1];
    try {
      const v = JSON.parse(sessionStorage[KEY]);
      check(v.s);
      if (!t || v.t == t) return v;
    } catch (e) {
      /* nothing stored, storage blocked, or another token's numbers */
    }
    return t && { t, s: [] }; // (no lease expiry: not live, never beats)
  };
  // Keep `state` in this tab, and its token (for `age` seconds) in the cookie; with no
  // state, forget the visit.
  const save = (age) => {
    try {
      if (age >= 0)
        d.cookie =
          `${KEY}=${state ? state.t : ""};path=/;max-age=${age};samesite=lax` +
          (cookieDomain ? ";domain=" + cookieDomain : "");
      sessionStorage[KEY] = state ? JSON.stringify(state) : "";
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
      signal: AbortSignal.timeout(1e4),
    })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then(ok)
      .catch(guard(fail));
  };

  // The page (its title is never swapped, so it is the page's own); the backend cuts
  // each field to its limit.
  const page = (b) => {
    b.url = location.href;
    b.referrer = d.referrer;
    b.title = d.title;
    // The targets this page showed: with one number per visitor, the last one is where
    // the visitor's calls go.
    b.seen = seen.splice(0);
    href = location.pathname;
    pushed = 0;
    return b;
  };

  const live = () => started && state && state.s[0];

  const session = () => {
    if (!started || busy) return;
    // The _ga cookie as it is (GA1.1.123.456): the backend reads the client id from it.
    const ga = /_ga=([\w.]{1,64})/.exec(d.cookie);
    const f = [...found];
    // (JSON leaves out a token of undefined; a ga of null reads as none.)
    const b = page({ site, found: f, token: state && state.t, ga: ga && ga[1] });
    found.clear();
    busy = 1;
    post(
      "session",
      b,
      (r) => {
        // A malformed answer (swaps or token) throws here: nothing is stored.
        check(r.swaps, r.token.trim());
        busy = 0;
        if (!started) return;
        f.forEach((x) => sent.add(x));
        state = { t: r.token, s: r.swaps, e: now() + r.ttl * 1e3, h: r.heartbeat, f: [...sent] };
        save(r.ttl);
        apply(r.swaps);
        more();
      },
      () => {
        busy = 0;
        lost();
      }
    );
  };

  // Runs not reported yet (new content, another page): ask for their targets' numbers.
  const more = () => found.size && session();

  // The lease is gone and no new one came: the original numbers come back.
  const lost = () => {
    restore();
    if (state) {
      state.s = [];
      save();
    }
  };

  const beat = (pageView) =>
    live() &&
    post(
      "heartbeat",
      pageView ? page({ token: state.t }) : { token: state.t },
      (r) => {
        if (!live()) return;
        state.e = now() + r.ttl * 1e3;
        save(r.ttl);
      },
      (status) => {
        // 410: the lease has ended, ask for a new one; past the lease, give up.
        if (live()) status == 410 ? session() : now() > state.e && lost();
      }
    );

  // ---- starting, consent, API -----------------------------------------------------------------
  const start = guard(() => {
    if (started || !consent || navigator.webdriver) return;
    if (d.prerendering) return d.addEventListener("prerenderingchange", start);
    state = load();
    // In a frame of a page with this tag: wait for the parent's visit (its token), then
    // continue it.
    if (!state && waits-- > 0) return setTimeout(start, 99);
    started = 1;
    if (!href) watch();
    sent = new Set(state && state.f);
    if (state && state.e > now() && state.s[0]) {
      // A later page view of a live visit: swap before first paint, no session request
      // unless the page shows numbers not reported yet.
      apply(state.s);
      found.size ? session() : beat(1);
    } else {
      if ((hiding = opt.hide == "true")) setTimeout(guard(() => hiding && restore()), 1e3);
      rescan();
      session();
    }
  });

  // The API of the page's tags: each call goes to every tag, and is kept (with the calls
  // queued before any tag loaded) for the tags that load later. The usual stub, called by
  // the first tag, appends to `callpath.q` itself.
  const prev = w.callpath;
  const calls = (prev && prev.q) || [];
  const own = guard((cmd, value, fn) => {
    if (cmd == "consent") {
      if (value) {
        consent = 1;
        start();
      } else {
        // Withdrawn: forget the visit, stop talking to the backend, put the originals back.
        consent = started = 0;
        state = 0;
        save(0);
        lost();
      }
    } else if (cmd == "swap") rescan();
    // The swaps once they are on the page (now, if they are).
    else if (cmd == "numbers") return new Promise((r) => (re ? r(compiled) : ons.push(r)));
    else if (cmd == "on") ons.push(fn);
  });
  // (A promise of `numbers` is this tag's: with several tags, the last one loaded.)
  w.callpath = guard((...a) => {
    prev ? prev(...a) : calls.push(a);
    return own(...a);
  });
  w.callpath.q = calls;
  for (const a of calls) own(...a);
  start();
})(window, document);
