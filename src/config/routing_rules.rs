//! Stage two for where requests go: `[login]` targets, `[upstream]` and
//! the `[[route]]` list.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

use super::raw::{RawLogin, RawRoute, RawUpstream};
use super::validate::Validator;
use super::{LoginConfig, OnUnauthenticated, Route, UpstreamConfig};

impl Validator<'_, '_> {
    pub(super) fn login(&mut self, raw: &RawLogin) -> Option<LoginConfig> {
        let url = self.redirect_target("login.url", &raw.url, "/login");
        let next_param = if raw.next_param.is_empty() {
            Some(None)
        } else if raw
            .next_param
            .chars()
            .any(|c| !c.is_ascii_graphic() || "&=#?+%".contains(c))
        {
            self.error(
                "login.next_param",
                format!(
                    "\"{}\" cannot be a query parameter name; use letters, digits, '-' or \
                     '_' (e.g. \"next\"), or \"\" for none",
                    raw.next_param
                ),
            );
            None
        } else {
            Some(Some(raw.next_param.clone()))
        };
        let logout_path = if !raw.logout_path.starts_with('/')
            || raw.logout_path.starts_with("//")
            || raw.logout_path.contains(['?', '#'])
        {
            self.error(
                "login.logout_path",
                format!(
                    "expected a path starting with a single \"/\" and no query \
                     (e.g. \"/.sessiongate/logout\"), got \"{}\"",
                    raw.logout_path
                ),
            );
            None
        } else {
            Some(raw.logout_path.clone())
        };
        let after_logout = if raw.after_logout.is_empty() {
            url.clone()
        } else {
            self.redirect_target("login.after_logout", &raw.after_logout, "/")
        };
        Some(LoginConfig {
            url: url?,
            next_param: next_param?,
            logout_path: logout_path?,
            after_logout: after_logout?,
        })
    }

    /// A path starting with a single `/`, or an absolute http(s) URL.
    fn redirect_target(&mut self, path: &str, value: &str, example: &str) -> Option<String> {
        if value.starts_with('/') && !value.starts_with("//") && !value.starts_with("/\\") {
            return Some(value.to_owned());
        }
        if value.starts_with("http://") || value.starts_with("https://") {
            match value.parse::<Uri>() {
                Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => {
                    return Some(value.to_owned());
                }
                _ => {}
            }
        }
        self.error(
            path,
            format!(
                "expected a path starting with a single \"/\" (e.g. \"{example}\") or an \
                 absolute http:// or https:// URL, got \"{value}\""
            ),
        );
        None
    }

    pub(super) fn upstream(&mut self, raw: &RawUpstream) -> Option<UpstreamConfig> {
        let url = self.upstream_uri("upstream.url", &raw.url);
        let connect_timeout = self.positive("upstream.connect_timeout", &raw.connect_timeout, "5s");
        let response_timeout =
            self.positive("upstream.response_timeout", &raw.response_timeout, "60s");
        let ca_file = (!raw.ca_file.trim().is_empty()).then(|| PathBuf::from(&raw.ca_file));
        Some(UpstreamConfig {
            url: url?,
            connect_timeout: connect_timeout?,
            response_timeout: response_timeout?,
            preserve_host: raw.preserve_host,
            ca_file,
        })
    }

    fn upstream_uri(&mut self, path: &str, value: &str) -> Option<Uri> {
        let example = "e.g. \"http://127.0.0.1:8000\"";
        let uri = match value.parse::<Uri>() {
            Ok(uri) => uri,
            Err(e) => {
                self.error(
                    path,
                    format!("\"{value}\" is not a valid URL ({e}); {example}"),
                );
                return None;
            }
        };
        let problem = match (uri.scheme_str(), uri.authority()) {
            (Some("http" | "https"), Some(a)) if a.host().is_empty() => Some("has no host"),
            (Some("http" | "https"), Some(a)) if a.as_str().contains('@') => {
                Some("must not carry user:password@")
            }
            (Some("http" | "https"), Some(_)) => None,
            _ => Some("must be an http:// or https:// URL with a host"),
        };
        let problem = problem.or(if uri.query().is_some() {
            Some("must not have a query string")
        } else if !matches!(uri.path(), "" | "/") {
            Some(
                "has a path, and path prefixes on upstreams are not supported; give only \
                 scheme, host and port",
            )
        } else {
            None
        });
        match problem {
            Some(p) => {
                self.error(path, format!("\"{value}\" {p}; {example}"));
                None
            }
            None => Some(uri),
        }
    }

    pub(super) fn routes(
        &mut self,
        raw: &[RawRoute],
        session_idle: Option<Duration>,
    ) -> Option<Vec<Route>> {
        let mut routes = Some(Vec::new());
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, r) in raw.iter().enumerate() {
            if !self.read(&format!("route[{i}]")) {
                routes = None;
                continue;
            }
            let route = self.route(i, r, session_idle);
            if let Some(route) = &route {
                if let Some(first) = names.get(&route.name) {
                    let (key, how) = match r.name {
                        Some(_) => ("name", ""),
                        None => ("path", " (a route's name defaults to its path)"),
                    };
                    self.error(
                        &format!("route[{i}].{key}"),
                        format!(
                            "route name \"{}\" is already used by route[{first}]{how}; route \
                             names label metrics and must be unique",
                            route.name
                        ),
                    );
                } else {
                    names.insert(route.name.clone(), i);
                }
            }
            match (route, routes.as_mut()) {
                (Some(route), Some(list)) => list.push(route),
                _ => routes = None,
            }
        }
        routes
    }

    fn route(&mut self, i: usize, raw: &RawRoute, session_idle: Option<Duration>) -> Option<Route> {
        let p = |key: &str| format!("route[{i}].{key}");
        let path = match raw.path.as_deref() {
            None => {
                self.error_at(
                    &p("path"),
                    &format!("route[{i}]"),
                    "required: the path prefix this route matches (e.g. \"/static/\")",
                );
                None
            }
            Some(path) if !path.starts_with('/') => {
                self.error(
                    &p("path"),
                    format!("must start with \"/\" (e.g. \"/static/\"), got \"{path}\""),
                );
                None
            }
            Some(path) => Some(path.to_owned()),
        };
        let name = match raw.name.as_deref() {
            Some("") => {
                self.error(
                    &p("name"),
                    "must not be empty; leave it out to use the path",
                );
                None
            }
            Some(name) => Some(name.to_owned()),
            None => path.clone(),
        };
        let host = match raw.host.as_deref() {
            None => Some(None),
            Some(h)
                if h.is_empty()
                    || h.contains(['/', ' ', '@'])
                    || (h.contains(':') && !h.starts_with('[')) =>
            {
                self.error(
                    &p("host"),
                    format!(
                        "expected a host name without port or path (e.g. \"app.example.com\"), \
                         got \"{h}\""
                    ),
                );
                None
            }
            // Canonical as requests' hosts are (route::request_host): one
            // trailing dot names the same host, empty labels none.
            Some(h)
                if h.strip_suffix('.')
                    .unwrap_or(h)
                    .split('.')
                    .any(str::is_empty) =>
            {
                self.error(
                    &p("host"),
                    format!("has an empty label (\"..\", or a leading dot), got \"{h}\""),
                );
                None
            }
            Some(h) => Some(Some(h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase())),
        };
        let upstream = match raw.upstream.as_deref() {
            None => Some(None),
            Some(u) => self.upstream_uri(&p("upstream"), u).map(Some),
        };
        let on_unauthenticated = self.one_of(
            &p("on_unauthenticated"),
            &raw.on_unauthenticated,
            &[
                ("auto", OnUnauthenticated::Auto),
                ("redirect", OnUnauthenticated::Redirect),
                ("401", OnUnauthenticated::Unauthorized),
            ],
        );
        let idle_timeout = match &raw.idle_timeout {
            None => Some(None),
            Some(d) => match (self.positive(&p("idle_timeout"), d, "5m"), session_idle) {
                (Some(d), Some(session)) if d >= session => {
                    self.error(
                        &p("idle_timeout"),
                        format!(
                            "must be shorter than session.idle_timeout ({}), got {}; a \
                             route's limit can only be stricter",
                            humantime::format_duration(session),
                            humantime::format_duration(d)
                        ),
                    );
                    None
                }
                (d, _) => d.map(Some),
            },
        };
        if raw.public && raw.inject_warning == Some(true) {
            self.error(
                &p("inject_warning"),
                "a public route has no session to warn about; remove inject_warning or \
                 public",
            );
            return None;
        }
        Some(Route {
            name: name?,
            path: path?,
            host: host?,
            public: raw.public,
            upstream: upstream?,
            on_unauthenticated: on_unauthenticated?,
            idle_timeout: idle_timeout?,
            extends_session: raw.extends_session,
            inject_warning: raw.inject_warning,
        })
    }
}
