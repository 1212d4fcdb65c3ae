//! The `sessiongate` binary: CLI, logging, config loading, signals.
//! The only place `anyhow` lives.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
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
    Run {
        /// The config file [default: $SESSIONGATE_CONFIG, then sessiongate.toml]
        #[arg(
            long,
            env = "SESSIONGATE_CONFIG",
            default_value = "sessiongate.toml",
            hide_default_value = true
        )]
        config: PathBuf,
    },
    /// Validate the config file and exit: 0 valid, 1 invalid (every error printed).
    Check {
        /// The config file [default: $SESSIONGATE_CONFIG, then sessiongate.toml]
        #[arg(
            long,
            env = "SESSIONGATE_CONFIG",
            default_value = "sessiongate.toml",
            hide_default_value = true
        )]
        config: PathBuf,
    },
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

fn main() -> ExitCode {
    // rustls: one crypto provider, chosen explicitly at start-up.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => return check(&config),
        Command::Run { config: path } => match load(&path) {
            Ok(cfg) => run(cfg, path),
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
    match load(path) {
        Ok(_) => {
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
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

fn run(config: Config, path: PathBuf) -> Result<()> {
    init_logging(config.log.format);
    runtime()?.block_on(async move {
        let shutdown = shutdown_signal()?;
        let reloads = Some(reload_on_sighup(path)?);
        let listeners = Listeners {
            proxy: bind(config.server.listen, "server.listen")?,
            admin: Some(bind(config.admin.listen, "admin.listen")?),
        };
        sessiongate::run_reloadable(listeners, config, shutdown, reloads).await?;
        Ok(())
    })
}

/// `demo`: the demo app and the gateway in front of it, with a session API
/// token of its own (the same gateway code as `run`, another config).
fn run_demo(opts: demo::DemoOptions) -> Result<()> {
    init_logging(LogFormat::Text);
    runtime()?.block_on(async move {
        let shutdown = shutdown_signal()?;
        let loopback = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let listeners = demo::DemoListeners {
            app: bind(loopback(0), "the demo app").context("cannot start the demo app")?,
            proxy: bind(loopback(opts.port), "--port")?,
            admin: bind(
                loopback(opts.admin_port()),
                "the admin listener, next to --port",
            )?,
        };
        let proxy = listeners.proxy.local_addr()?;
        let admin = listeners.admin.local_addr()?;
        eprintln!("{}", demo::banner(&opts, proxy, admin));
        demo::run(&opts, listeners, shutdown).await?;
        Ok(())
    })
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
