//! The whole demo in one call: the app, and the gateway in front of it with
//! a session API token of its own. The CLI's `sessiongate demo` and the
//! end-to-end tests both run it through [`run`].

use std::future::Future;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::token_file::{self, TokenFile, TokenFileError};
use super::{AdminApi, DemoOptions, demo_config_toml, serve_app_with_admin};
use crate::Listeners;
use crate::config::{Config, ConfigErrors};

/// SPEC §9: when set, the gateway's session API token instead of the file.
const TOKEN_ENV: &str = "SESSIONGATE_ADMIN_TOKEN";

/// The demo's three sockets, bound by the caller (the CLI on
/// `127.0.0.1:PORT` and the next port, a test on `127.0.0.1:0`).
pub struct DemoListeners {
    pub app: TcpListener,
    pub proxy: TcpListener,
    pub admin: TcpListener,
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    TokenFile(#[from] TokenFileError),
    #[error("cannot read a listener's address")]
    Listener(#[source] std::io::Error),
    #[error("the demo's config is invalid:\n{}", .0.render("demo"))]
    Config(#[source] ConfigErrors),
    #[error(transparent)]
    Gateway(#[from] crate::Error),
}

/// Runs the demo app and the gateway until `shutdown` resolves and both
/// have finished. The config is [`demo_config_toml`] with a fresh random
/// admin token in a private file that is removed when this returns.
pub async fn run(
    opts: &DemoOptions,
    listeners: DemoListeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DemoError> {
    let app_addr = listeners.app.local_addr().map_err(DemoError::Listener)?;
    let admin_addr = listeners.admin.local_addr().map_err(DemoError::Listener)?;
    let token = token_file::generate()?;
    let token_file = TokenFile::write(&token)?;
    let config = Config::from_toml_str(&demo_config_toml(opts, app_addr, token_file.path()))
        .map_err(DemoError::Config)?;
    // The gateway prefers the environment's token to the file's; the app
    // must present whichever one the gateway uses.
    let token = std::env::var(TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .unwrap_or(token);

    let (stop_app, app_stopped) = oneshot::channel::<()>();
    let app = tokio::spawn(serve_app_with_admin(
        listeners.app,
        Some(AdminApi::new(admin_addr, token)),
        async {
            let _ = app_stopped.await;
        },
    ));
    let gateway = Listeners {
        proxy: listeners.proxy,
        admin: Some(listeners.admin),
    };
    let result = crate::run(gateway, config, shutdown).await;
    let _ = stop_app.send(());
    let _ = app.await;
    drop(token_file);
    Ok(result?)
}
