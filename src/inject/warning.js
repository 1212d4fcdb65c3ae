/* sessiongate expiry warning (SPEC 12): served at /.sessiongate/warning.js,
   added to HTML pages by the gateway. Reads /.sessiongate/session (never
   slides), warns `warning_before` ahead of expiry, and once the session it
   saw has ended reloads the page, which the gateway answers with its
   login redirect (`next` = this page). No dependencies, no globals but
   `sessiongate`, never throws into the page. */
(function () {
  "use strict";
  if (window.sessiongate || !window.fetch) return;
  var ns = (window.sessiongate = { version: 1 });
  var deadline = 0, warnMs = 120000, seen = false, timer = 0, tick = 0, box = null, left = null, note = null;

  function ask(url, method) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" }
    });
  }

  function later(ms) {
    clearTimeout(timer);
    timer = setTimeout(poll, Math.max(1000, ms));
  }

  function take(s) {
    seen = true;
    // expires_in_ms when the gateway sends it: expires_in is whole seconds,
    // truncated, which would warn (and count down) up to a second early.
    deadline = Date.now() + (s.expires_in_ms != null ? s.expires_in_ms : s.expires_in * 1000);
    if (s.warning_before > 0) warnMs = s.warning_before * 1000;
    plan();
  }

  function poll() {
    ask("/.sessiongate/session", "GET").then(function (r) {
      if (!r.ok) throw r.status;
      return r.json();
    }).then(function (s) {
      if (s.authenticated) take(s);
      else if (seen) leave();
    }).catch(function () {
      // An outage signs nobody out: try again.
      later(15000);
    });
  }

  function plan() {
    var rest = deadline - Date.now();
    if (rest > warnMs) {
      hide();
      // Rarely while expiry is far: at the warning time, at most 5 min apart.
      later(Math.min(rest - warnMs, 300000));
    } else {
      show();
      // Often near it: another tab may extend the session.
      later(rest > 0 ? Math.min(5000, rest) : 1000);
    }
  }

  function leave() {
    clearTimeout(timer);
    clearInterval(tick);
    location.replace(location.href.split("#")[0]);
  }

  function stay() {
    note.textContent = "";
    ask("/.sessiongate/refresh", "POST").then(function (r) {
      if (r.status === 401) return leave();
      if (!r.ok) throw r.status;
      return r.json().then(take);
    }).catch(function () {
      note.textContent = " Could not reach the server; try again.";
    });
  }

  function clock() {
    var s = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    left.textContent = Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
  }

  function css(el, rules) {
    for (var k in rules) el.style[k] = rules[k];
    return el;
  }

  function show() {
    if (!box) {
      box = css(document.createElement("div"), {
        position: "fixed", top: "0", left: "0", right: "0", zIndex: "2147483647",
        display: "flex", flexWrap: "wrap", alignItems: "center", justifyContent: "center",
        gap: "0.5em 1em", padding: "0.75em 1em", background: "#fff4ce", color: "#1b1b1b",
        borderBottom: "2px solid #8a6d00", font: "1rem/1.4 system-ui, sans-serif"
      });
      box.id = "sessiongate-warning";
      box.setAttribute("role", "alert");
      var text = document.createElement("span");
      text.appendChild(document.createTextNode("Your session ends in "));
      left = document.createElement("strong");
      // The countdown changes every second; the alert is read once.
      left.setAttribute("aria-live", "off");
      text.appendChild(left);
      text.appendChild(document.createTextNode("."));
      note = document.createElement("span");
      text.appendChild(note);
      var button = css(document.createElement("button"), {
        font: "inherit", padding: "0.35em 0.9em", cursor: "pointer", color: "#fff",
        background: "#1b1b1b", border: "1px solid #1b1b1b", borderRadius: "0.25em"
      });
      button.type = "button";
      button.textContent = "Stay signed in";
      button.addEventListener("click", stay);
      box.appendChild(text);
      box.appendChild(button);
    }
    clock();
    if (!box.parentNode) {
      var body = document.body || document.documentElement;
      body.insertBefore(box, body.firstChild);
      clearInterval(tick);
      tick = setInterval(clock, 1000);
    }
  }

  function hide() {
    clearInterval(tick);
    if (box && box.parentNode) box.parentNode.removeChild(box);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") poll();
  });
  ns.poll = poll;
  try { poll(); } catch (e) { /* never into the page */ }
})();
