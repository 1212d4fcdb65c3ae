//! The `sessiongate` binary: CLI, logging, config loading, signals.
//! The only place `anyhow` lives.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use sessiongate::config::{Config, LoadError, LogFormat};
use sessiongate::{Listeners, demo};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "sessiongate",
    version,
    about = "A reverse proxy that enforces session expiry"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Run(ConfigFile),
    /// Validate the config file and exit: 0 valid, 1 invalid (every error printed).
    Check(ConfigFile),
    /// A self-contained demo: the gateway with the embedded store in front of a built-in app.
    Demo {
        /// The gateway's port on 127.0.0.1 (the admin listener takes the next one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Idle timeout of demo sessions, e.g. "60s", "2m".
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        idle_timeout: Duration,
        /// Absolute cap on demo sessions, e.g. "10m" (default: none).
        #[arg(long, value_parser = humantime::parse_duration)]
        absolute_timeout: Option<Duration>,
    },
    /// Only the demo's built-in app, to put a `run` gateway in front of
    /// (deploy/compose.yaml): its login page answers with Sessiongate-Login.
    DemoApp {
        /// Where the app listens.
        #[arg(long, default_value = "127.0.0.1:8000")]
        listen: SocketAddr,
    },
}

// The `--config` option of `run` and `check`.
#[derive(Args)]
struct ConfigFile {
    /// The config file [default: $SESSIONGATE_CONFIG, then sessiongate.toml]
    #[arg(
        long,
        env = "SESSIONGATE_CONFIG",
        default_value = "sessiongate.toml",
        hide_default_value = true
    )]
    config: PathBuf,
}

fn main() -> ExitCode {
    // rustls: one crypto provider, chosen explicitly at start-up.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(ConfigFile { config }) => return check(&config),
        Command::Run(ConfigFile { config: path }) => match load(&path) {
            Ok(cfg) => run(cfg, Launch::Run { path }),
            Err(code) => return code,
        },
        Command::Demo {
            port,
            idle_timeout,
            absolute_timeout,
        } => run_demo(demo::DemoOptions {
            port,
            idle_timeout,
            absolute_timeout,
        }),
        Command::DemoApp { listen } => run_demo_app(listen),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sessiongate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the config, printing every error as `PATH:LINE:COL: message`.
fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|error: LoadError| {
        eprint!("{}", error.render());
        ExitCode::FAILURE
    })
}

fn check(path: &Path) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    // The session API's token file: missing or empty is an error, readable
    // by others a warning (checked even when $SESSIONGATE_ADMIN_TOKEN would
    // replace it at run time).
    if let Some(file) = &config.admin.token_file {
        match sessiongate::admin::token::read_file(file) {
            Ok((_, warnings)) => {
                for warning in warnings {
                    eprintln!("{}: warning: {warning}", path.display());
                }
            }
            Err(error) => {
                eprintln!("{}: {error}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{}: ok", path.display());
    ExitCode::SUCCESS
}

fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("SESSIONGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours for a person at a terminal, plain text for files and journald.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Binds a listener, with an error that names the key and the address.
fn bind(addr: SocketAddr, key: &str) -> Result<tokio::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr).with_context(|| {
        format!("cannot listen on {addr} ({key}): is another process using that port?")
    })?;
    listener.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(listener)?)
}

/// What runs beside the gateway.
enum Launch {
    /// `run`: SIGHUP reloads this file.
    Run { path: PathBuf },
    /// `demo`: the demo app on its listener.
    Demo {
        listener: std::net::TcpListener,
        opts: demo::DemoOptions,
    },
}

fn run(config: Config, launch: Launch) -> Result<()> {
    init_logging(config.log.format);
    runtime()?.block_on(async move {
        let shutdown = shutdown_signal()?;
        let reloads = match &launch {
            Launch::Run { path } => Some(reload_on_sighup(path.clone())?),
            Launch::Demo { .. } => None,
        };
        let listeners = Listeners {
            proxy: bind(config.server.listen, "server.listen")?,
            admin: Some(bind(config.admin.listen, "admin.listen")?),
        };
        if let Launch::Demo { listener, opts } = launch {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            tokio::spawn(demo::serve_app(listener, std::future::pending()));
            let admin = listeners
                .admin
                .as_ref()
                .map(|l| l.local_addr())
                .transpose()?;
            let proxy = listeners.proxy.local_addr()?;
            eprintln!("{}", demo::banner(&opts, proxy, admin.unwrap_or(proxy)));
        }
        sessiongate::run_reloadable(listeners, config, shutdown, reloads).await?;
        Ok(())
    })
}

fn run_demo(opts: demo::DemoOptions) -> Result<()> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot start the demo app")?;
    let toml = demo::demo_config_toml(&opts, listener.local_addr()?);
    let config = Config::from_toml_str(&toml)
        .map_err(|errors| anyhow::anyhow!("demo config is invalid:\n{}", errors.render("demo")))?;
    // The gateway runs exactly as `run` does: same code path, other config.
    run(config, Launch::Demo { listener, opts })
}

/// `demo-app`: the demo application alone, until SIGTERM/SIGINT.
fn run_demo_app(listen: SocketAddr) -> Result<()> {
    init_logging(LogFormat::Text);
    runtime()?.block_on(async move {
        let shutdown = shutdown_signal()?;
        let listener = bind(listen, "--listen")?;
        tracing::info!("demo app listening on {}", listener.local_addr()?);
        demo::serve_app(listener, shutdown).await;
        Ok(())
    })
}

/// Reads `path` again on every SIGHUP and hands the result to the gateway,
/// which applies a valid config and keeps the old one otherwise. The
/// handler is installed before any listener is announced.
fn reload_on_sighup(path: PathBuf) -> Result<sessiongate::reload::Reloads> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!(path = %path.display(), "SIGHUP: reloading the config");
            let loaded = tokio::task::spawn_blocking({
                let path = path.clone();
                move || Config::load(&path)
            })
            .await;
            let Ok(loaded) = loaded else { continue };
            if tx.send(loaded).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed now, before
/// any listener is announced, so a signal sent right after `listening on`
/// is never lost to the default action.
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
}
