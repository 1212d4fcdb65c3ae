//! The gateway under test as the operator runs it: the `sessiongate`
//! binary, `run --config FILE`, its stderr in a file, its resources read
//! from `/proc`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::signal::{self, SIGHUP, SIGTERM};

/// How long the binary may take to announce its listener.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The config variants the fault script alternates between on SIGHUP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The config the gateway starts with.
    A,
    /// Valid too, with another login URL (a visible, harmless difference).
    B,
    /// Invalid (`idle_timeout = "0s"`): must be rejected, the old one kept.
    Invalid,
}

/// Timeouts the soak's checks depend on.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);
pub const OP_TIMEOUT: Duration = Duration::from_millis(250);

/// The config file's text for `variant`.
pub fn config_text(redis_url: &str, upstream_url: &str, variant: Variant) -> String {
    let (login_url, idle) = match variant {
        Variant::A => ("/login", "30m"),
        Variant::B => ("/signin", "30m"),
        Variant::Invalid => ("/login", "0s"),
    };
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
header_read_timeout = "{hrt}ms"
keepalive_timeout = "{ka}ms"
shutdown_grace = "2s"
[admin]
listen = "127.0.0.1:0"
[log]
access_log = false
[store]
url = "{redis_url}"
op_timeout = "{op}ms"
[session]
idle_timeout = "{idle}"
[login]
url = "{login_url}"
[upstream]
url = "{upstream_url}"
connect_timeout = "1s"
response_timeout = "5s"
[[route]]
name = "login"
path = "/login"
public = true
[[route]]
name = "pub"
path = "/pub/"
public = true
"#,
        hrt = HEADER_READ_TIMEOUT.as_millis(),
        ka = KEEPALIVE_TIMEOUT.as_millis(),
        op = OP_TIMEOUT.as_millis(),
    )
}

/// The running binary; killed (by PID) on drop.
pub struct GatewayProcess {
    child: Child,
    pub addr: SocketAddr,
    config: PathBuf,
    log: PathBuf,
}

/// One sample of the gateway's resources.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Resources {
    pub rss_kib: u64,
    pub fds: usize,
}

impl GatewayProcess {
    /// Starts `bin run --config DIR/sessiongate.toml` with `text` as the
    /// config, stderr into `DIR/gateway.log`; waits for its listener.
    pub fn start(bin: &Path, dir: &Path, text: &str) -> GatewayProcess {
        let config = dir.join("sessiongate.toml");
        std::fs::write(&config, text).expect("write the gateway config");
        let log = dir.join("gateway.log");
        let stderr = std::fs::File::create(&log).expect("create the gateway log");
        let child = Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env_remove("SESSIONGATE_CONFIG")
            .env_remove("SESSIONGATE_STORE_URL")
            .env_remove("NO_COLOR")
            .env("SESSIONGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut gateway = GatewayProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
            log,
        };
        gateway.addr = gateway.wait_for_listener();
        gateway
    }

    fn wait_for_listener(&mut self) -> SocketAddr {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = self.child.try_wait().expect("poll the gateway") {
                panic!(
                    "the gateway exited at start ({status}):\n{}",
                    self.log_text()
                );
            }
            let found = self.log_text().lines().find_map(|line| {
                let rest = line.split("listening on ").nth(1)?;
                if rest.contains("admin") {
                    return None;
                }
                rest.split(|c: char| c.is_whitespace() || c == '"')
                    .next()?
                    .parse()
                    .ok()
            });
            if let Some(addr) = found {
                return addr;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no `listening on` within {START_TIMEOUT:?}:\n{}",
            self.log_text()
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes `text` over the config file and sends SIGHUP.
    pub fn reload(&self, text: &str) {
        std::fs::write(&self.config, text).expect("rewrite the gateway config");
        signal::send(self.pid(), SIGHUP);
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("poll the gateway").is_none()
    }

    /// Everything the gateway wrote to stderr so far.
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// RSS (`VmRSS` of `/proc/PID/status`) and open descriptors (entries of
    /// `/proc/PID/fd`).
    pub fn resources(&self) -> Resources {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status");
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count();
        Resources { rss_kib, fds }
    }

    /// SIGTERM, then waits (up to 20 s) for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        signal::send(self.pid(), SIGTERM);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Some(status) = self.child.try_wait().expect("poll the gateway") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the gateway did not exit within 20 s of SIGTERM");
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
