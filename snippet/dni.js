/*! callpath dni.js — swaps a site's business numbers for tracking numbers. */
(function (w, d) {
  "use strict";
  var script = d.currentScript;
  if (!script || w.__callpathLoaded) return;
  w.__callpathLoaded = true;
  var site = script.getAttribute("data-site");
  var base = script.src.replace(/\/dni\.js.*$/, "");
  function digits(s) { return s.replace(/\D/g, ""); }
  function national(e164) { return e164.indexOf("+81") === 0 ? "0" + e164.slice(3) : e164.slice(2); }
  function swap(swaps) {
    var map = {};
    swaps.forEach(function (s) { map[national(s.target)] = s; });
    var walker = d.createTreeWalker(d.body, NodeFilter.SHOW_TEXT);
    var node;
    while ((node = walker.nextNode())) {
      node.nodeValue = node.nodeValue.replace(/[0-9()+\-. ]{9,}[0-9]/g, function (m) {
        var s = map[digits(m).replace(/^81/, "0").replace(/^1(?=\d{10}$)/, "")];
        return s ? s.national : m;
      });
    }
    d.querySelectorAll('a[href^="tel:"]').forEach(function (a) {
      var s = map[digits(a.getAttribute("href")).replace(/^81/, "0")];
      if (s) a.setAttribute("href", "tel:" + s.number);
    });
  }
  try {
    fetch(base + "/v1/session", {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ site: site, url: location.href, referrer: d.referrer }),
      keepalive: true
    }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data && data.swaps) swap(data.swaps); })
      .catch(function () {});
  } catch (e) { /* never break the page */ }
})(window, document);
