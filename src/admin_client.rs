//! The client side of the admin session API (SPEC §9): what
//! `sessiongate sessions list|revoke` sends to the admin listener, and how
//! its answers read.
//!
//! [`Target::resolve`] decides where to send and which token to present,
//! from the command line, `$SESSIONGATE_ADMIN_TOKEN` and the config, as
//! plain values: `main.rs` loads the config only when a flag or the
//! environment leaves something open ([`Flags::needs_config`]).
//! [`AdminClient`] makes the three requests; every status the API can
//! answer becomes a [`ClientError`] that names the fix. [`table`] and
//! [`revoked`] say the answers to people.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

mod table;
mod target;

pub use table::{duration, revoked, table, timestamp};
pub use target::{AdminUrl, Flags, FromConfig, Target, Token};

/// The environment variable that, when set and not empty, is the token
/// (the gateway reads the same one).
pub use crate::admin::token::TOKEN_ENV;

/// One request, connect to last body byte; the API answers from one or two
/// store round trips, so only a hung listener or store gets near it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A listing of thousands of sessions fits many times over.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// RFC 3986 unreserved characters stay; everything else is percent-encoded,
/// so a user or handle can never add a query parameter or a path segment.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a command could not be carried out. Each message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no admin token: set admin.token_file in {}, or {TOKEN_ENV}, or pass --token-file FILE",
        config.as_deref().map_or("the config".into(), |p| p.display().to_string())
    )]
    NoToken { config: Option<PathBuf> },
    #[error("{origin} {}: cannot read the admin token", path.display())]
    TokenRead {
        origin: TokenOrigin,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin} {}: is empty; write the gateway's admin token into it", path.display())]
    TokenEmpty { origin: TokenOrigin, path: PathBuf },
    #[error(
        "the admin token holds characters an HTTP header cannot carry; use a token of printable ASCII"
    )]
    TokenNotAHeader,
    #[error("--admin {given:?}: {reason}; e.g. --admin http://127.0.0.1:9090")]
    BadAdminUrl { given: String, reason: &'static str },
    /// See [`ClientError::hint`].
    #[error("cannot reach the admin listener at {base}")]
    Unreachable {
        base: AdminUrl,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error(
        "the admin listener at {base} did not answer within {}s",
        REQUEST_TIMEOUT.as_secs()
    )]
    Timeout { base: AdminUrl },
    #[error("the answer from the admin listener at {base} broke off")]
    Body {
        base: AdminUrl,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "the admin listener at {base} refused the token (401): use the token the gateway has \
         (its admin.token_file or {TOKEN_ENV}), or pass --token-file FILE"
    )]
    Unauthorized { base: AdminUrl },
    #[error(
        "the session API is off at {base} (404): set admin.token_file or {TOKEN_ENV} \
         for the gateway and restart it"
    )]
    ApiOff { base: AdminUrl },
    #[error(
        "the gateway at {base} is not in managed mode (409): only session.mode = \"managed\" \
         knows whose a session is; end sessions in the application that issues them"
    )]
    UnsupportedMode { base: AdminUrl },
    #[error("no live session has that handle (404): list the user's sessions for their handles")]
    UnknownHandle,
    #[error("the admin listener at {base} answered {status}{}", error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default())]
    Status {
        base: AdminUrl,
        status: StatusCode,
        /// The JSON answer's `error` field, when it has one.
        error: Option<String>,
    },
    #[error("the admin listener at {base} answered {status} with JSON this client does not know")]
    BadAnswer {
        base: AdminUrl,
        status: StatusCode,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The fix, for errors whose message ends in their cause (printed on a
    /// line of its own after it).
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ClientError::Unreachable { .. } | ClientError::Timeout { .. } => Some(
                "is the gateway running, and is that its admin listener? \
                 The config's [admin] listen names it; --admin URL overrides it",
            ),
            _ => None,
        }
    }
}

/// Where a token file was named, for messages that point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOrigin {
    Flag,
    Config,
}

impl fmt::Display for TokenOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenOrigin::Flag => "--token-file",
            TokenOrigin::Config => "admin.token_file",
        })
    }
}

/// One session in a listing (SPEC §9), as the API gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListedSession {
    pub handle: String,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds.
    pub last_seen: u64,
    /// Seconds until the idle timeout ends it.
    pub expires_in: u64,
    /// Seconds until the absolute timeout ends it; `None`: no such limit.
    pub absolute_expires_in: Option<u64>,
}

/// `GET /sessions?user=U`: typed, and the JSON as answered (for `--json`).
#[derive(Debug, Clone)]
pub struct Listing {
    pub user: String,
    pub sessions: Vec<ListedSession>,
    pub json: serde_json::Value,
}

/// What to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    /// Every live session of a user.
    User(String),
    /// One session.
    Handle(String),
}

/// A revocation's answer: how many sessions ended, and the JSON.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub revoked: u64,
    pub json: serde_json::Value,
}

#[derive(Deserialize)]
struct ListingBody {
    user: String,
    sessions: Vec<ListedSession>,
}

#[derive(Deserialize)]
struct RevokedBody {
    revoked: u64,
}

/// What a request is, for reading a `404`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Listing,
    RevokeUser,
    RevokeHandle,
}

/// A client of one gateway's admin session API.
pub struct AdminClient {
    target: Target,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl AdminClient {
    pub fn new(target: Target) -> AdminClient {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new()).build(connector);
        AdminClient { target, http }
    }

    /// `GET /sessions?user=U`: the user's live sessions, newest first.
    pub async fn list(&self, user: &str) -> Result<Listing, ClientError> {
        let json = self
            .call(Method::GET, &users_path(user), Call::Listing)
            .await?;
        let body: ListingBody = self.decode(&json)?;
        Ok(Listing {
            user: body.user,
            sessions: body.sessions,
            json,
        })
    }

    /// Ends what `revoke` names.
    pub async fn revoke(&self, revoke: &Revoke) -> Result<Revoked, ClientError> {
        match revoke {
            Revoke::User(user) => self.revoke_user(user).await,
            Revoke::Handle(handle) => self.revoke_handle(handle).await,
        }
    }

    /// `DELETE /sessions?user=U`: ends every live session of the user.
    pub async fn revoke_user(&self, user: &str) -> Result<Revoked, ClientError> {
        let json = self
            .call(Method::DELETE, &users_path(user), Call::RevokeUser)
            .await?;
        self.revoked(json)
    }

    /// `DELETE /sessions/HANDLE`: ends one session.
    pub async fn revoke_handle(&self, handle: &str) -> Result<Revoked, ClientError> {
        let path = format!("/sessions/{}", utf8_percent_encode(handle, COMPONENT));
        let json = self.call(Method::DELETE, &path, Call::RevokeHandle).await?;
        self.revoked(json)
    }

    fn revoked(&self, json: serde_json::Value) -> Result<Revoked, ClientError> {
        let body: RevokedBody = self.decode(&json)?;
        Ok(Revoked {
            revoked: body.revoked,
            json,
        })
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        json: &serde_json::Value,
    ) -> Result<T, ClientError> {
        T::deserialize(json).map_err(|source| ClientError::BadAnswer {
            base: self.target.base.clone(),
            status: StatusCode::OK,
            source,
        })
    }

    /// Sends one request; a `200`'s JSON, or the error its status means.
    async fn call(
        &self,
        method: Method,
        path: &str,
        call: Call,
    ) -> Result<serde_json::Value, ClientError> {
        let (status, body) = self.send(method, path).await?;
        let base = &self.target.base;
        match status {
            StatusCode::OK => {
                serde_json::from_slice(&body).map_err(|source| ClientError::BadAnswer {
                    base: base.clone(),
                    status,
                    source,
                })
            }
            StatusCode::UNAUTHORIZED => Err(ClientError::Unauthorized { base: base.clone() }),
            StatusCode::CONFLICT => Err(ClientError::UnsupportedMode { base: base.clone() }),
            StatusCode::NOT_FOUND => Err(self.not_found(call).await),
            status => Err(ClientError::Status {
                base: base.clone(),
                status,
                error: error_field(&body),
            }),
        }
    }

    /// A `404` means the API is off, except on `DELETE /sessions/HANDLE`,
    /// where it may also mean an unknown handle: `GET /sessions` (no user)
    /// tells them apart, as the API answers it `404` only when it is off
    /// (on, it is `400`: no user named).
    async fn not_found(&self, call: Call) -> ClientError {
        let off = ClientError::ApiOff {
            base: self.target.base.clone(),
        };
        if call != Call::RevokeHandle {
            return off;
        }
        match self.send(Method::GET, "/sessions").await {
            Ok((StatusCode::NOT_FOUND, _)) => off,
            Ok(_) => ClientError::UnknownHandle,
            Err(error) => error,
        }
    }

    async fn send(&self, method: Method, path: &str) -> Result<(StatusCode, Bytes), ClientError> {
        let base = &self.target.base;
        let uri = format!("{base}{path}");
        let request = Request::builder()
            .method(method)
            .uri(&uri)
            .header(header::AUTHORIZATION, self.target.token.bearer()?)
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("sessiongate/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::new()))
            .map_err(|_| ClientError::BadAdminUrl {
                given: base.to_string(),
                reason: "not a usable URL",
            })?;
        let exchange =
            async {
                let response = self.http.request(request).await.map_err(|source| {
                    ClientError::Unreachable {
                        base: base.clone(),
                        source,
                    }
                })?;
                let status = response.status();
                let body = Limited::new(response.into_body(), MAX_BODY)
                    .collect()
                    .await
                    .map_err(|source| ClientError::Body {
                        base: base.clone(),
                        source,
                    })?
                    .to_bytes();
                Ok((status, body))
            };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| ClientError::Timeout { base: base.clone() })?
    }
}

fn users_path(user: &str) -> String {
    format!("/sessions?user={}", utf8_percent_encode(user, COMPONENT))
}

/// The `error` field of a JSON error answer.
fn error_field(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("error")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests;
