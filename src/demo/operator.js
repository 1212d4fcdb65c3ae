// sessiongate demo: the operator page.
//
// Everything here comes from this app's /operator/api/ routes, which call
// the gateway's admin API and /metrics server-side: the admin token never
// reaches the browser. Every 5 seconds the page lists the chosen user's
// live sessions and adds a bar to the chart of redirects to login (the
// increase of sessiongate_redirects_total{route,reason} since the last
// look, as rate() would show it in Grafana).
(function () {
  "use strict";

  var POLL_MS = 5000;
  var HISTORY = 24;                       // bars: two minutes at 5 s
  var COLORS = ["#2f6fde", "#d97706", "#9b1c1c", "#0f766e", "#7c3aed", "#be185d", "#4b5563", "#65a30d"];
  var SVG = "http://www.w3.org/2000/svg";

  var demo = window.sessiongateDemo;
  var $ = function (id) { return document.getElementById(id); };
  var input = $("operator-user");
  var body = $("operator-body");
  var revokeAll = $("revoke-all");
  var say = demo.statusLine($("operator-status"));
  var sayChart = demo.statusLine($("redirects-status"));
  var user = input.value.trim();
  var timer = null;

  var ERRORS = {
    admin_api_not_configured: "This app is not connected to a gateway's admin API.",
    admin_api_off: "The gateway's session API is off (no admin token configured).",
    admin_token_rejected: "The gateway refused this app's admin token.",
    admin_unreachable: "The gateway's admin listener does not answer.",
    unsupported_mode: "The gateway is not in managed mode: it cannot list sessions.",
    cross_site: "This app refused the request as cross-site.",
    user_required: "Enter a user name."
  };

  function failure(r) {
    return ERRORS[r.body.error] || "The app answered " + r.status + ".";
  }

  // A 401 comes from the gateway (this app's routes answer 502 when the
  // admin API refuses its token): this browser's session is gone.
  function signedOut() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    revokeAll.disabled = true;
    say("This browser is no longer signed in (revoking every session of its user ends its own " +
        "too). Reload the page to sign in again.", "bad", true);
  }

  // ---- sessions of a user ----

  // The handle's first characters; the whole one in the tooltip.
  function label(s) {
    var code = demo.el("code", s.handle.length > 12 ? s.handle.slice(0, 12) + "…" : s.handle, "handle");
    code.title = s.handle;
    return code;
  }

  function action(s) {
    var button = demo.el("button", "Revoke", "danger small revoke");
    button.type = "button";
    button.setAttribute("aria-label", "Revoke session " + demo.shortHandle(s.handle));
    button.addEventListener("click", function () {
      button.disabled = true;
      demo.request("POST", "/operator/api/sessions/" + encodeURIComponent(s.handle) + "/revoke")
        .then(function (r) {
          if (r.status === 200) say("Revoked session " + demo.shortHandle(s.handle) + ".", "ok", true);
          else if (r.status === 404) say("That session had already ended.", "", true);
          else if (r.status === 401) return signedOut();
          else say(failure(r), "bad", true);
          return loadSessions();
        })
        .catch(function () { button.disabled = false; say("Cannot reach the app.", "bad", true); });
    });
    return button;
  }

  function loadSessions() {
    if (!user) {
      body.replaceChildren();
      revokeAll.disabled = true;
      say(ERRORS.user_required, "bad");
      return Promise.resolve();
    }
    var asked = user;
    return demo.request("GET", "/operator/api/sessions?user=" + encodeURIComponent(asked))
      .then(function (r) {
        if (asked !== user) return;       // the field changed meanwhile
        if (r.status === 401) return signedOut();
        if (r.status !== 200) {
          body.replaceChildren();
          revokeAll.disabled = true;
          say(failure(r), "bad");
          return;
        }
        var list = r.body.sessions || [];
        demo.render(body, list, label, action);
        revokeAll.disabled = list.length === 0;
        say(list.length === 0
          ? "No live sessions of " + asked + "."
          : list.length + (list.length === 1 ? " live session of " : " live sessions of ") + asked +
            ", newest first.");
      })
      .catch(function () { say("Cannot reach the app; trying again.", "bad"); });
  }

  $("operator-form").addEventListener("submit", function (event) {
    event.preventDefault();
    user = input.value.trim();
    say("Loading…", "", false);
    loadSessions();
  });

  revokeAll.addEventListener("click", function () {
    var asked = user;
    revokeAll.disabled = true;
    demo.request("POST", "/operator/api/sessions/revoke?user=" + encodeURIComponent(asked))
      .then(function (r) {
        if (r.status === 401) return signedOut();
        if (r.status === 200) {
          var n = r.body.revoked;
          say("Revoked " + n + (n === 1 ? " session of " : " sessions of ") + asked + ".", "ok", true);
        } else {
          say(failure(r), "bad", true);
        }
        return loadSessions();
      })
      .catch(function () { revokeAll.disabled = false; say("Cannot reach the app.", "bad", true); });
  });

  // ---- redirects to login ----

  // The gateway exports every route × reason from the start, most at 0:
  // a series is charted and listed once it has counted something.
  var series = {};      // "route\u0000reason" -> {route, reason, color, total}
  var order = [];       // keys with a count, in the order colours were given
  var samples = [];     // [{at: ms, deltas: {key: n}}], oldest first
  var last = null;      // the previous totals, {key: n}

  function key(r) { return r.route + "\u0000" + r.reason; }
  function name(s) { return s.route + " · " + s.reason; }

  function addSample(list) {
    var totals = {};
    list.forEach(function (r) {
      var k = key(r);
      totals[k] = r.count;
      if (!series[k] && r.count > 0) {
        series[k] = { route: r.route, reason: r.reason, color: COLORS[order.length % COLORS.length] };
        order.push(k);
      }
      if (series[k]) series[k].total = r.count;
    });
    var deltas = {};
    if (last !== null) {
      Object.keys(totals).forEach(function (k) {
        var before = last[k] || 0;
        // A counter that went down was reset (the gateway restarted).
        deltas[k] = totals[k] >= before ? totals[k] - before : totals[k];
      });
    }
    last = totals;
    samples.push({ at: Date.now(), deltas: deltas });
    if (samples.length > HISTORY) samples.shift();
  }

  function recent(k) {
    return samples.reduce(function (sum, s) { return sum + (s.deltas[k] || 0); }, 0);
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (a) { node.setAttribute(a, attrs[a]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function draw() {
    var W = 560, H = 180, left = 34, right = 8, top = 10, bottom = 22;
    var plotW = W - left - right, plotH = H - top - bottom;
    var peak = samples.reduce(function (max, s) {
      var sum = order.reduce(function (t, k) { return t + (s.deltas[k] || 0); }, 0);
      return Math.max(max, sum);
    }, 0);
    var yMax = Math.max(2, Math.ceil(peak / 2) * 2);
    var y = function (v) { return top + plotH - (v / yMax) * plotH; };
    var nodes = [];
    [0, yMax / 2, yMax].forEach(function (v) {
      nodes.push(svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), "class": "grid" }));
      nodes.push(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", "class": "tick" }, String(v)));
    });
    nodes.push(svg("text", { x: left, y: H - 6, "class": "tick" }, "−2 min"));
    nodes.push(svg("text", { x: W - right, y: H - 6, "text-anchor": "end", "class": "tick" }, "now"));
    var slot = plotW / HISTORY;
    var offset = HISTORY - samples.length;  // newest bar at the right edge
    samples.forEach(function (s, i) {
      var base = 0;
      order.forEach(function (k) {
        var n = s.deltas[k] || 0;
        if (n === 0) return;
        var rect = svg("rect", {
          x: left + (offset + i) * slot + 1,
          y: y(base + n),
          width: Math.max(1, slot - 2),
          height: y(base) - y(base + n),
          fill: series[k].color
        });
        rect.appendChild(svg("title", {}, name(series[k]) + ": " + n + " at " + demo.clock(s.at / 1000)));
        nodes.push(rect);
        base += n;
      });
    });
    $("redirects-plot").replaceChildren.apply($("redirects-plot"), nodes);

    var parts = order.filter(function (k) { return recent(k) > 0; })
      .map(function (k) { return name(series[k]) + " " + recent(k); });
    var total = order.reduce(function (t, k) { return t + recent(k); }, 0);
    $("redirects-desc").textContent = total === 0
      ? "No redirects to login in the last two minutes."
      : total + " redirects to login in the last two minutes: " + parts.join(", ") + ".";

    $("redirects-legend").replaceChildren.apply($("redirects-legend"), order.map(function (k) {
      var li = demo.el("li");
      var swatch = demo.el("span", null, "swatch");
      swatch.style.background = series[k].color;
      swatch.setAttribute("aria-hidden", "true");
      li.appendChild(swatch);
      li.appendChild(document.createTextNode(name(series[k])));
      return li;
    }));

    var rows = order.map(function (k) {
      var tr = demo.el("tr");
      tr.appendChild(demo.el("td", series[k].route));
      tr.appendChild(demo.el("td", series[k].reason));
      tr.appendChild(demo.el("td", String(recent(k))));
      tr.appendChild(demo.el("td", String(series[k].total)));
      return tr;
    });
    if (rows.length === 0) {
      var td = demo.el("td", "No redirects to login since the gateway started.", "muted");
      td.colSpan = 4;
      var tr = demo.el("tr");
      tr.appendChild(td);
      rows.push(tr);
    }
    $("redirects-body").replaceChildren.apply($("redirects-body"), rows);
  }

  function loadRedirects() {
    return demo.request("GET", "/operator/api/redirects").then(function (r) {
      if (r.status === 401) return signedOut();
      if (r.status !== 200) { sayChart(failure(r), "bad"); return; }
      addSample(r.body.redirects || []);
      draw();
      sayChart("Updated " + demo.clock(Date.now() / 1000) + "; next in 5 s.");
    }).catch(function () { sayChart("Cannot reach the app; trying again.", "bad"); });
  }

  function poll() {
    loadSessions();
    loadRedirects();
  }

  timer = setInterval(poll, POLL_MS);
  poll();
})();
