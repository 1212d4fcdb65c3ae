//! The `sessiongate` binary: CLI, logging, config loading, signals.
//! The only place `anyhow` lives.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use sessiongate::admin_client::{self, AdminClient, Flags, FromConfig, Revoke, Target};
use sessiongate::cli::{Cli, Command, ConfigFile, SessionsCommand, TargetArgs};
use sessiongate::config::{Config, LoadError, LogFormat};
use sessiongate::{Listeners, demo};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // rustls: one crypto provider, chosen explicitly at start-up.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(ConfigFile { config }) => return check(&config),
        Command::Run(ConfigFile { config: path }) => match load(&path) {
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
        Command::Sessions { target, command } => {
            return resolve_target(target).map_or_else(|code| code, |t| sessions(t, command));
        }
        Command::Completions { shell } => {
            sessiongate::cli::completions(shell, &mut std::io::stdout());
            Ok(())
        }
        Command::Man { dir: None } => {
            sessiongate::cli::man(&mut std::io::stdout()).context("write the manual")
        }
        Command::Man { dir: Some(dir) } => sessiongate::cli::man_pages(&dir)
            .with_context(|| format!("write the manual pages into {}", dir.display())),
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

/// Where `sessions` sends, with which token: the flags, then
/// `$SESSIONGATE_ADMIN_TOKEN`, then the config, read only when needed (so
/// `--admin` with a token needs no config on the machine).
fn resolve_target(args: TargetArgs) -> Result<Target, ExitCode> {
    let flags = Flags {
        admin: args.admin,
        token_file: args.token_file,
    };
    let env_token = std::env::var(admin_client::TOKEN_ENV).ok();
    let from_config = if flags.needs_config(env_token.as_deref()) {
        let path = args
            .config
            .unwrap_or_else(|| PathBuf::from("sessiongate.toml"));
        let config = load(&path).inspect_err(|_| {
            eprintln!(
                "sessiongate: the admin listener and token come from this config; \
                 or pass --admin URL and --token-file FILE"
            );
        })?;
        Some(FromConfig::new(&path, &config))
    } else {
        None
    };
    Target::resolve(&flags, env_token.as_deref(), from_config.as_ref()).map_err(|error| {
        eprintln!("sessiongate: {error}");
        ExitCode::FAILURE
    })
}

/// `sessions list|revoke`: one request, its answer on stdout; an error
/// with its causes (and the fix, when the causes end it) on stderr.
fn sessions(target: Target, command: SessionsCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sessiongate: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let client = AdminClient::new(target);
    let answer = runtime.block_on(async {
        let pretty = |json: &serde_json::Value| format!("{json:#}\n");
        Ok::<_, admin_client::ClientError>(match command {
            SessionsCommand::List { user, json } => {
                let listing = client.list(&user).await?;
                match json {
                    true => pretty(&listing.json),
                    false => admin_client::table(&listing),
                }
            }
            SessionsCommand::Revoke { user, handle, json } => {
                let what = match (user, handle) {
                    (Some(user), _) => Revoke::User(user),
                    (None, Some(handle)) => Revoke::Handle(handle),
                    (None, None) => unreachable!("clap requires --user or --handle"),
                };
                let revoked = client.revoke(&what).await?;
                match json {
                    true => pretty(&revoked.json),
                    false => admin_client::revoked(&what, &revoked),
                }
            }
        })
    });
    match answer {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            let hint = error.hint();
            eprintln!("sessiongate: {:#}", anyhow::Error::new(error));
            if let Some(hint) = hint {
                eprintln!("sessiongate: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("SESSIONGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours for a person at a terminal, plain text for files and journald.
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    if format == LogFormat::Text && !ansi {
        // Request lines formatted by hand, in the same text, in batches
        // that each worker writes when it goes idle or stops (`runtime`).
        sessiongate::access_log::enable_plain_text();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // The access log's batched lines: written when a worker has
        // nothing to do, and when it stops (so a graceful exit loses none).
        .on_thread_park(sessiongate::access_log::flush)
        .on_thread_stop(sessiongate::access_log::flush)
        .build()
        .context("cannot start the async runtime")
}

/// Binds a listener, with an error that names the key and the address.
fn bind(addr: SocketAddr, key: &str) -> Result<tokio::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr).with_context(|| {
        format!("cannot listen on {addr} ({key}): is another process using that port?")
    })?;
    tokio_listener(listener)
}

fn tokio_listener(listener: std::net::TcpListener) -> Result<tokio::net::TcpListener> {
    listener.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(listener)?)
}

/// The listener systemd passed (socket activation), else `addr` bound.
fn inherited_or_bound(
    inherited: Option<std::net::TcpListener>,
    addr: SocketAddr,
    key: &str,
) -> Result<tokio::net::TcpListener> {
    match inherited {
        Some(listener) => {
            let at = listener.local_addr()?;
            tracing::info!(%at, "{key}: the socket systemd passed (socket activation)");
            tokio_listener(listener)
        }
        None => bind(addr, key),
    }
}

fn run(config: Config, path: PathBuf) -> Result<()> {
    init_logging(config.log.format);
    runtime()?.block_on(async move {
        let shutdown = shutdown_signal()?;
        let reloads = Some(reload_on_sighup(path)?);
        let activated = sessiongate::activation::take_from_env()?;
        let listeners = Listeners {
            proxy: inherited_or_bound(activated.proxy, config.server.listen, "server.listen")?,
            admin: Some(inherited_or_bound(
                activated.admin,
                config.admin.listen,
                "admin.listen",
            )?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sessiongate").chain(args.iter().copied()))
    }

    fn sessions(args: &[&str]) -> (TargetArgs, SessionsCommand) {
        match parse(args)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .command
        {
            Command::Sessions { target, command } => (target, command),
            _ => panic!("not `sessions`"),
        }
    }

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sessions_list_takes_a_user_and_json() {
        let (target, command) = sessions(&["sessions", "list", "--user", "a b", "--json"]);
        assert!(matches!(command, SessionsCommand::List { user, json: true } if user == "a b"));
        assert!(target.admin.is_none() && target.token_file.is_none());
        for missing in [
            &["sessions", "list"][..],
            &["sessions", "list", "--user", ""],
        ] {
            assert!(parse(missing).is_err(), "{missing:?}");
        }
    }

    #[test]
    fn sessions_revoke_takes_a_user_or_a_handle_never_both() {
        let (_, command) = sessions(&["sessions", "revoke", "--user", "alice"]);
        assert!(matches!(
            command,
            SessionsCommand::Revoke { user: Some(u), handle: None, json: false } if u == "alice"
        ));
        let (_, command) = sessions(&["sessions", "revoke", "--handle", "h1", "--json"]);
        assert!(matches!(
            command,
            SessionsCommand::Revoke { user: None, handle: Some(h), json: true } if h == "h1"
        ));
        for bad in [
            &["sessions", "revoke"][..],
            &["sessions", "revoke", "--user", "a", "--handle", "h"],
            &["sessions", "revoke", "--handle", ""],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    /// The target options go before or after the subcommand alike.
    #[test]
    fn target_options_go_anywhere_after_sessions() {
        for args in [
            &[
                "sessions",
                "--admin",
                "http://h:1",
                "--token-file",
                "t",
                "--config",
                "c.toml",
                "list",
                "--user",
                "u",
            ][..],
            &[
                "sessions",
                "list",
                "--user",
                "u",
                "--config",
                "c.toml",
                "--admin",
                "http://h:1",
                "--token-file",
                "t",
            ],
        ] {
            let (target, _) = sessions(args);
            assert_eq!(target.admin.as_deref(), Some("http://h:1"));
            assert_eq!(target.token_file.as_deref(), Some(Path::new("t")));
            assert_eq!(target.config.as_deref(), Some(Path::new("c.toml")));
        }
    }
}
