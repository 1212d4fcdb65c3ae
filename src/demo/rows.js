// sessiongate demo: the session table both session pages draw.
//
// Times are readable ("14:02:31", "3 min ago", "in 45 s"), with the full
// date and time in each cell's tooltip. Rows are built with DOM calls, never
// from HTML strings: a handle or a user name cannot become markup.
(function () {
  "use strict";

  function two(n) { return n < 10 ? "0" + n : String(n); }

  // A point in time: the clock time today, with the date on other days.
  function clock(unix) {
    var d = new Date(unix * 1000);
    var time = two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
    return d.toDateString() === new Date().toDateString() ? time : d.toLocaleDateString() + " " + time;
  }

  // A length of time: "45 s", "3 min 5 s", "2 h 10 min", "3 days".
  function span(seconds) {
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60);
    if (m < 10) return m + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
    if (m < 60) return m + " min";
    var h = Math.floor(m / 60);
    if (h < 48) return h + " h" + (m % 60 ? " " + (m % 60) + " min" : "");
    return Math.floor(h / 24) + " days";
  }

  function ago(unix) {
    var s = Date.now() / 1000 - unix;
    return s < 5 ? "just now" : span(s) + " ago";
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function timeCell(unix, text) {
    var td = el("td");
    var t = el("time", text);
    var d = new Date(unix * 1000);
    t.dateTime = d.toISOString();
    t.title = d.toLocaleString();
    td.appendChild(t);
    return td;
  }

  // The first characters of a handle: enough to tell sessions apart.
  function shortHandle(handle) { return handle.slice(0, 8); }

  // Fills `tbody` with one row per session ({handle, created, last_seen,
  // expires_in, current?}). `label(session)` and `action(session)` return
  // the first and last cells' content (a node or null).
  function render(tbody, sessions, label, action) {
    var rows = sessions.map(function (s) {
      var tr = el("tr", null, s.current ? "current" : "");
      tr.dataset.handle = s.handle;
      var first = el("td");
      first.appendChild(label(s));
      tr.appendChild(first);
      tr.appendChild(timeCell(s.created, clock(s.created)));
      tr.appendChild(timeCell(s.last_seen, ago(s.last_seen)));
      tr.appendChild(el("td", "in " + span(s.expires_in), "expires"));
      var last = el("td", null, "action");
      var node = action(s);
      if (node) last.appendChild(node);
      tr.appendChild(last);
      return tr;
    });
    if (rows.length === 0) {
      var empty = el("td", "No live sessions.", "muted");
      empty.colSpan = 5;
      var tr = el("tr");
      tr.appendChild(empty);
      rows.push(tr);
    }
    tbody.replaceChildren.apply(tbody, rows);
  }

  // fetch() for the JSON endpoints: same-origin, never cached;
  // resolves with {status, body} (body {} when it is not JSON).
  function request(method, url) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      cache: "no-store",
      // Either one makes the gateway answer 401 JSON, not a redirect to
      // the login page, once the session is gone.
      headers: { "Accept": "application/json", "X-Requested-With": "XMLHttpRequest" }
    }).then(function (res) {
      return res.json()
        .catch(function () { return {}; })
        .then(function (body) { return { status: res.status, body: body }; });
    });
  }

  // Status messages that stay a while: a poll does not wipe out the answer
  // to a click the moment after it appeared.
  function statusLine(node) {
    var holdUntil = 0;
    return function (text, kind, hold) {
      if (!hold && Date.now() < holdUntil) return;
      holdUntil = hold ? Date.now() + 8000 : 0;
      if (node.textContent !== text) node.textContent = text;
      node.dataset.kind = kind || "";
    };
  }

  window.sessiongateDemo = {
    clock: clock,
    span: span,
    el: el,
    shortHandle: shortHandle,
    render: render,
    request: request,
    statusLine: statusLine
  };
})();
