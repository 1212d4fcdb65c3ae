//! The demo's HTML. Plain strings with every interpolated value escaped:
//! the login form echoes a username and a `next` path that came from the
//! request, and must not become a place to inject markup.
//!
//! Element ids are part of the demo's interface (a browser test drives
//! them): `#login-form`, `#username`, `#password`, `#submit`, `#error`,
//! `#user`, `#page-path`, `#countdown`, `#warning`, `#expired`,
//! `#stay-signed-in`, `#logout`; on "Your sessions" `#sessions-table`,
//! `#sessions-body`, `#sessions-status`, `#revoke-others`; on the operator
//! page `#operator-form`, `#operator-user`, `#operator-body`,
//! `#operator-status`, `#revoke-all`, `#redirects-chart`, `#redirects-body`.

use super::{DEMO_PASSWORD, DEMO_USER};

/// The login form. `next` goes back in a hidden field so a successful login
/// returns to the page first asked for; `username` is kept after a mistake.
pub(super) fn login(next: &str, username: &str, error: Option<&str>) -> String {
    let notice = if next.is_empty() || next == "/" {
        String::new()
    } else {
        format!(
            "<p class=\"muted\">Sign in to continue to <code>{}</code>.</p>\n",
            escape(next)
        )
    };
    let error = error
        .map(|e| {
            format!(
                "<p id=\"error\" class=\"error\" role=\"alert\">{}</p>\n",
                escape(e)
            )
        })
        .unwrap_or_default();
    let content = format!(
        r#"<section class="card">
<h1>Sign in</h1>
{notice}{error}<form id="login-form" method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" value="{username}" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button id="submit" type="submit">Sign in</button>
</form>
<p class="hint">Demo credentials: <code>{DEMO_USER}</code> / <code>{DEMO_PASSWORD}</code></p>
</section>
"#,
        next = escape(next),
        username = escape(username),
    );
    layout("Sign in", &content, false, &[])
}

/// The home page: who you are, where to go, and how to watch expiry happen.
pub(super) fn home(user: &str) -> String {
    let content = format!(
        r#"<section class="card">
<h1>Hello!</h1>
<p>Signed in as <strong id="user">{user}</strong>. You are on <code id="page-path">/</code>.</p>
<p>This application has no sessions of its own: sessiongate checked your
cookie, and told the app who you are with the <code>X-Sessiongate-User</code>
header.</p>
<h2>Try it</h2>
<ul>
<li>Open <a href="/account">your account</a> or <a href="/reports/2026">the 2026 report</a>:
every page you open restarts the idle clock.</li>
<li>Leave this tab alone and watch the countdown below. When it reaches zero,
open any page: the gateway sends you to sign in, then back to that page.</li>
<li>Press <em>Stay signed in</em> to extend the session without leaving the page.</li>
<li>Sign in from a second browser, then open <a href="/account/sessions">your sessions</a>:
both are listed, and either can sign the other out.</li>
<li>The <a href="/operator">operator page</a> lists a user's sessions through the
gateway's admin API, revokes them, and charts the redirects to login.</li>
</ul>
</section>
{panel}"#,
        user = escape(user),
        panel = session_panel("/"),
    );
    layout("Home", &content, true, &[])
}

/// Any other protected page: shows the path that was asked for, so a test
/// (or a person) can see that signing in again returned to it.
pub(super) fn other(user: &str, path: &str, here: &str) -> String {
    let content = format!(
        r#"<section class="card">
<h1>A protected page</h1>
<p>Signed in as <strong id="user">{user}</strong>. You asked for <code id="page-path">{path}</code>.</p>
<p>Only a request with a live session gets here; without one the gateway
would have sent you to the login page.</p>
</section>
{panel}"#,
        user = escape(user),
        path = escape(path),
        panel = session_panel(here),
    );
    layout("Protected page", &content, true, &[])
}

/// "Your sessions": the signed-in user's live sessions, listed and ended
/// from the browser through the gateway's self-service endpoints
/// (`/assets/sessions.js`).
pub(super) fn sessions(user: &str, here: &str) -> String {
    let content = format!(
        r#"<section class="card">
<h1>Your sessions</h1>
<p>Signed in as <strong id="user">{user}</strong>. These are the places you are signed in,
newest first, as the gateway knows them. Sign in from another browser (or a private
window) and it appears here; sign it out from this page and its next request goes to the
login page.</p>
<p id="sessions-status" class="status" role="status" aria-live="polite">Loading…</p>
<div class="table-scroll">
<table id="sessions-table">
<caption class="visually-hidden">Your live sessions</caption>
<thead><tr><th scope="col">Session</th><th scope="col">Signed in</th><th scope="col">Last active</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody id="sessions-body"></tbody>
</table>
</div>
<div class="actions">
<button id="revoke-others" type="button" class="secondary">Sign out all other sessions</button>
</div>
<p class="hint">The list comes from <code>GET /.sessiongate/sessions</code> every 5 seconds
(asking never extends a session); the buttons <code>POST</code> to
<code>/.sessiongate/sessions/HANDLE/revoke</code> and
<code>/.sessiongate/sessions/revoke-others</code>. A session is named by a handle, never by
its cookie.</p>
</section>
{panel}"#,
        user = escape(user),
        panel = session_panel(here),
    );
    layout("Your sessions", &content, true, &["rows.js", "sessions.js"])
}

/// The operator page: any user's sessions and the redirects to login, from
/// the demo app's `/operator/api/` routes (`/assets/operator.js`), which
/// call the admin API server-side. `connected`: there is an admin API.
pub(super) fn operator(user: &str, here: &str, connected: bool) -> String {
    let offline = if connected {
        ""
    } else {
        r#"<p id="operator-offline" class="error" role="alert">This app is not connected to a
gateway's admin API (it runs alone, as <code>sessiongate demo-app</code>). Run
<code>sessiongate demo</code> to see this page work.</p>
"#
    };
    let content = format!(
        r#"<section class="card">
<h1>Operator</h1>
<p>Signed in as <strong id="user">{user}</strong>. What an operator sees: a user's live
sessions and the redirects to login. This app asks the gateway's admin API
(<code>GET</code>/<code>DELETE /sessions</code> on the admin listener, with a bearer token the
demo generated at start) and its <code>/metrics</code> itself; your browser only talks to this
app. In a real deployment this page would be for operators only.</p>
{offline}<h2>Sessions of a user</h2>
<form id="operator-form" class="inline-form">
<label for="operator-user">User</label>
<input id="operator-user" name="user" value="{demo}" autocomplete="off" spellcheck="false">
<button id="operator-load" type="submit">Show</button>
</form>
<p id="operator-status" class="status" role="status" aria-live="polite">Loading…</p>
<div class="table-scroll">
<table id="operator-table">
<caption class="visually-hidden">Live sessions of the user</caption>
<thead><tr><th scope="col">Handle</th><th scope="col">Signed in</th><th scope="col">Last active</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody id="operator-body"></tbody>
</table>
</div>
<div class="actions">
<button id="revoke-all" type="button" class="danger">Revoke all sessions of this user</button>
</div>
<p class="hint">Revoking every session of <code>{demo}</code> signs this browser out too: the
demo has one account.</p>
</section>
<section class="card">
<h2 id="redirects-title">Redirects to login</h2>
<p>Requests the gateway sent to the login page, by route and reason
(<code>sessiongate_redirects_total</code>), per 5-second interval over the last two minutes:
what a Grafana panel of <code>rate(sessiongate_redirects_total[1m])</code> shows.</p>
<figure id="redirects-chart" class="chart">
<svg id="redirects-svg" viewBox="0 0 560 180" role="img" aria-labelledby="redirects-title redirects-desc">
<desc id="redirects-desc">No data yet.</desc>
<g id="redirects-plot"></g>
</svg>
<figcaption><ul id="redirects-legend" class="legend"></ul></figcaption>
</figure>
<p id="redirects-status" class="status">Loading…</p>
<div class="table-scroll">
<table id="redirects-table">
<caption class="visually-hidden">Redirects to login by route and reason</caption>
<thead><tr><th scope="col">Route</th><th scope="col">Reason</th><th scope="col">Last 2 min</th><th scope="col">Since start</th></tr></thead>
<tbody id="redirects-body"></tbody>
</table>
</div>
<p class="hint">Reasons: <code>missing</code> (no cookie), <code>expired</code> (the session
ended: idle, absolute, revoked), <code>invalid</code> (a cookie the gateway does not accept).
Open a page in a private window, or let a session expire and reload, to see a bar.</p>
</section>
{panel}"#,
        user = escape(user),
        demo = escape(DEMO_USER),
        panel = session_panel(here),
    );
    layout("Operator", &content, true, &["rows.js", "operator.js"])
}

/// The countdown panel, driven by `/assets/session.js`. `here` is where
/// "Log in again" goes: reloading the page lets the gateway redirect to
/// login with this page as `next`.
fn session_panel(here: &str) -> String {
    format!(
        r#"<section class="card session" aria-live="polite">
<h2>Your session</h2>
<p class="countdown"><span id="countdown">…</span> <span class="unit">seconds left</span></p>
<p id="warning" class="warning" hidden>Your session is about to expire. Press <em>Stay signed in</em> to keep it.</p>
<p id="expired" class="expired" hidden>Session expired. <a id="login-again" href="{here}">Log in again</a></p>
<div class="actions">
<button id="stay-signed-in" type="button">Stay signed in</button>
<a id="logout" class="button secondary" href="/.sessiongate/logout">Sign out</a>
</div>
<p class="hint">The page asks the gateway for <code>/.sessiongate/session</code>
every 5 seconds; asking does not extend the session.</p>
<p class="live-clock">Live clock over a WebSocket: <strong id="live-clock">connecting…</strong></p>
<p id="live-clock-ended" class="expired" hidden></p>
<p class="hint">The gateway closes the clock's WebSocket the moment the session ends.</p>
</section>
"#,
        here = escape(here),
    )
}

/// The frame every page shares. Protected pages load the panel's script,
/// then `scripts` (files under `/assets/`, run in this order).
fn layout(title: &str, content: &str, signed_in: bool, scripts: &[&str]) -> String {
    let nav = if signed_in {
        concat!(
            r#"<nav><a href="/">Home</a><a href="/account">Account</a>"#,
            r#"<a href="/reports/2026">Reports 2026</a>"#,
            r#"<a href="/account/sessions">Your sessions</a><a href="/operator">Operator</a></nav>"#
        )
    } else {
        ""
    };
    let scripts: String = signed_in
        .then_some(["session.js", "clock.js"])
        .iter()
        .flatten()
        .chain(scripts)
        .map(|src| format!("<script src=\"/assets/{}\" defer></script>\n", escape(src)))
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · sessiongate demo</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
{scripts}</head>
<body>
<main class="wrap">
<header class="top"><span class="brand">sessiongate <span class="tag">demo</span></span>{nav}</header>
{content}<footer>A demo application behind sessiongate, a gateway that makes sessions expire.</footer>
</main>
</body>
</html>
"#,
        title = escape(title),
    )
}

/// HTML-escape text for element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_echoed_values() {
        let page = login("/\"><script>x</script>", "<b>", Some("bad"));
        assert!(!page.contains("<script>x"));
        assert!(page.contains("&quot;&gt;&lt;script&gt;"));
        assert!(page.contains("value=\"&lt;b&gt;\""));
    }

    #[test]
    fn session_control_pages_load_their_scripts_and_escape_the_user() {
        let page = sessions("<b>", "/account/sessions");
        assert!(page.contains("/assets/sessions.js") && page.contains("/assets/session.js"));
        assert!(page.contains("&lt;b&gt;") && !page.contains("<b>"));
        let page = operator("demo", "/operator", true);
        assert!(page.contains("/assets/operator.js"));
        assert!(page.contains(r#"id="operator-user" name="user" value="demo""#));
        assert!(!page.contains("operator-offline"));
        assert!(operator("demo", "/operator", false).contains("operator-offline"));
    }

    #[test]
    fn error_only_when_given() {
        assert!(!login("/", "", None).contains("id=\"error\""));
        assert!(login("/", "", Some("no")).contains("id=\"error\""));
    }
}
