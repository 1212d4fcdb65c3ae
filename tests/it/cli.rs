//! The `sessiongate` binary as a user runs it: `check`, `run` and `demo`;
//! `sessions` in [`sessions`].

mod access_log;
mod fd_limits;
mod manual;
mod sessions;
mod socket_activation;
mod tunnel_log;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::signal::{SIGHUP, SIGINT, SIGTERM, Signal};

const BIN: &str = env!("CARGO_BIN_EXE_sessiongate");
const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/sessiongate.example.toml"
);

/// The binary with `args`, none of its environment variables inherited
/// from the test's.
fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("SESSIONGATE_CONFIG")
        .env_remove("SESSIONGATE_STORE_URL");
    command
}

/// Runs `command` to its end.
fn output(command: &mut Command) -> Output {
    command.output().expect("run sessiongate")
}

fn sessiongate(args: &[&str]) -> Output {
    output(&mut command(args))
}

/// Asserts that the run succeeded, showing its stderr if not.
fn assert_ok(out: &Output) {
    assert!(out.status.success(), "{}", stderr(out));
}

/// Asserts that the run exited 1; returns its stderr.
fn exit_1(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    stderr(out)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `text` to `name` in `dir`; returns the path.
fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_accepts_the_example_config() {
    let out = sessiongate(&["check", "--config", EXAMPLE]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(": ok\n"));
}

#[test]
fn check_prints_every_error_with_its_position_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        &dir,
        "bad.toml",
        "[session]\nidel_timeout = \"5m\"\ncookie_same_site = \"loose\"\n",
    );
    let out = sessiongate(&["check", "--config", path.to_str().unwrap()]);
    let stderr = exit_1(&out);
    let p = path.display();
    assert!(stderr.contains(&format!("{p}:2:1: ")), "{stderr}");
    assert!(
        stderr.contains("idle_timeout"),
        "suggests the right key: {stderr}"
    );
    assert!(stderr.contains(&format!("{p}:3:")), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

#[test]
fn config_falls_back_to_the_environment() {
    let out = output(command(&["check"]).env("SESSIONGATE_CONFIG", EXAMPLE));
    assert_ok(&out);
}

/// Without `--config` and without `$SESSIONGATE_CONFIG`, the config is
/// `sessiongate.toml` in the current directory: a valid one is `ok`, and an
/// invalid one is reported under that name, so it really was the file read.
#[test]
fn config_falls_back_to_sessiongate_toml_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let check = || output(command(&["check"]).current_dir(dir.path()));
    write_file(
        &dir,
        "sessiongate.toml",
        "[server]\nlisten = \"127.0.0.1:0\"\n",
    );
    let out = check();
    assert_ok(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "sessiongate.toml: ok\n"
    );

    write_file(
        &dir,
        "sessiongate.toml",
        "[server]\nlisten = \"127.0.0.1:0\"\nlisten_backlog = 5\n",
    );
    let out = check();
    let stderr = exit_1(&out);
    assert!(
        stderr.starts_with("sessiongate.toml:3:1: ") && stderr.contains("\"listen_backlog\""),
        "{stderr}"
    );
}

#[test]
fn the_store_url_may_come_from_the_environment_and_is_checked_there() {
    let check = |url: &str| {
        output(command(&["check", "--config", EXAMPLE]).env("SESSIONGATE_STORE_URL", url))
    };
    let out = check("redis://:s3cret@127.0.0.1:6379/1");
    assert_ok(&out);

    let out = check("mysql://root:s3cret@db");
    let stderr = exit_1(&out);
    assert!(
        stderr.contains("SESSIONGATE_STORE_URL: unsupported scheme \"mysql://\""),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s3cret"),
        "a password in an error: {stderr}"
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let out = sessiongate(&["check", "--config", "/nonexistent/sessiongate.toml"]);
    assert!(exit_1(&out).contains("/nonexistent/sessiongate.toml"));
}

/// A child process that is killed (by PID) when the test ends.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        Running::start_with_env(args, &[("SESSIONGATE_LOG", "info")])
    }

    fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Running {
        Running::spawn(Command::new(BIN), args, env)
    }

    /// Like [`Running::start`], under an open-file limit (soft and hard) of
    /// `limit`, set by a shell that then `exec`s the binary: the PID stays
    /// the gateway's own.
    fn start_with_fd_limit(limit: u32, args: &[&str]) -> Running {
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
            .arg(BIN);
        Running::spawn(shell, args, &[("SESSIONGATE_LOG", "info")])
    }

    fn spawn(mut command: Command, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = command
            .args(args)
            .env_remove("SESSIONGATE_CONFIG")
            // Piped stderr must be plain text by itself, without NO_COLOR.
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sessiongate");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// Waits for a stderr line containing `needle`; returns it.
    fn wait_for(&self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("no line with {needle:?}; saw:\n{}", seen.join("\n")),
            }
        }
    }

    fn signal(&self, signal: Signal) {
        crate::support::signal::send(self.child.id(), signal);
    }

    /// Sends `sig` and asserts that the process then exits 0.
    fn stop_cleanly(&mut self, sig: Signal) {
        self.signal(sig);
        assert!(self.wait().success());
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sessiongate did not exit within 10 s");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sessiongate.toml` in `dir` with the proxy on `listen`, the admin
/// listener on a free port, then the tables `more`; returns its path.
fn config_file(dir: &tempfile::TempDir, listen: &str, more: &str) -> String {
    let text =
        format!("[server]\nlisten = \"{listen}\"\n[admin]\nlisten = \"127.0.0.1:0\"\n{more}");
    let path = write_file(dir, "sessiongate.toml", &text);
    path.to_str().unwrap().to_owned()
}

#[test]
fn run_logs_each_listener_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Running::start(&["run", "--config", &config_file(&dir, "127.0.0.1:0", "")]);
    for _ in 0..2 {
        let line = gw.wait_for("listening on");
        assert!(
            !line.contains('\x1b'),
            "colour codes in a log file: {line:?}"
        );
    }
    gw.stop_cleanly(SIGTERM);
}

#[test]
fn run_refuses_a_taken_port_clearly() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = sessiongate(&["run", "--config", &config_file(&dir, &addr, "")]);
    let stderr = exit_1(&out);
    assert!(
        stderr.contains(&format!("cannot listen on {addr} (server.listen)")),
        "{stderr}"
    );
}

/// `run` refuses an invalid config as `check` does: exit 1 before any
/// listener is announced, every error printed as `PATH:LINE:COL: message`
/// naming its key.
#[test]
fn run_refuses_an_invalid_config_with_every_error_and_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"soon\"\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n[session]\nidel_timeout = \"5m\"\n",
    )
    .unwrap();
    let mut gw = Running::start(&["run", "--config", path.to_str().unwrap()]);
    let status = gw.wait();
    let stderr = gw.drain();
    assert_eq!(status.code(), Some(1), "{stderr:#?}");
    let p = path.display();
    assert_eq!(stderr.len(), 2, "one line per error: {stderr:#?}");
    assert!(
        stderr[0].starts_with(&format!("{p}:3:18: server.shutdown_grace: ")),
        "{stderr:#?}"
    );
    assert_eq!(
        stderr[1],
        format!(
            "{p}:7:1: unknown key \"idel_timeout\" in [session]; did you mean \"idle_timeout\"?"
        )
    );
}

#[test]
fn demo_serves_the_login_page_through_the_gateway() {
    let mut demo = Running::start(&["demo", "--port", "0"]);
    let line = demo.wait_for("listening on");
    assert!(
        !line.contains("admin"),
        "the proxy listener is logged first: {line}"
    );
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("address in the log line")
        .to_owned();
    let addr: std::net::SocketAddr = addr
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: demo\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 302"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("location: /login?next=/"),
        "{answer}"
    );
    demo.stop_cleanly(SIGINT);
}

/// One request on a fresh connection (`Connection: close`); the whole answer.
fn http(addr: std::net::SocketAddr, head: &str, body: &str) -> String {
    try_http(addr, head, body).expect("HTTP exchange with the gateway")
}

/// [`http`], returning a failed connect, write or read instead of panicking.
fn try_http(addr: std::net::SocketAddr, head: &str, body: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let request = format!(
        "{head}\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The address in a `listening on ADDR` line.
fn listening_addr(line: &str) -> std::net::SocketAddr {
    line.split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == '"').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}

impl Running {
    /// Every line printed so far (after the process exited: all of them).
    fn drain(&self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            lines.push(line);
        }
        lines
    }
}

#[test]
fn sighup_reloads_the_file_and_keeps_the_old_config_when_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let write = |login: &str| {
        let login = format!("[login]\nurl = \"{login}\"\n");
        config_file(&dir, "127.0.0.1:0", &login)
    };
    let path = write("/login");
    let gw = Running::start(&["run", "--config", &path]);
    let addr = listening_addr(&gw.wait_for("listening on"));
    let location = || header(&http(addr, "GET / HTTP/1.1", ""), "location").map(str::to_owned);
    assert_eq!(location().as_deref(), Some("/login?next=/"));

    write("/signin");
    gw.signal(SIGHUP);
    gw.wait_for("config reloaded");
    assert_eq!(location().as_deref(), Some("/signin?next=/"));

    std::fs::write(&path, "[session]\nidle_timeout = \"0s\"\n").unwrap();
    gw.signal(SIGHUP);
    let rejected = gw.wait_for("config reload rejected");
    assert!(rejected.contains("idle_timeout"), "{rejected}");
    assert_eq!(location().as_deref(), Some("/signin?next=/"));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&dir, "127.0.0.1:0", "[log]\nformat = \"json\"\n");
    let mut gw = Running::start(&["run", "--config", &config]);
    let first = gw.wait_for("listening on");
    let addr = listening_addr(&first);
    http(addr, "GET /x?secret=1 HTTP/1.1", "");
    let access = gw.wait_for("sessiongate::access");
    gw.stop_cleanly(SIGTERM);
    for line in [first, access.clone()].into_iter().chain(gw.drain()) {
        let value: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value.is_object(), "{line}");
    }
    let access: serde_json::Value = serde_json::from_str(&access).unwrap();
    assert_eq!(
        access["fields"]["path"], "/x",
        "no query values in the access log"
    );
    let fields = &access["fields"];
    assert_eq!(fields["status"], 302);
    assert_eq!(fields["reason"], "missing");
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["route"], "default");
    assert_eq!(fields["outcome"], "redirected");
    assert_eq!(fields["client"], "127.0.0.1");
    for duration in ["duration_ms", "store_ms", "upstream_ms"] {
        let ms = fields[duration].as_f64();
        assert!(ms.is_some_and(|ms| ms >= 0.0), "{duration}: {access}");
    }
}

#[test]
fn trace_logs_never_contain_a_session_id_or_cookie_value() {
    let mut demo =
        Running::start_with_env(&["demo", "--port", "0"], &[("SESSIONGATE_LOG", "trace")]);
    let addr = listening_addr(&demo.wait_for("listening on"));
    let login = http(
        addr,
        "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
        "username=demo&password=sessiongate&next=/",
    );
    let set_cookie = header(&login, "set-cookie").expect("a session cookie");
    let id = set_cookie
        .strip_prefix("sessiongate=")
        .and_then(|v| v.split(';').next())
        .expect("cookie value")
        .to_owned();
    assert_eq!(id.len(), 64);
    let cookie = format!("Cookie: sessiongate={id}; other=othersecretvalue");
    let page = http(addr, &format!("GET /account HTTP/1.1\r\n{cookie}"), "");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    http(
        addr,
        &format!("GET /.sessiongate/session HTTP/1.1\r\n{cookie}"),
        "",
    );
    http(
        addr,
        &format!("POST /.sessiongate/refresh HTTP/1.1\r\n{cookie}"),
        "",
    );
    let bogus = "Cookie: sessiongate=bogusbogusbogus0123";
    http(addr, &format!("GET / HTTP/1.1\r\n{bogus}"), "");
    http(
        addr,
        &format!("GET /.sessiongate/logout HTTP/1.1\r\n{cookie}"),
        "",
    );
    // A head broken off mid-way: a connection error, logged at DEBUG, so
    // the capture below provably ran with more than INFO on.
    {
        use std::io::Write as _;
        let mut torn = std::net::TcpStream::connect(addr).expect("connect");
        torn.write_all(format!("GET / HTTP/1.1\r\n{cookie}\r\nHost: x").as_bytes())
            .expect("write");
    }
    // Every line up to that one is kept for the checks below.
    let mut lines = Vec::new();
    while !lines
        .last()
        .is_some_and(|line: &String| line.contains("connection ended with an error"))
    {
        match demo.lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => lines.push(line),
            Err(_) => panic!("no DEBUG line: was trace logging on?\n{}", lines.join("\n")),
        }
    }
    demo.stop_cleanly(SIGINT);
    lines.extend(demo.drain());
    for line in &lines {
        for secret in [id.as_str(), "othersecretvalue", "bogusbogusbogus0123"] {
            assert!(!line.contains(secret), "a secret reached the log: {line}");
        }
    }
}

/// `check` reports the session API's token file: missing or empty is an
/// error (exit 1, naming the file), readable by others a warning (exit 0).
#[test]
fn check_reports_the_admin_token_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin-token");
    let config = dir.path().join("sessiongate.toml");
    std::fs::write(&config, "[admin]\ntoken_file = \"admin-token\"\n").unwrap();
    let config = config.to_str().unwrap();
    let check = || sessiongate(&["check", "--config", config]);

    let out = check();
    assert_eq!(out.status.code(), Some(1), "a missing token file");
    let missing = stderr(&out);
    assert!(
        missing.contains("admin-token") && missing.contains("cannot read"),
        "{missing}"
    );

    std::fs::write(&token, " \n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = check();
    assert_eq!(out.status.code(), Some(1), "an empty token file");
    assert!(stderr(&out).contains("is empty"));

    std::fs::write(&token, "t0ken\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = check();
    assert!(out.status.success());
    let warned = stderr(&out);
    assert!(
        warned.contains("warning") && warned.contains("chmod 600"),
        "{warned}"
    );

    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = check();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

/// `$SESSIONGATE_ADMIN_TOKEN` turns the session API on (and wins over the
/// file); `run` refuses to start with a token file it cannot read.
#[test]
fn the_admin_token_comes_from_the_environment_and_a_missing_file_stops_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = &config_file(&dir, "127.0.0.1:0", "");
    let gw = Running::start_with_env(
        &["run", "--config", config],
        &[
            ("SESSIONGATE_LOG", "info"),
            ("SESSIONGATE_ADMIN_TOKEN", " from-env "),
        ],
    );
    gw.wait_for("listening on");
    let admin = gw.wait_for("(admin:");
    let addr = admin
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let ask = |token: &str| {
        let request = format!(
            "GET /sessions?user=alice HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        http_raw(&addr, &request)
    };
    assert!(
        ask("from-env").starts_with("HTTP/1.1 200"),
        "{}",
        ask("from-env")
    );
    assert!(ask("wrong").starts_with("HTTP/1.1 401"));

    std::fs::write(
        config,
        "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"gone\"\n",
    )
    .unwrap();
    let out = sessiongate(&["run", "--config", config]);
    assert!(exit_1(&out).contains("admin.token_file"));
}

fn http_raw(addr: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the admin listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}
