//! sessiongate: a reverse proxy that enforces session expiry in front of web
//! applications.
//!
//! # Layout
//!
//! The request path, top to bottom:
//!
//! ```text
//! accept (server) → route match (route) → read cookie (session)
//!   → look up / slide the session (store) → decide (decide, pure)
//!   → forward (upstream) or answer (respond) → record (metrics, access log)
//! ```
//!
//! - [`config`]: the validated configuration; `config/raw.rs` mirrors the TOML.
//! - [`server`]: listeners, TLS, HTTP/1.1 + HTTP/2, graceful shutdown.
//! - [`gateway`]: the per-request service tying the line above together.
//! - [`route`]: path normalisation and first-match routing.
//! - [`store`]: the `SessionStore` trait, memory and Redis stores.
//! - [`upstream`]: the pooled client, hop-by-hop and `X-Forwarded-*` handling.
//! - [`respond`]: every answer the gateway makes itself.
#![forbid(unsafe_code)]

pub mod config;
pub mod decide;
pub mod demo;
pub mod login;
pub mod gateway;
pub mod metrics;
pub mod respond;
pub mod route;
pub mod session;
pub mod server;
pub mod store;
pub mod tls;
pub mod upstream;
