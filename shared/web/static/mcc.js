// mcc pages: CSRF header for htmx, keyboard shortcuts (data-key), live countdowns. No framework, no build.
(function () {
  "use strict";
  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  // Double-submit CSRF: every htmx request repeats the mcc_csrf cookie in X-CSRF-Token.
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = cookie("mcc_csrf");
  });
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  function help() {
    const d = document.getElementById("shortcuts");
    if (!d) return;
    if (d.open) { d.close(); } else { d.showModal(); }
  }
  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-help]")) help();
  });
  // Keys: data-key="F2" fires anywhere; data-key="s" fires only outside inputs; Alt+key also fires inside.
  document.addEventListener("keydown", function (e) {
    if (e.key === "?" && !typing(e.target)) { e.preventDefault(); help(); return; }
    const inside = typing(e.target);
    const keyName = (e.altKey ? "Alt+" : "") + e.key;
    const targets = document.querySelectorAll("[data-key]");
    for (const el of targets) {
      const want = el.getAttribute("data-key").split(" ");
      const fkey = /^F\d+$/.test(e.key);
      if (want.indexOf(keyName) < 0) continue;
      if (inside && !e.altKey && !fkey) continue;
      if (el.closest("[hidden]") || el.disabled) continue;
      e.preventDefault();
      if (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT") { el.focus(); if (el.select) el.select(); }
      else { el.click(); }
      return;
    }
  });
  // Countdowns: <time data-deadline="ISO"> counts down; yellow under 25% of its span, red when late.
  function tick() {
    const now = Date.now();
    for (const el of document.querySelectorAll("[data-deadline]")) {
      const end = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(end)) continue;
      let s = Math.round((end - now) / 1000);
      const late = s < 0; s = Math.abs(s);
      const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
      const text = d ? d + "天" + h + "小时" : h ? h + "小时" + m + "分" : m + "分" + sec + "秒";
      el.textContent = (late ? "超时 " : "剩 ") + text;
      const warn = parseFloat(el.getAttribute("data-warn-s") || "3600");
      el.classList.toggle("late", late);
      el.classList.toggle("soon", !late && (end - now) / 1000 < warn);
    }
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
})();
