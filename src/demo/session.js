// sessiongate demo: the session panel.
//
// Asks the gateway how long the session has left (GET /.sessiongate/session,
// which never extends it) on load and every 5 seconds, and counts down
// locally in between. Warns when little time is left, offers "Stay signed
// in" (POST /.sessiongate/refresh), and says so once the session is gone.
(function () {
  "use strict";

  var POLL_MS = 5000;
  var TICK_MS = 250;
  var WARN_MAX_SECONDS = 20;

  var $ = function (id) { return document.getElementById(id); };
  var panel = $("countdown").closest(".session");
  var deadline = null;      // Date.now() value at which the session ends
  var warnBelow = WARN_MAX_SECONDS;
  var gone = false;         // the gateway said there is no session
  var pollTimer = null;

  function secondsLeft() {
    return Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
  }

  function render() {
    if (deadline === null && !gone) return;
    var left = gone ? 0 : secondsLeft();
    var expired = left === 0;
    var warning = !expired && left < warnBelow;
    $("countdown").textContent = String(left);
    var unit = panel.querySelector(".unit");
    if (unit) unit.textContent = left === 1 ? "second left" : "seconds left";
    $("warning").hidden = !warning;
    $("expired").hidden = !expired;
    $("stay-signed-in").disabled = expired;
    panel.classList.toggle("is-warning", warning);
    panel.classList.toggle("is-expired", expired);
  }

  function update(state) {
    if (!state || !state.authenticated) {
      // Nothing left to watch: stop asking until something changes.
      gone = true;
      if (pollTimer !== null) clearInterval(pollTimer);
      pollTimer = null;
    } else {
      gone = false;
      if (pollTimer === null) pollTimer = setInterval(poll, POLL_MS);
      deadline = Date.now() + state.expires_in * 1000;
      // Warn at 20 s, or a third of the idle timeout when that is shorter.
      warnBelow = Math.min(WARN_MAX_SECONDS, state.idle_timeout / 3);
    }
    render();
  }

  function poll() {
    return fetch("/.sessiongate/session", {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" }
    })
      .then(function (res) { return res.json(); })
      .then(update)
      .catch(function () { /* a network hiccup: keep counting locally */ });
  }

  $("stay-signed-in").addEventListener("click", function () {
    fetch("/.sessiongate/refresh", {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json", "X-Requested-With": "XMLHttpRequest" }
    })
      .then(function (res) {
        if (res.status === 401) { update(null); return; }
        return poll();
      })
      .catch(function () { /* keep the current countdown */ });
  });

  pollTimer = setInterval(poll, POLL_MS);
  poll();
  setInterval(render, TICK_MS);
})();
