//! `sessiongate sessions list|revoke` (SPEC §9) as an operator runs it: the
//! real binary against a running gateway (in-process, managed mode, memory
//! store) whose upstream logs users in with `Sessiongate-Login`.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::control::{ControlEnv, TOKEN, private_file};
use crate::support::redis::RedisServer;

use super::BIN;

/// A gateway with the session API, and the CLI's config beside it.
struct Env(ControlEnv);

impl std::ops::Deref for Env {
    type Target = ControlEnv;
    fn deref(&self) -> &ControlEnv {
        &self.0
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

impl Env {
    /// A gateway with the session API on (`token`) or off, on `store_url`
    /// with extra `[session]` keys.
    async fn start(token: bool, store_url: &str, session: &str) -> Env {
        Env(ControlEnv::start(store_url, session, token).await)
    }

    async fn managed() -> Env {
        Env::start(true, "memory://", "").await
    }

    /// An operator's config for the CLI: the gateway's admin address and
    /// token file, as `sessiongate.toml` would hold them.
    fn cli_config(&self) -> PathBuf {
        let token = private_file(self.dir.path(), "cli-token", &format!("{TOKEN}\n"));
        let text = format!(
            "[admin]\nlisten = \"{}\"\ntoken_file = {:?}\n",
            self.gw.admin,
            s(&token)
        );
        private_file(self.dir.path(), "cli.toml", &text)
    }

    fn admin_url(&self) -> String {
        format!("http://{}", self.gw.admin)
    }
}

/// Runs `sessiongate ARGS` in `cwd`, with `env` and nothing inherited that
/// could name a config or a token.
async fn cli(cwd: &Path, command_line: &str, env: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(BIN)
        .args(command_line.split_whitespace())
        .current_dir(cwd)
        .env_remove("SESSIONGATE_CONFIG")
        .env_remove("SESSIONGATE_ADMIN_TOKEN")
        .env_remove("SESSIONGATE_STORE_URL")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run sessiongate")
}

/// [`cli`] with the token in `SESSIONGATE_ADMIN_TOKEN`.
async fn token_from_env(cwd: &Path, command_line: &str) -> Output {
    cli(cwd, command_line, &[("SESSIONGATE_ADMIN_TOKEN", TOKEN)]).await
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 0; stdout.
fn succeeded(out: &Output) -> String {
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(out));
    assert!(out.stderr.is_empty(), "{}", stderr(out));
    stdout(out)
}

/// Exit 1, nothing on stdout; stderr.
fn failed(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(out));
    assert!(out.stdout.is_empty(), "{}", stdout(out));
    stderr(out)
}

/// A table line's cells (columns are two or more spaces apart).
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// Whether `cell` is an ISO-8601 UTC time to the second.
fn is_utc_time(cell: &str) -> bool {
    cell.len() == 20 && cell.ends_with('Z') && humantime::parse_rfc3339(cell).is_ok()
}

#[tokio::test]
async fn an_operator_lists_and_revokes_sessions_with_the_cli() {
    let env = Env::managed().await;
    let first = env.login("alice").await;
    // Newest first: one second apart, so `created` orders them.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = env.login("alice").await;
    let bob = env.login("bob").await;
    let config = env.cli_config();
    let cwd = env.dir.path();
    let with_config = |line: &str| format!("{line} --config {}", s(&config));

    // The table: a header and one row per live session of alice.
    let table = succeeded(&cli(cwd, &with_config("sessions list --user alice"), &[]).await);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header = cells(lines[0]);
    assert_eq!(
        header,
        [
            "HANDLE",
            "CREATED",
            "LAST SEEN",
            "EXPIRES IN",
            "ABSOLUTE EXPIRES IN"
        ],
        "{table}"
    );
    let rows: Vec<Vec<&str>> = lines[1..].iter().map(|l| cells(l)).collect();
    for row in &rows {
        assert_eq!(row.len(), 5, "{table}");
        assert!(is_utc_time(row[1]) && is_utc_time(row[2]), "{table}");
        // The default idle timeout is 30m: "29m 59s" or so.
        assert!(row[3].starts_with("29m ") || row[3] == "30m 0s", "{table}");
        assert_eq!(row[4], "none", "no absolute timeout: {table}");
    }
    assert!(rows[0][1] > rows[1][1], "newest first: {table}");
    for cookie in [&first, &second, &bob] {
        let id = cookie.split('=').nth(1).unwrap();
        assert!(!table.contains(id), "a session id in the listing: {table}");
    }

    // --json: the API's answer, pretty, with the same handles in the same order.
    let json = succeeded(&cli(cwd, &with_config("sessions list --user alice --json"), &[]).await);
    assert!(json.contains("\n  \"sessions\": ["), "pretty: {json}");
    let listing: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(listing["user"], "alice");
    let handles: Vec<&str> = listing["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles, [rows[0][0], rows[1][0]]);
    let newest = handles[0].to_owned();

    // Revoke the newest session by its handle, with --admin and
    // --token-file and no config at all (none in the working directory).
    let token = private_file(cwd, "other-token", TOKEN);
    let line = format!(
        "sessions revoke --handle {newest} --admin {} --token-file {}",
        env.admin_url(),
        s(&token)
    );
    let out = cli(cwd, &line, &[]).await;
    assert_eq!(
        succeeded(&out),
        format!("revoked 1 session (handle {newest})\n")
    );
    assert!(!env.signed_in(&second).await, "the newest session ended");
    assert!(env.signed_in(&first).await, "the other one did not");

    // Revoking it again: no live session has that handle.
    let again = cli(
        cwd,
        &with_config(&format!("sessions revoke --handle {newest}")),
        &[],
    )
    .await;
    let message = failed(&again);
    assert!(
        message.contains("no live session has that handle"),
        "{message}"
    );

    // Revoke alice everywhere, the token from the environment this time.
    let out = token_from_env(
        cwd,
        &format!("sessions revoke --user alice --admin {}", env.admin_url()),
    )
    .await;
    assert_eq!(succeeded(&out), "revoked 1 session of user \"alice\"\n");
    assert!(!env.signed_in(&first).await);
    assert!(env.signed_in(&bob).await, "bob keeps his session");
    let empty = succeeded(&cli(cwd, &with_config("sessions list --user alice"), &[]).await);
    assert_eq!(empty, "no live sessions for user \"alice\"\n");
    let json = succeeded(&cli(cwd, &with_config("sessions revoke --user bob --json"), &[]).await);
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap(),
        serde_json::json!({ "revoked": 1 })
    );
    assert!(!env.signed_in(&bob).await);
}

#[tokio::test]
async fn the_cli_names_the_fix_for_each_refusal() {
    let env = Env::managed().await;
    let cwd = env.dir.path();
    let admin = env.admin_url();

    // A wrong token: 401.
    let wrong = private_file(cwd, "wrong-token", "not-the-token\n");
    let out = cli(
        cwd,
        &format!(
            "sessions list --user alice --admin {admin} --token-file {}",
            s(&wrong)
        ),
        &[],
    )
    .await;
    let message = failed(&out);
    assert!(
        message.contains(&format!(
            "the admin listener at {admin} refused the token (401)"
        )) && message.contains("--token-file"),
        "{message}"
    );

    // No token anywhere: said before any request.
    let bare = private_file(
        cwd,
        "bare.toml",
        &format!("[admin]\nlisten = \"{}\"\n", env.gw.admin),
    );
    let out = cli(
        cwd,
        &format!("sessions list --user alice --config {}", s(&bare)),
        &[],
    )
    .await;
    let message = failed(&out);
    assert!(
        message.contains("no admin token: set admin.token_file in")
            && message.contains("SESSIONGATE_ADMIN_TOKEN"),
        "{message}"
    );

    // No config where one is needed: named, with the flags that replace it.
    let out = cli(cwd, "sessions list --user alice", &[]).await;
    let message = failed(&out);
    assert!(
        message.contains("sessiongate.toml") && message.contains("--admin URL"),
        "{message}"
    );

    // An unreachable admin listener: its address named.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = token_from_env(
        cwd,
        &format!("sessions revoke --user alice --admin {}", closed),
    )
    .await;
    let message = failed(&out);
    assert!(
        message.contains(&format!(
            "cannot reach the admin listener at http://{closed}"
        )) && message.contains("Connection refused")
            && message.contains("[admin] listen"),
        "{message}"
    );

    // A gateway without a token: the session API is off (404).
    let off = Env::start(false, "memory://", "").await;
    for command in ["sessions list --user alice", "sessions revoke --handle h1"] {
        let line = format!("{command} --admin {}", off.admin_url());
        let out = token_from_env(cwd, &line).await;
        let message = failed(&out);
        assert!(
            message.contains("the session API is off")
                && message.contains("set admin.token_file or SESSIONGATE_ADMIN_TOKEN"),
            "{command}: {message}"
        );
    }

    // External mode: 409.
    let redis = RedisServer::start();
    let external = Env::start(
        true,
        &redis.url(),
        "mode = \"external\"\nkey_template = \"sess:{id}\"",
    )
    .await;
    let out = token_from_env(
        cwd,
        &format!(
            "sessions list --user alice --admin {}",
            external.admin_url()
        ),
    )
    .await;
    let message = failed(&out);
    assert!(message.contains("not in managed mode (409)"), "{message}");
}
