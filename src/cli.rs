//! The command line (SPEC §1), as clap definitions: `main.rs` parses it,
//! and the shell completions and the manual page are generated from it, so
//! they never drift from what the binary accepts.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
pub use clap_complete::Shell;

#[derive(Parser)]
#[command(
    name = "sessiongate",
    version,
    about = "A reverse proxy that enforces session expiry"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// See and end live sessions (managed mode) through the gateway's admin
    /// session API.
    Sessions {
        #[command(flatten)]
        target: TargetArgs,
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Print a shell completion script, e.g. `sessiongate completions bash >
    /// /etc/bash_completion.d/sessiongate`.
    Completions {
        /// The shell: bash, elvish, fish, powershell or zsh.
        shell: Shell,
    },
    /// Print the manual page (roff), e.g. `sessiongate man | man -l -`, or
    /// write every page (sessiongate.1, sessiongate-run.1…) into a folder.
    Man {
        /// Write sessiongate.1 and one page per command here instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Which admin listener, with which token.
#[derive(Args)]
#[command(next_help_heading = "Admin listener")]
pub struct TargetArgs {
    /// The config naming the admin listener ([admin] listen) and token
    /// (admin.token_file) [default: $SESSIONGATE_CONFIG, then sessiongate.toml]
    #[arg(long, env = "SESSIONGATE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// The admin listener, e.g. http://127.0.0.1:9090 [default: the config's [admin] listen]
    #[arg(long, value_name = "URL", global = true)]
    pub admin: Option<String>,
    /// A file holding the admin token [default: $SESSIONGATE_ADMIN_TOKEN,
    /// then the config's admin.token_file]
    #[arg(long, value_name = "FILE", global = true)]
    pub token_file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// A user's live sessions, newest first.
    List {
        /// The user, as the application named them at login.
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        user: String,
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// End every live session of a user (--user), or one session (--handle).
    #[command(group(clap::ArgGroup::new("whose").required(true).args(["user", "handle"])))]
    Revoke {
        /// Every live session of this user.
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        user: Option<String>,
        /// One session, by a handle from `sessions list`.
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        handle: Option<String>,
        /// The API's JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
}

// The `--config` option of `run` and `check`.
#[derive(Args)]
pub struct ConfigFile {
    /// The config file [default: $SESSIONGATE_CONFIG, then sessiongate.toml]
    #[arg(
        long,
        env = "SESSIONGATE_CONFIG",
        default_value = "sessiongate.toml",
        hide_default_value = true
    )]
    pub config: PathBuf,
}

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "sessiongate", out);
}

/// Writes the manual page, `sessiongate(1)` in roff, to `out`.
pub fn man(out: &mut dyn Write) -> io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// Writes `sessiongate.1` and a page per command (`sessiongate-run.1`,
/// `sessiongate-sessions-list.1`…) into `dir`, as packages ship them.
pub fn man_pages(dir: &Path) -> io::Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn completions_and_the_manual_name_every_command() {
        let mut bash = Vec::new();
        completions(Shell::Bash, &mut bash);
        let bash = String::from_utf8(bash).unwrap();
        let mut page = Vec::new();
        man(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains(".TH sessiongate 1"), "{page}");
        for command in [
            "run",
            "check",
            "demo",
            "demo-app",
            "sessions",
            "completions",
        ] {
            assert!(bash.contains(command), "bash completion lacks {command}");
            // roff escapes every hyphen.
            let roff = command.replace('-', "\\-");
            assert!(page.contains(&roff), "the manual lacks {command}");
        }
        let dir = tempfile::tempdir().unwrap();
        man_pages(dir.path()).unwrap();
        for page in [
            "sessiongate.1",
            "sessiongate-run.1",
            "sessiongate-sessions-revoke.1",
        ] {
            assert!(dir.path().join(page).is_file(), "no {page}");
        }
    }
}
