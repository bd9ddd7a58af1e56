/* Demo only: a button that "calls" the tracking number this page shows.
 * It asks the demo server (CALLPATH_DEMO_CALLS, on under `make run`) to ring the number as a
 * made-up caller; the call goes through the same path as a real one and shows up, matched to
 * this visit, in the dashboard's live screen and call log. Only a user signed in to the
 * dashboard in this browser may ring, and only numbers that user may see. Real sites never
 * include this. */
(function () {
  "use strict";
  var button = document.getElementById("demo-call");
  var out = document.getElementById("demo-call-status");
  if (!button || !out) return;
  button.addEventListener("click", function () {
    var link = document.querySelector('a[href^="tel:"]');
    var number = link ? link.getAttribute("href").slice(4) : "";
    out.textContent = "Calling " + number + " …";
    fetch("/demo/call", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ number: number })
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; });
    }).then(function (res) {
      if (res.data.error && res.data.error.status === 401) {
        out.textContent = "Sign in to the dashboard first (/login, the login `make run` " +
          "printed), then press the button again.";
        return;
      }
      if (!res.ok) {
        out.textContent = "Demo calls are off on this server (" +
          ((res.data.error && res.data.error.message) || "refused") + ").";
        return;
      }
      // Not the business number itself: the snippet would (rightly) swap it on this page.
      out.textContent = "Ringing: forwarded to the business line. Watch it arrive on the " +
        "dashboard's live screen (/dashboard).";
    }).catch(function () { out.textContent = "The demo server did not answer."; });
  });
})();
