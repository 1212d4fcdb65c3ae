// sessiongate demo: the live clock.
//
// A WebSocket through the gateway to the demo app, which sends the time
// every second. The app knows nothing of sessions: when the session ends
// (expiry, sign-out, revocation) the gateway closes the WebSocket with code
// 1008 and the reason ("session expired", "session ended"), shown here.
(function () {
  "use strict";

  var clock = document.getElementById("live-clock");
  var ended = document.getElementById("live-clock-ended");
  if (!clock || !ended) return;
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var ws = new WebSocket(scheme + location.host + "/live/clock");
  ws.onmessage = function (event) {
    clock.textContent = String(event.data);
  };
  ws.onclose = function (event) {
    clock.classList.add("stopped");
    ended.textContent = event.code === 1008
      ? "Live clock stopped: " + event.reason + "."
      : "Live clock disconnected.";
    ended.hidden = false;
  };
})();
