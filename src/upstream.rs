//! Forwarding to the upstream: one pooled client, header rewriting,
//! timeouts, WebSocket tunnels.
//!
//! Bodies are never buffered: the client's `Incoming` body goes upstream as
//! it arrives, and the upstream's `Incoming` body comes back the same way.
//! `response_timeout` bounds only the wait for response *headers*, so a
//! long download is never cut off by it.
//!
//! Plain `http://` upstreams go through [`pool`] (hyper's HTTP/1 client
//! connections, pooled here); `https://` ones through hyper-util's pooled
//! client with rustls.
//!
//! A `101` becomes a tunnel only when it accepts the client's WebSocket
//! handshake ([`websocket`]); any other is a `502`. The tunnel itself is
//! relayed by [`crate::live`], watched by the session that opened it.

use std::sync::Arc;
use std::time::Duration;

use http::header::{HOST, TRANSFER_ENCODING};
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::{Body, UploadFailed};
use crate::config::Config;

pub mod framing;
pub mod headers;
pub mod pool;
pub mod websocket;

pub use headers::Peer;

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = pool::IDLE_TIMEOUT;

/// The underlying error of a failed upstream request.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a request could not be forwarded. Mapped to an answer in
/// `gateway::GatewayError::into_response` only.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Refused, unreachable, or no connection within `connect_timeout`.
    #[error("could not connect to the upstream")]
    Connect(#[source] Cause),
    /// No response headers within `response_timeout`.
    #[error("upstream sent no response headers within {0:?}")]
    Timeout(Duration),
    /// The connection broke (reset, closed early, malformed response).
    #[error("upstream connection failed")]
    Broken(#[source] Cause),
    /// The upstream answered `101` without accepting the WebSocket
    /// handshake the request made (`Upgrade: websocket` and the matching
    /// `Sec-WebSocket-Accept`), or to a request that made none. Never
    /// tunnelled: the connection is dropped, not reused.
    #[error("upstream switched protocols without accepting a WebSocket handshake")]
    UnexpectedUpgrade,
    /// The upstream URI and the request's path could not be combined.
    #[error("could not build the upstream request")]
    Target(#[source] http::Error),
}

impl UpstreamError {
    /// The `kind` label of `sessiongate_upstream_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Broken(_)
            | UpstreamError::UnexpectedUpgrade
            | UpstreamError::Target(_) => "other",
        }
    }
}

/// Why [`Upstream::forward`] produced no response: the upstream failed, or
/// the client's own request body did.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Reading the client's request body failed while it was being sent
    /// (malformed chunked framing, the connection ending mid-body): the
    /// client's fault, never counted against the upstream.
    #[error("the client's request body broke off")]
    ClientBody(#[source] Cause),
}

/// The upstream client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("could not set up TLS to upstreams")]
    Tls(#[source] rustls::Error),
    #[error("upstream.ca_file {}: cannot read its PEM certificates", path.display())]
    CaFile {
        path: std::path::PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("upstream.ca_file {}: holds no usable CA certificate", path.display())]
    NoCa { path: std::path::PathBuf },
}

/// The pooled upstream client and the forwarding policy.
#[derive(Clone)]
pub struct Upstream {
    /// `https://` upstreams.
    client: Client<HttpsConnector<HttpConnector>, Body>,
    /// `http://` upstreams.
    pool: Arc<pool::Pool>,
    response_timeout: Duration,
    preserve_host: bool,
}

impl Upstream {
    pub fn new(config: &Config) -> Result<Self, BuildError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.upstream.connect_timeout));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let https = match &config.upstream.ca_file {
            None => hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_webpki_roots(provider)
                .map_err(BuildError::Tls)?,
            Some(path) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(private_ca_config(provider, path)?),
        };
        let https = https.https_or_http().enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(https);
        Ok(Upstream {
            client,
            pool: pool::Pool::new(config.upstream.connect_timeout),
            response_timeout: config.upstream.response_timeout,
            preserve_host: config.upstream.preserve_host,
        })
    }

    /// Forwards `req` to `upstream` with its original path and query, over
    /// HTTP/1.1, and returns the upstream's response with its body streaming.
    pub async fn forward(
        &self,
        mut req: Request<Incoming>,
        upstream: &Uri,
        peer: Peer,
    ) -> Result<Response<Body>, ForwardError> {
        let websocket =
            req.version() == Version::HTTP_11 && headers::is_websocket_upgrade(req.headers());
        let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
        let websocket_key = websocket
            .then(|| websocket::request_key(req.headers()))
            .flatten();

        let (mut parts, body) = req.into_parts();
        let client_host = headers::client_host(&parts.headers, &parts.uri);
        // Plain HTTP: the request line carries the path and query only
        // (origin form), as hyper-util's client would have written it.
        let plain =
            upstream.scheme() == Some(&http::uri::Scheme::HTTP) && upstream.authority().is_some();
        parts.uri = match plain {
            true => origin_form(parts.uri.path_and_query()),
            false => target(upstream, parts.uri.path_and_query())?,
        };
        parts.version = Version::HTTP_11;
        headers::strip_hop_by_hop(&mut parts.headers, websocket);
        headers::set_forwarded(&mut parts.headers, peer, client_host.as_ref());
        let host = if self.preserve_host {
            client_host
        } else {
            upstream
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        };
        match host.or_else(|| plain.then(|| host_of(upstream)).flatten()) {
            Some(host) => parts.headers.insert(HOST, host),
            // The client then sets Host from the target URI.
            None => parts.headers.remove(HOST),
        };

        let (body, upload_failed) = Body::upload(body);
        announce_unknown_length(&mut parts.headers, &body);
        let request = Request::from_parts(parts, body);
        let (mut resp, recycle) = match upstream.authority() {
            Some(authority) if plain => {
                let sent = self.pool.send(authority, request);
                match tokio::time::timeout(self.response_timeout, sent).await {
                    Err(_elapsed) => {
                        return Err(UpstreamError::Timeout(self.response_timeout).into());
                    }
                    Ok(Err(pool::SendError::Connect(error))) => {
                        return Err(UpstreamError::Connect(error).into());
                    }
                    Ok(Err(pool::SendError::Failed(error))) => {
                        return Err(classify(error.into(), false, &upload_failed));
                    }
                    Ok(Ok((resp, recycle))) => (resp, Some(recycle)),
                }
            }
            _ => {
                let sent = self.client.request(request);
                match tokio::time::timeout(self.response_timeout, sent).await {
                    Err(_elapsed) => {
                        return Err(UpstreamError::Timeout(self.response_timeout).into());
                    }
                    Ok(Err(error)) => {
                        let connect = error.is_connect();
                        return Err(classify(error.into(), connect, &upload_failed));
                    }
                    Ok(Ok(resp)) => (resp, None),
                }
            }
        };

        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            // Dropping `resp` here drops the upstream connection with it:
            // a connection that answered `101` is never pooled (`recycle`
            // is dropped unused).
            let accepted = websocket_key
                .as_ref()
                .is_some_and(|key| websocket::accepts(key, resp.headers()));
            let (true, Some(client_upgrade)) = (accepted, client_upgrade) else {
                return Err(UpstreamError::UnexpectedUpgrade.into());
            };
            let upstream_upgrade = hyper::upgrade::on(&mut resp);
            // The session layer takes it over: a tunnel belongs to the
            // session that opened it (`crate::live`).
            let tunnel = crate::live::PendingTunnel::new(client_upgrade, upstream_upgrade);
            resp.extensions_mut().insert(tunnel);
            headers::strip_hop_by_hop(resp.headers_mut(), true);
        } else {
            headers::strip_hop_by_hop(resp.headers_mut(), false);
            if let Some(recycle) = recycle {
                return Ok(resp.map(|body| Body::pooled(body, recycle)));
            }
        }
        Ok(resp.map(Body::from))
    }
}

/// Whose fault a failed upstream request was.
fn classify(error: Cause, connect: bool, upload: &UploadFailed) -> ForwardError {
    if upload.get() {
        ForwardError::ClientBody(error)
    } else if connect {
        UpstreamError::Connect(error).into()
    } else {
        UpstreamError::Broken(error).into()
    }
}

/// Marks a request body of unknown length as chunked. hyper's HTTP/1
/// client sends such a body chunked by itself, except for `GET` and `HEAD`,
/// where it assumes there is no body and sends none unless the request
/// says `Transfer-Encoding: chunked` (which the hop-by-hop removal took
/// away). Said here for every method, so no body is ever dropped.
fn announce_unknown_length(headers: &mut http::HeaderMap, body: &Body) {
    use http_body::Body as _;
    if !body.is_end_stream()
        && body.size_hint().exact().is_none()
        && !headers.contains_key(http::header::CONTENT_LENGTH)
    {
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    }
}

/// TLS to upstreams that trusts exactly the CAs in `path` (PEM), instead
/// of the public roots: for applications behind a private CA.
fn private_ca_config(
    provider: Arc<rustls::crypto::CryptoProvider>,
    path: &std::path::Path,
) -> Result<rustls::ClientConfig, BuildError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| BuildError::CaFile {
            path: path.to_owned(),
            source,
        })?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(BuildError::NoCa {
            path: path.to_owned(),
        });
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(BuildError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The request's own path and query alone, the target of a request line to
/// a plain-HTTP upstream.
fn origin_form(path: Option<&PathAndQuery>) -> Uri {
    match path {
        Some(path) if path.as_str() != "/" => Uri::from(path.clone()),
        _ => Uri::from_static("/"),
    }
}

/// `Host` for `upstream`, when neither the client's nor the upstream's own
/// authority could be used: its host, and its port unless it is 80 (what
/// hyper-util's client would have set).
fn host_of(upstream: &Uri) -> Option<HeaderValue> {
    let host = upstream.host()?;
    match upstream.port_u16() {
        Some(port) if port != 80 => HeaderValue::from_str(&format!("{host}:{port}")).ok(),
        _ => HeaderValue::from_str(host).ok(),
    }
}

/// The upstream's scheme and authority with the request's own path and
/// query. An absolute-form target's host is dropped here: a request is
/// never sent anywhere but its route's upstream.
fn target(upstream: &Uri, path: Option<&PathAndQuery>) -> Result<Uri, UpstreamError> {
    let mut builder = Uri::builder().path_and_query(
        path.cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    if let Some(scheme) = upstream.scheme() {
        builder = builder.scheme(scheme.clone());
    }
    if let Some(authority) = upstream.authority() {
        builder = builder.authority(authority.clone());
    }
    builder.build().map_err(UpstreamError::Target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_is_reduced_to_path_and_query() {
        let upstream = Uri::from_static("http://127.0.0.1:8000");
        let req = Uri::from_static("http://evil.example.com/a/b?x=1");
        let t = target(&upstream, req.path_and_query()).unwrap();
        assert_eq!(t, "http://127.0.0.1:8000/a/b?x=1");
    }
}
