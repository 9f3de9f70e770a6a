// The pages' only script, served at /-/app.<hash>.js: copy buttons, the live build log (SSE), jump to first error.
// Plain DOM code, no framework. The server sends HTML fragments it has escaped itself; this only places them.
export const clientScript = `
"use strict";
document.addEventListener("click", function (ev) {
  var t = ev.target instanceof Element ? ev.target.closest("[data-copy]") : null;
  if (t) {
    var text = t.getAttribute("data-copy") || "";
    navigator.clipboard && navigator.clipboard.writeText(text).then(function () {
      var old = t.textContent; t.textContent = "Copied"; setTimeout(function () { t.textContent = old; }, 1200);
    });
  }
  var j = ev.target instanceof Element ? ev.target.closest("#jump-error") : null;
  if (j) {
    var first = document.querySelector("#log .err-line");
    if (first) { first.scrollIntoView({ block: "center" }); first.classList.add("flashline"); }
    else { j.textContent = "No error lines"; }
  }
});
(function () {
  var log = document.getElementById("log");
  if (!log) return;
  var url = log.getAttribute("data-events");
  var atBottom = function () { return log.scrollHeight - log.scrollTop - log.clientHeight < 40; };
  log.scrollTop = log.scrollHeight;
  if (!url || typeof EventSource === "undefined") return;
  var es = new EventSource(url);
  var live = document.getElementById("live");
  var set = function (id, html) { var el = document.getElementById(id); if (el) el.innerHTML = html; };
  es.addEventListener("log", function (ev) {
    var stick = atBottom();
    log.insertAdjacentHTML("beforeend", ev.data);
    if (stick) log.scrollTop = log.scrollHeight;
  });
  es.addEventListener("state", function (ev) {
    var d = JSON.parse(ev.data);
    set("state", d.pill); set("facts", d.facts); set("actions", d.actions);
    document.body.setAttribute("data-build-state", d.state);
  });
  es.addEventListener("done", function () {
    es.close();
    if (live) live.textContent = "";
  });
  es.onerror = function () { if (live) live.textContent = "reconnecting…"; };
  es.onopen = function () { if (live) live.textContent = "● live"; };
})();
// Live parts of a page (the profile page's rollout): [data-live-url] is an event stream of "fragments" events,
// {version, html: {id: escaped HTML}}, each put in place by id.
(function () {
  var root = document.querySelector("[data-live-url]");
  if (!root || typeof EventSource === "undefined") return;
  var es = new EventSource(root.getAttribute("data-live-url"));
  var state = document.getElementById("live-state");
  es.addEventListener("fragments", function (ev) {
    var d = JSON.parse(ev.data);
    Object.keys(d.html).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.innerHTML = d.html[id];
    });
    root.setAttribute("data-live-version", d.version);
  });
  es.addEventListener("done", function () {
    es.close();
    if (state) state.textContent = "";
  });
  es.onopen = function () { if (state) state.textContent = "● live"; };
  es.onerror = function () { if (state) state.textContent = "reconnecting…"; };
})();
`;
