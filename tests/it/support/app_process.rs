//! A real application as a child process: it listens on `PORT=0`, announces
//! `listening on PORT` on stdout, and is killed by PID on drop. Shared by
//! the Node.js and Django test applications.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running application, killed on drop.
pub struct AppProcess {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

/// How to start one application and what to say when it does not start.
pub struct Launch<'a> {
    /// The program and its arguments; `PORT=0` and the pipes are added.
    pub cmd: Command,
    /// What it is, in messages: `node express-external.js`.
    pub name: &'a str,
    /// What to do when the program is not installed.
    pub not_found: &'a str,
    /// How long it may take to announce its port.
    pub start_timeout: Duration,
    /// A clearer message for a known failure, from its stderr.
    pub diagnose: fn(&str) -> Option<String>,
}

impl AppProcess {
    /// Starts the application and waits until it announces its port.
    /// Panics, with its stderr, when it exits or stays silent too long.
    pub fn start(launch: Launch<'_>) -> AppProcess {
        let Launch {
            mut cmd,
            name,
            not_found,
            start_timeout,
            diagnose,
        } = launch;
        cmd.env("PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{not_found}"),
            Err(e) => panic!("cannot start {name}: {e}"),
        };
        let stderr = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().expect("piped stderr"), stderr.clone());
        let port = announced_port(child.stdout.take().expect("piped stdout"));
        let Ok(port) = port.recv_timeout(start_timeout) else {
            let _ = child.kill();
            let status = child.wait().ok();
            // The drain thread reads to EOF once the child is gone.
            std::thread::sleep(Duration::from_millis(100));
            let stderr = stderr.lock().unwrap().clone();
            if let Some(message) = diagnose(&stderr) {
                panic!("{message}\n{stderr}");
            }
            panic!(
                "{name} exited or did not announce `listening on PORT` within \
                 {start_timeout:?} (exit: {status:?}); its stderr:\n{stderr}"
            );
        };
        AppProcess {
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

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads stdout on a thread: sends the port from the first `listening on
/// PORT` line, then keeps draining so the app never blocks on a full pipe.
/// The sender is dropped at EOF, so a dead app ends the wait at once.
fn announced_port(stdout: impl Read + Send + 'static) -> mpsc::Receiver<u16> {
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
fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
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
