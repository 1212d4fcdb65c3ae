//! The label values and label sets of the gateway's metrics: every value a
//! fixed enum (or a route name from the config), never a path or a user.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// Declares a label-value enum with its exposition names.
macro_rules! label_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_enum! {
    /// What happened to a request, as counted in `sessiongate_requests_total`.
    Outcome {
        Forwarded = "forwarded",
        Public = "public",
        Redirected = "redirected",
        Unauthorized = "unauthorized",
        Unavailable = "unavailable",
        UpstreamError = "upstream_error",
    }
}

label_enum! {
    /// Why a request was sent to login (SPEC §5).
    Reason { Missing = "missing", Expired = "expired", Invalid = "invalid" }
}

label_enum! {
    /// Which upstream failure, for `sessiongate_upstream_errors_total`.
    UpstreamErrorKind { Connect = "connect", Timeout = "timeout", Other = "other" }
}

label_enum! {
    /// Store operations, for the store metrics' `op` label.
    StoreOp {
        Touch = "touch",
        Create = "create",
        Delete = "delete",
        Ping = "ping",
        /// A per-user session index read or write (session control, SPEC §9).
        Index = "index",
    }
}

label_enum! {
    /// How a session ended early, for `sessiongate_sessions_ended_total`.
    EndReason {
        /// The gateway's own logout path.
        Logout = "logout",
        /// `Sessiongate-Logout: 1` from the upstream.
        Upstream = "upstream",
        /// Revoked by an operator or by the user's own self-service.
        Revoked = "revoked",
        /// Ended for `max_sessions_per_user` by a newer login.
        Evicted = "evicted",
    }
}

label_enum! {
    /// Why a WebSocket tunnel closed, for `sessiongate_tunnels_closed_total`
    /// (SPEC §10).
    TunnelClose {
        /// Its session expired (idle, absolute, a route's idle limit).
        Expired = "expired",
        /// Its session was ended (logout, revocation, eviction).
        Ended = "ended",
        Client = "client",
        Upstream = "upstream",
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct TunnelLabel {
    pub(super) reason: TunnelClose,
}

label_enum! {
    ReloadResult { Success = "success", Failure = "failure" }
}

label_enum! {
    /// The forward-auth endpoint of a check (SPEC §11).
    AuthEndpoint { Request = "request", Forward = "forward" }
}

label_enum! {
    /// What a forward-auth check answered.
    AuthAnswer {
        /// `200` with the identity: a valid session.
        Allowed = "allowed",
        /// `200` without identity: a public route.
        Public = "public",
        /// Sent to login (`401` or `302`).
        Refused = "refused",
        /// The original-request headers were missing or did not agree.
        BadRequest = "bad_request",
        /// The store could not be asked: `503`.
        Unavailable = "unavailable",
    }
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct AuthLabels {
    pub(super) endpoint: AuthEndpoint,
    pub(super) answer: AuthAnswer,
}

label_enum! {
    /// What became of a response on a route with `inject_warning` (SPEC §12),
    /// for `sessiongate_warning_injections_total`.
    InjectResult {
        /// The script tag went into the page.
        Injected = "injected",
        /// The page already carried the tag.
        AlreadyPresent = "already_present",
        /// `Content-Encoding` other than identity.
        Compressed = "compressed",
        /// Not `text/html`.
        NoHtml = "no_html",
        /// Not a `200` (`204`, `206`, `304`, redirects, errors).
        Status = "status",
        /// A `HEAD` request: there is no body.
        Head = "head",
        /// `Content-Disposition: attachment`: a download, not a page.
        Attachment = "attachment",
        /// A `Content-Security-Policy` that could not be read.
        Csp = "csp",
        /// The body ended early (client gone, upstream failure) before the
        /// tag's place was found.
        Aborted = "aborted",
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteOutcome {
    pub(super) route: String,
    pub(super) outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteReason {
    pub(super) route: String,
    pub(super) reason: Reason,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteLabel {
    pub(super) route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteKind {
    pub(super) route: String,
    pub(super) kind: UpstreamErrorKind,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ModeLabel {
    pub(super) mode: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct EndLabel {
    pub(super) reason: EndReason,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OpLabel {
    pub(super) op: StoreOp,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteInjection {
    pub(super) route: String,
    pub(super) result: InjectResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ResultLabel {
    pub(super) result: ReloadResult,
}

label_enum! {
    /// Which listener, for the connection-limit metrics.
    Listener { Proxy = "proxy", Admin = "admin" }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ListenerLabel {
    pub(super) listener: Listener,
}
