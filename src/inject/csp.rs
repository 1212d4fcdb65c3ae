//! Content-Security-Policy: letting the warning script through a policy
//! that would block a same-origin script, and nothing more.
//!
//! Each enforced policy (every `Content-Security-Policy` header, and each
//! comma-separated policy in one) is looked at on its own, as browsers
//! enforce them all. The directive that governs a `<script src>` element is
//! `script-src-elem`, else `script-src`, else `default-src`; without any,
//! the policy allows scripts. When that directive does not already allow
//! `/.sessiongate/warning.js` from the gateway's origin (`'self'`, `*`, a
//! matching scheme or host source), or when it carries `'strict-dynamic'`
//! (which makes browsers ignore `'self'` and hosts), a fresh nonce is added
//! to it, and the tag carries that nonce. A `'none'` in it goes (it would
//! be void beside a source anyway). One exception: a directive with
//! `'unsafe-inline'` and no nonce or hash would lose `'unsafe-inline'` to a
//! nonce (CSP Level 2 and later ignore it once a nonce is present), so
//! there the script's own URL is added instead and the page's inline
//! scripts keep working. `Content-Security-Policy-Report-Only` is never
//! touched: it blocks nothing.

use http::header::CONTENT_SECURITY_POLICY;
use http::{HeaderMap, HeaderValue};

use super::scan::MARKER;

/// The scheme, host and port the browser sees the gateway at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    /// Lowercase, without port; an IPv6 address keeps its brackets.
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// From a `Host` (or `X-Forwarded-Host`) value.
    pub fn parse(https: bool, host: &str) -> Option<Origin> {
        let host = host.trim().to_ascii_lowercase();
        let default = if https { 443 } else { 80 };
        let (name, port) = match host.rfind(':') {
            Some(i) if !host[i..].contains(']') => (&host[..i], host[i + 1..].parse().ok()?),
            _ => (host.as_str(), default),
        };
        // Only what a host name or an IP literal holds: the script's URL
        // is written into the policy, where `,` would start another policy,
        // `;` another directive, and a control character break the header.
        let host_byte = |b: u8| b.is_ascii_alphanumeric() || b"-._~[]:%".contains(&b);
        if name.is_empty() || !name.bytes().all(host_byte) {
            return None;
        }
        Some(Origin {
            https,
            host: name.to_owned(),
            port,
        })
    }

    fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    fn default_port(&self) -> bool {
        self.port == if self.https { 443 } else { 80 }
    }

    /// The script's own URL, as a CSP source.
    fn script_source(&self) -> String {
        let marker = std::str::from_utf8(MARKER).unwrap_or_default();
        if self.default_port() {
            format!("{}://{}{marker}", self.scheme(), self.host)
        } else {
            format!("{}://{}:{}{marker}", self.scheme(), self.host, self.port)
        }
    }
}

/// Why a policy could not be adjusted: the page is then left alone.
#[derive(Debug, thiserror::Error)]
pub enum CspError {
    #[error("a Content-Security-Policy header is not readable text")]
    NotText,
    #[error("the OS random number generator failed: no nonce")]
    Randomness(#[source] getrandom::Error),
}

/// Adjusts every enforced policy in `headers` so that the warning script
/// from `origin` may run. Returns the nonce the tag must carry, if one was
/// added. Headers change only when every policy could be read.
pub fn allow_warning(
    headers: &mut HeaderMap,
    origin: Option<&Origin>,
) -> Result<Option<String>, CspError> {
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        return Ok(None);
    }
    let values = headers
        .get_all(CONTENT_SECURITY_POLICY)
        .iter()
        .map(|v| v.to_str().map(str::to_owned).map_err(|_| CspError::NotText))
        .collect::<Result<Vec<_>, _>>()?;
    let mut nonce: Option<String> = None;
    let mut rewritten = Vec::with_capacity(values.len());
    for value in &values {
        let mut policies = Vec::new();
        for policy in value.split(',') {
            policies.push(match needs(policy, origin) {
                Need::Nothing => policy.to_owned(),
                Need::Url(url) => add_source(policy, &url),
                Need::Nonce => {
                    let n = match &nonce {
                        Some(n) => n.clone(),
                        None => nonce.insert(fresh_nonce()?).clone(),
                    };
                    add_source(policy, &format!("'nonce-{n}'"))
                }
            });
        }
        rewritten.push(policies.join(","));
    }
    // Every value is checked before any header goes: a failure leaves the
    // page's policies as they were, never none.
    let rewritten = rewritten
        .iter()
        .map(|value| HeaderValue::from_str(value).map_err(|_| CspError::NotText))
        .collect::<Result<Vec<_>, _>>()?;
    headers.remove(CONTENT_SECURITY_POLICY);
    for value in rewritten {
        headers.append(CONTENT_SECURITY_POLICY, value);
    }
    Ok(nonce)
}

/// 128 bits from the OS CSPRNG, as session ids are.
fn fresh_nonce() -> Result<String, CspError> {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(CspError::Randomness)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What one policy needs for the script to run.
#[derive(Debug, PartialEq, Eq)]
enum Need {
    Nothing,
    Nonce,
    Url(String),
}

/// The directives of a policy: name (lowercase) and source tokens. The
/// first of a name counts; browsers ignore repeats.
fn governing(policy: &str) -> Option<(usize, Vec<&str>)> {
    let directives: Vec<(String, Vec<&str>)> = policy
        .split(';')
        .map(|d| {
            let mut tokens = d.split_ascii_whitespace();
            let name = tokens.next().unwrap_or("").to_ascii_lowercase();
            (name, tokens.collect())
        })
        .collect();
    ["script-src-elem", "script-src", "default-src"]
        .iter()
        .find_map(|want| {
            directives
                .iter()
                .position(|(name, _)| name == want)
                .map(|i| (i, directives[i].1.clone()))
        })
}

fn needs(policy: &str, origin: Option<&Origin>) -> Need {
    let Some((_, tokens)) = governing(policy) else {
        return Need::Nothing;
    };
    let lower: Vec<String> = tokens.iter().map(|t| t.to_ascii_lowercase()).collect();
    let has = |t: &str| lower.iter().any(|l| l == t);
    let strict_dynamic = has("'strict-dynamic'");
    if !strict_dynamic && lower.iter().any(|t| allows(t, origin)) {
        return Need::Nothing;
    }
    let nonce_or_hash = lower
        .iter()
        .any(|t| t.starts_with("'nonce-") || t.starts_with("'sha"));
    match origin {
        Some(origin) if has("'unsafe-inline'") && !nonce_or_hash && !strict_dynamic => {
            Need::Url(origin.script_source())
        }
        _ => Need::Nonce,
    }
}

/// Adds `source` to the governing directive of `policy`, dropping a
/// `'none'`; every other directive stays as written.
fn add_source(policy: &str, source: &str) -> String {
    let Some((index, tokens)) = governing(policy) else {
        return policy.to_owned();
    };
    let mut directives: Vec<String> = policy.split(';').map(str::to_owned).collect();
    let name = directives[index]
        .split_ascii_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut kept: Vec<&str> = tokens
        .into_iter()
        .filter(|t| !t.eq_ignore_ascii_case("'none'"))
        .collect();
    kept.push(source);
    let lead: String = directives[index]
        .chars()
        .take_while(char::is_ascii_whitespace)
        .collect();
    directives[index] = format!("{lead}{name} {}", kept.join(" "));
    directives.join(";")
}

/// Whether one source expression (lowercase) allows the script from `origin`.
fn allows(token: &str, origin: Option<&Origin>) -> bool {
    if token == "'self'" || token == "*" {
        return true;
    }
    let Some(origin) = origin else {
        return false;
    };
    match token {
        "https:" => return origin.https,
        "http:" => return true,
        _ => {}
    }
    if token.starts_with('\'') || token.ends_with(':') {
        return false;
    }
    host_source_allows(token, origin)
}

/// `[scheme://]host[:port][/path]` against the script's URL.
fn host_source_allows(token: &str, origin: &Origin) -> bool {
    let (scheme, rest) = match token.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, token),
    };
    let scheme_ok = match scheme {
        None => true,
        Some("https") => origin.https,
        // http: sources also allow the https upgrade.
        Some("http") => true,
        Some(_) => false,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    let host_ok = match host.strip_prefix("*.") {
        Some(suffix) => origin
            .host
            .strip_suffix(suffix)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        None => host == origin.host,
    };
    let port_ok = match port {
        Some("*") => true,
        Some(p) => p.parse::<u16>().is_ok_and(|p| p == origin.port),
        None => match scheme {
            Some("http") => origin.port == 80 || (origin.https && origin.port == 443),
            Some(_) => origin.default_port(),
            None => origin.default_port(),
        },
    };
    let marker = std::str::from_utf8(MARKER).unwrap_or_default();
    let path_ok =
        path.is_empty() || (path.ends_with('/') && marker.starts_with(path)) || path == marker;
    scheme_ok && host_ok && port_ok && path_ok
}

#[cfg(test)]
#[path = "csp_tests.rs"]
mod tests;
