//! The demo's HTML. Plain strings with every interpolated value escaped:
//! the login form echoes a username and a `next` path that came from the
//! request, and must not become a place to inject markup.
//!
//! Element ids are part of the demo's interface (a browser test drives
//! them): `#login-form`, `#username`, `#password`, `#submit`, `#error`,
//! `#user`, `#page-path`, `#countdown`, `#warning`, `#expired`,
//! `#stay-signed-in`, `#logout`.

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
    layout("Sign in", &content, false)
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
</ul>
</section>
{panel}"#,
        user = escape(user),
        panel = session_panel("/"),
    );
    layout("Home", &content, true)
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
    layout("Protected page", &content, true)
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
</section>
"#,
        here = escape(here),
    )
}

/// The frame every page shares. Protected pages load the panel's script.
fn layout(title: &str, content: &str, signed_in: bool) -> String {
    let nav = if signed_in {
        r#"<nav><a href="/">Home</a><a href="/account">Account</a><a href="/reports/2026">Reports 2026</a></nav>"#
    } else {
        ""
    };
    let script = if signed_in {
        "<script src=\"/assets/session.js\" defer></script>\n"
    } else {
        ""
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · sessiongate demo</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
{script}</head>
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
    fn error_only_when_given() {
        assert!(!login("/", "", None).contains("id=\"error\""));
        assert!(login("/", "", Some("no")).contains("id=\"error\""));
    }
}
