// TasQ dashboard: fetch this same page every 2 s and swap #board; post actions in place.
// Markup only ever comes from the server, which escapes every value; this script adds text.
(function () {
  "use strict";
  var PERIOD = 2000;
  var live = document.getElementById("live");
  var toast = document.getElementById("toast");
  var pause = document.getElementById("pause");
  var paused = false, busy = false, timer = null, toastTimer = null;
  var offset = 0; // server clock minus this browser's, in seconds

  function board() { return document.getElementById("board"); }

  function span(seconds) {
    seconds = Math.max(0, seconds);
    if (seconds < 60) return Math.round(seconds) + "s";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m " + String(Math.floor(seconds % 60)).padStart(2, "0") + "s";
    return Math.floor(seconds / 3600) + "h " + String(Math.floor(seconds % 3600 / 60)).padStart(2, "0") + "m";
  }

  function tick() {
    var now = Date.now() / 1000 + offset;
    document.querySelectorAll("time[data-since]").forEach(function (el) {
      el.textContent = span(now - parseFloat(el.dataset.since));
    });
    document.querySelectorAll("time[data-until]").forEach(function (el) {
      var left = parseFloat(el.dataset.until) - now;
      el.textContent = left > 0 ? "in " + span(left) : "due";
    });
  }

  function setOffset(el) {
    var taken = parseFloat(el.dataset.takenAt);
    if (!isNaN(taken)) offset = taken - Date.now() / 1000;
  }

  function state(name, text) {
    live.className = "live" + (name ? " " + name : "");
    live.textContent = text;
  }

  function say(text, isError) {
    toast.textContent = text;
    toast.className = "toast show" + (isError ? " error" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toast.className = "toast"; }, 4000);
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("board");
    if (!fresh) return;
    var open = [];
    board().querySelectorAll("details[open]").forEach(function (el) { open.push(el.id || el.className); });
    var node = document.importNode(fresh, true);
    open.forEach(function (key) {
      var el = node.querySelector("details#" + CSS.escape(key)) || node.querySelector("details." + CSS.escape(key));
      if (el) el.open = true;
    });
    board().replaceWith(node);
    setOffset(node);
    tick();
  }

  function refresh() {
    if (busy) return Promise.resolve();
    busy = true;
    return fetch(window.location.pathname, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 403 || response.redirected) {
          state("lost", "signed out");
          return null;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        swap(html);
        if (!paused) state("", "live");
      })
      .catch(function () { state("lost", "offline"); })
      .then(function () { busy = false; });
  }

  function schedule() {
    clearInterval(timer);
    timer = setInterval(function () { if (!paused && !document.hidden) refresh(); }, PERIOD);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("act")) return;
    event.preventDefault();
    var button = form.querySelector("button");
    if (button) button.disabled = true;
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(form)).toString()
    })
      .then(function (response) {
        return response.json().catch(function () { return { ok: false, error: "HTTP " + response.status }; });
      })
      .then(function (reply) { say(reply.ok ? reply.message : reply.error, !reply.ok); })
      .catch(function () { say("The dashboard did not answer", true); })
      .then(refresh);
  });

  pause.addEventListener("click", function () {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    if (paused) state("paused", "paused"); else { state("", "live"); refresh(); }
  });

  document.addEventListener("visibilitychange", function () { if (!document.hidden && !paused) refresh(); });
  setOffset(board());
  setInterval(tick, 1000);
  schedule();
}());
