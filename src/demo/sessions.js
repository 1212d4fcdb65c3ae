// sessiongate demo: "Your sessions".
//
// Lists the signed-in user's live sessions (GET /.sessiongate/sessions,
// which never extends one) on load and every 5 seconds, marks this
// browser's, and signs others out (POST /.sessiongate/sessions/HANDLE/revoke
// and /.sessiongate/sessions/revoke-others: same-origin requests; the
// gateway refuses cross-site ones).
(function () {
  "use strict";

  var POLL_MS = 5000;
  var demo = window.sessiongateDemo;
  var $ = function (id) { return document.getElementById(id); };
  var body = $("sessions-body");
  var others = $("revoke-others");
  var say = demo.statusLine($("sessions-status"));
  var timer = null;

  function signedOut() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    body.replaceChildren();
    others.disabled = true;
    say("This browser is no longer signed in: its session was signed out or expired. " +
        "Reload the page to sign in again.", "bad", true);
  }

  function label(s) {
    var cell = document.createDocumentFragment();
    if (s.current) cell.appendChild(demo.el("span", "This browser", "badge"));
    else cell.appendChild(demo.el("span", "Another browser", "muted"));
    cell.appendChild(document.createTextNode(" "));
    cell.appendChild(demo.el("code", demo.shortHandle(s.handle)));
    return cell;
  }

  function action(s) {
    if (s.current) {
      var link = demo.el("a", "Sign out", "button secondary small");
      link.href = "/.sessiongate/logout";
      link.setAttribute("aria-label", "Sign out this browser");
      return link;
    }
    var button = demo.el("button", "Sign out", "secondary small revoke");
    button.type = "button";
    button.setAttribute("aria-label", "Sign out session " + demo.shortHandle(s.handle));
    button.addEventListener("click", function () { revoke(s.handle, button); });
    return button;
  }

  function load() {
    return demo.request("GET", "/.sessiongate/sessions").then(function (r) {
      if (r.status === 401) return signedOut();
      if (r.status !== 200) {
        say("The gateway answered " + r.status + " to the listing.", "bad");
        return;
      }
      var list = r.body.sessions || [];
      demo.render(body, list, label, action);
      var count = list.filter(function (s) { return !s.current; }).length;
      others.disabled = count === 0;
      say(count === 0
        ? "Signed in only here. Sign in from another browser to see it listed."
        : "Signed in here and in " + count + (count === 1 ? " other place." : " other places."));
    }).catch(function () { say("Cannot reach the gateway; trying again.", "bad"); });
  }

  function answered(r, what) {
    if (r.status === 401) return signedOut();
    if (r.status === 200) {
      var n = r.body.revoked;
      say(what(n), "ok", true);
    } else if (r.status === 404) {
      say("That session had already ended.", "", true);
    } else if (r.status === 403) {
      say("The gateway refused the request as cross-site.", "bad", true);
    } else {
      say("The gateway answered " + r.status + ".", "bad", true);
    }
    return load();
  }

  function revoke(handle, button) {
    button.disabled = true;
    demo.request("POST", "/.sessiongate/sessions/" + encodeURIComponent(handle) + "/revoke")
      .then(function (r) {
        return answered(r, function () {
          return "Signed out session " + demo.shortHandle(handle) +
            ": its next request goes to the login page.";
        });
      })
      .catch(function () { button.disabled = false; say("Cannot reach the gateway.", "bad", true); });
  }

  others.addEventListener("click", function () {
    others.disabled = true;
    demo.request("POST", "/.sessiongate/sessions/revoke-others")
      .then(function (r) {
        return answered(r, function (n) {
          return "Signed out " + n + (n === 1 ? " other session." : " other sessions.");
        });
      })
      .catch(function () { others.disabled = false; say("Cannot reach the gateway.", "bad", true); });
  });

  timer = setInterval(load, POLL_MS);
  load();
})();
