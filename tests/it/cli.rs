//! The `sessiongate` binary as a user runs it: `check`, `run` and `demo`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_sessiongate");
const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/sessiongate.example.toml"
);

fn sessiongate(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("SESSIONGATE_CONFIG")
        .output()
        .expect("run sessiongate")
}

#[test]
fn check_accepts_the_example_config() {
    let out = sessiongate(&["check", "--config", EXAMPLE]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(": ok\n"));
}

#[test]
fn check_prints_every_error_with_its_position_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[session]\nidel_timeout = \"5m\"\ncookie_same_site = \"loose\"\n",
    )
    .unwrap();
    let out = sessiongate(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
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
    let out = Command::new(BIN)
        .arg("check")
        .env("SESSIONGATE_CONFIG", EXAMPLE)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let out = sessiongate(&["check", "--config", "/nonexistent/sessiongate.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/sessiongate.toml"));
}

/// A child process that is killed (by PID) when the test ends.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("SESSIONGATE_CONFIG")
            .env("SESSIONGATE_LOG", "info")
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

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
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

fn config_file(dir: &tempfile::TempDir, listen: &str) -> String {
    let path = dir.path().join("sessiongate.toml");
    std::fs::write(
        &path,
        format!("[server]\nlisten = \"{listen}\"\n[admin]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn run_logs_each_listener_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Running::start(&["run", "--config", &config_file(&dir, "127.0.0.1:0")]);
    gw.wait_for("listening on");
    gw.wait_for("listening on");
    gw.signal("-TERM");
    assert!(gw.wait().success());
}

#[test]
fn run_refuses_a_taken_port_clearly() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = sessiongate(&["run", "--config", &config_file(&dir, &addr)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr} (server.listen)")),
        "{stderr}"
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
    demo.signal("-INT");
    assert!(demo.wait().success());
}
