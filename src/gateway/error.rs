//! Everything that stops a request from being forwarded, and the one place
//! it becomes an answer ([`GatewayError::into_response`]) and a count
//! ([`GatewayError::counted_as`]).
//!
//! Where a failure came from decides the answer: the client's request
//! (`400`, `405`), the upstream (`502`, `504`), the session store (`503`,
//! never a logout).

use http::Response;

use crate::body::Body;
use crate::metrics::{Outcome, UpstreamErrorKind};
use crate::respond;
use crate::route::HostError;
use crate::session::SessionError;
use crate::store::StoreError;
use crate::upstream::UpstreamError;
use crate::upstream::framing::FramingError;

/// Everything that stops a request from being forwarded.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("ambiguous request framing: {0}")]
    Framing(#[from] FramingError),
    #[error("CONNECT is never proxied")]
    Connect,
    /// More header fields than an HTTP/1.1 head may carry (hyper answers
    /// those itself): an HTTP/2 head gets the same `431`.
    #[error("more than {} header fields", crate::server::MAX_HEADERS)]
    TooManyHeaders,
    #[error("the request's host cannot be routed: {0}")]
    Host(#[from] HostError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The client's request body broke off or had malformed chunked
    /// framing while it was forwarded: the client's error, not the
    /// upstream's.
    #[error("the client's request body broke off")]
    ClientBody(#[source] crate::upstream::Cause),
    #[error("the session step failed")]
    Session(#[from] SessionError),
}

impl From<StoreError> for GatewayError {
    fn from(error: StoreError) -> Self {
        GatewayError::Session(error.into())
    }
}

impl GatewayError {
    /// The one place errors become answers. Exhaustive on purpose: a new
    /// error kind must decide its status here.
    pub fn into_response(self, json: bool) -> Response<Body> {
        match self {
            GatewayError::Framing(
                FramingError::LengthAndEncoding
                | FramingError::DifferingLengths
                | FramingError::UnknownCoding
                | FramingError::ControlCharacter,
            ) => respond::bad_request(json),
            GatewayError::Host(
                HostError::Missing | HostError::Repeated | HostError::EmptyLabel,
            ) => respond::bad_request(json),
            GatewayError::Connect => respond::method_not_allowed(json),
            GatewayError::TooManyHeaders => respond::header_fields_too_large(json),
            GatewayError::ClientBody(_) => respond::bad_request(json),
            GatewayError::Upstream(
                UpstreamError::Connect(_)
                | UpstreamError::Broken(_)
                | UpstreamError::UnexpectedUpgrade
                | UpstreamError::Target(_),
            ) => respond::bad_gateway(json),
            GatewayError::Upstream(UpstreamError::Timeout(_)) => respond::gateway_timeout(json),
            // A store outage, or no randomness for a new id: try again.
            GatewayError::Session(SessionError::Store(_) | SessionError::Randomness(_)) => {
                respond::unavailable(json)
            }
            GatewayError::Session(SessionError::Cookie(_)) => respond::internal_error(json),
        }
    }

    /// How `sessiongate_requests_total` counts the request (`None`: a
    /// request refused before it had a route), and, for an upstream
    /// failure, `sessiongate_upstream_errors_total`'s `kind`.
    pub fn counted_as(&self) -> (Option<Outcome>, Option<UpstreamErrorKind>) {
        let kind = match self {
            GatewayError::Upstream(UpstreamError::Connect(_)) => UpstreamErrorKind::Connect,
            GatewayError::Upstream(UpstreamError::Timeout(_)) => UpstreamErrorKind::Timeout,
            GatewayError::Upstream(
                UpstreamError::Broken(_)
                | UpstreamError::UnexpectedUpgrade
                | UpstreamError::Target(_),
            ) => UpstreamErrorKind::Other,
            GatewayError::Session(_) => return (Some(Outcome::Unavailable), None),
            GatewayError::Framing(_)
            | GatewayError::Host(_)
            | GatewayError::Connect
            | GatewayError::TooManyHeaders
            | GatewayError::ClientBody(_) => return (None, None),
        };
        (Some(Outcome::UpstreamError), Some(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::InvalidCookie;
    use http::StatusCode;

    const SECOND: std::time::Duration = std::time::Duration::from_secs(1);

    /// SPEC §5's error rows, from the one place errors become answers
    /// (the session rows are `decide`'s, unit-tested there). Upstream
    /// connect and reset errors, and a client body that broke off, wrap
    /// hyper-util errors that cannot be made outside it: their 502 and 400
    /// are tested end to end in `tests/it/proxy`.
    #[test]
    fn every_error_row_of_spec_5_has_its_status() {
        fn bad_target() -> GatewayError {
            let error = http::Uri::builder().scheme("http").build().unwrap_err();
            UpstreamError::Target(error).into()
        }
        let rows: [(fn() -> GatewayError, StatusCode); 15] = [
            (
                || FramingError::LengthAndEncoding.into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                || FramingError::DifferingLengths.into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                || FramingError::UnknownCoding.into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                || FramingError::ControlCharacter.into(),
                StatusCode::BAD_REQUEST,
            ),
            (|| HostError::Missing.into(), StatusCode::BAD_REQUEST),
            (|| HostError::Repeated.into(), StatusCode::BAD_REQUEST),
            (|| HostError::EmptyLabel.into(), StatusCode::BAD_REQUEST),
            (|| GatewayError::Connect, StatusCode::METHOD_NOT_ALLOWED),
            (
                || GatewayError::TooManyHeaders,
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ),
            (
                || UpstreamError::Timeout(SECOND).into(),
                StatusCode::GATEWAY_TIMEOUT,
            ),
            (
                || UpstreamError::UnexpectedUpgrade.into(),
                StatusCode::BAD_GATEWAY,
            ),
            (bad_target, StatusCode::BAD_GATEWAY),
            (
                || StoreError::Timeout.into(),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                || SessionError::Randomness(getrandom::Error::UNSUPPORTED).into(),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                || {
                    let invalid = http::HeaderValue::from_bytes(b"\n").unwrap_err();
                    SessionError::Cookie(InvalidCookie::from(invalid)).into()
                },
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in rows {
            for json in [false, true] {
                let resp = error().into_response(json);
                assert_eq!(resp.status(), status, "{:?} (json: {json})", error());
            }
        }
        let store = GatewayError::from(StoreError::Timeout).into_response(false);
        assert!(store.headers().contains_key(http::header::RETRY_AFTER));
        let framing = GatewayError::from(FramingError::UnknownCoding).into_response(false);
        assert_eq!(framing.headers()[http::header::CONNECTION], "close");
    }

    /// The session errors keep their cause: a log line can say why.
    #[test]
    fn session_errors_keep_their_cause() {
        let error = GatewayError::from(StoreError::Timeout);
        let cause = std::error::Error::source(&error).expect("a cause");
        assert!(std::error::Error::source(cause).is_some(), "{cause}");
        assert_eq!(error.counted_as(), (Some(Outcome::Unavailable), None));
        let timeout = GatewayError::from(UpstreamError::Timeout(SECOND));
        assert_eq!(
            timeout.counted_as(),
            (
                Some(Outcome::UpstreamError),
                Some(UpstreamErrorKind::Timeout)
            )
        );
        assert_eq!(GatewayError::Connect.counted_as(), (None, None));
    }
}
