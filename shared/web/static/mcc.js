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
  // Refusals (field errors, conflicts, CSRF) carry a fragment that explains them: show it.
  document.addEventListener("htmx:beforeSwap", function (e) {
    const status = e.detail.xhr.status;
    if (status === 422 || status === 409 || status === 403 || status === 404) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
  // <button data-fill='{"field": "value"}' [data-submit]>: fill the form's fields (and submit it).
  document.addEventListener("click", function (e) {
    const el = e.target.closest("[data-fill]");
    if (!el) return;
    const form = document.getElementById(el.getAttribute("data-form") || "call");
    if (!form) return;
    const values = JSON.parse(el.getAttribute("data-fill"));
    for (const name in values) {
      const fields = form.querySelectorAll('[name="' + name + '"]');
      for (const f of fields) {
        if (f.type === "radio") { f.checked = f.value === values[name]; }
        else { f.value = values[name]; }
      }
      if (fields.length && fields[0].type !== "radio") fields[0].dispatchEvent(new Event("input", {bubbles: true}));
    }
    const say = el.getAttribute("data-say");
    const status = document.getElementById("status");
    if (say && status) status.textContent = say;
    if (el.hasAttribute("data-submit")) { form.requestSubmit(); }
    else { const next = el.getAttribute("data-focus"); if (next) { const n = form.querySelector(next); if (n) n.focus(); } }
  });
  // <a data-query-from="filters" href="/x.csv">: follow the link with that form's current values as the query.
  document.addEventListener("click", function (e) {
    const a = e.target.closest("a[data-query-from]");
    const form = a && document.getElementById(a.getAttribute("data-query-from"));
    if (form) a.search = new URLSearchParams(new FormData(form)).toString();
  });
  // <input data-advance="#next" data-advance-when="regex">: once the value is complete (matches the whole
  // regex) the cursor moves on by itself, saving the Tab keys a complete mobile number always needs. Only on
  // the input that completes it: going back to correct the field does not bounce the cursor away again.
  document.addEventListener("input", function (e) {
    const el = e.target;
    if (!el.hasAttribute || !el.hasAttribute("data-advance")) return;
    const done = new RegExp(el.getAttribute("data-advance-when")).test(el.value);
    if (done && el.dataset.advanced !== el.value) {
      el.dataset.advanced = el.value;
      const next = document.querySelector(el.getAttribute("data-advance"));
      if (next) next.focus();
    }
  });
  // Forms marked data-no-enter submit only by their key (F9), never by an Enter typed in a field.
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.target.tagName === "INPUT" && e.target.closest("form[data-no-enter]")) e.preventDefault();
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
      else {
        // htmx wires the buttons of swapped-in content only when it settles (20 ms later): a key pressed in
        // between clicked a button without its hx-post and was lost. Wiring it now is a no-op if already done.
        if (window.htmx) htmx.process(el);
        el.click();
      }
      return;
    }
  });
  // [data-reveal="#form"]: show a hidden form and put the cursor in its first field.
  document.addEventListener("click", function (e) {
    const el = e.target.closest("[data-reveal]");
    if (!el) return;
    const form = document.querySelector(el.getAttribute("data-reveal"));
    if (!form) return;
    for (const other of document.querySelectorAll("form[id^='form-']")) { if (other !== form) other.hidden = true; }
    form.hidden = false;
    const first = form.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  });
  // Queues ([data-rows]): j/k (or arrows) select a row and load its detail; the selection survives polling.
  let selected = null;
  function rows() { return Array.from(document.querySelectorAll("[data-rows] tr[data-href]")); }
  function select(row) {
    for (const r of rows()) r.classList.remove("sel");
    if (!row) return;
    row.classList.add("sel");
    row.setAttribute("aria-selected", "true");
    selected = row.getAttribute("data-id");
    htmx.ajax("GET", row.getAttribute("data-href"), {target: "#detail"});
  }
  document.addEventListener("keydown", function (e) {
    if (typing(e.target) || e.altKey || e.ctrlKey || e.metaKey) return;
    if (!document.querySelector("[data-rows]")) return;
    const down = e.key === "j" || e.key === "ArrowDown", up = e.key === "k" || e.key === "ArrowUp";
    if (!down && !up) return;
    const all = rows();
    if (!all.length) return;
    e.preventDefault();
    let i = all.findIndex(function (r) { return r.getAttribute("data-id") === selected; });
    i = i < 0 ? 0 : Math.max(0, Math.min(all.length - 1, i + (down ? 1 : -1)));
    select(all[i]);
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    if (!e.target.matches || !e.target.matches("[data-rows]")) return;
    for (const r of rows()) if (r.getAttribute("data-id") === selected) r.classList.add("sel");
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
