//! A real Node.js application from `tests/apps/` as a child process.
//!
//! ```ignore
//! let app = NodeApp::start("express-external.js", &[("REDIS_URL", &redis.url())]);
//! let url = app.url("/login?user=alice");   // http://127.0.0.1:PORT/login?user=alice
//! ```
//!
//! The app listens on `PORT=0` and announces `listening on PORT` on stdout;
//! it is killed by PID on drop. A missing `node`, or a `tests/apps` without
//! `node_modules`, fails the test with what to run: it never skips.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long an app may take to announce its port (node's start-up, and
/// the express app's first Redis connection, on a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `node tests/apps/<script>`, killed on drop.
pub struct NodeApp {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl NodeApp {
    /// Starts `tests/apps/<script>` with `PORT=0` and `env`, and waits until
    /// it prints `listening on PORT`. Panics, with the app's stderr, when it
    /// exits or stays silent for [`START_TIMEOUT`].
    pub fn start(script: &str, env: &[(&str, &str)]) -> NodeApp {
        let apps = apps_dir();
        assert!(
            apps.join("node_modules").is_dir(),
            "run scripts/install-test-apps: tests/apps/node_modules missing"
        );
        let mut cmd = Command::new("node");
        cmd.arg(apps.join(script))
            .current_dir(&apps)
            .env("PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("node not found: install Node.js >= 20, then run scripts/install-test-apps")
            }
            Err(e) => panic!("cannot start node {script}: {e}"),
        };
        let stderr = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().expect("piped stderr"), stderr.clone());
        let port = announced_port(child.stdout.take().expect("piped stdout"));
        let port = match port.recv_timeout(START_TIMEOUT) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                // The drain thread reads to EOF once the child is gone.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "node {script} exited or did not announce `listening on PORT` within {START_TIMEOUT:?} \
                     (exit: {status:?}); its stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        NodeApp {
            child,
            port,
            stderr,
        }
    }

    /// `http://127.0.0.1:PORT{path}`: the app directly, not through the gateway.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What the app has written to stderr so far (for assertion messages).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for NodeApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `<crate>/tests/apps`
fn apps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/apps")
}

/// Reads stdout on a thread: sends the port from the first `listening on
/// PORT` line, then keeps draining so the app never blocks on a full pipe.
/// The sender is dropped at EOF, so a dead app ends the wait at once.
pub fn announced_port(stdout: impl Read + Send + 'static) -> mpsc::Receiver<u16> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = line
                .trim()
                .strip_prefix("listening on ")
                .and_then(|p| p.parse().ok())
            {
                let _ = tx.send(port);
            }
        }
    });
    rx
}

/// Collects everything from `from` into `into` on a thread.
pub fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}
