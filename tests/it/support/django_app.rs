//! The real Django application `tests/apps/django_app.py` as a child
//! process: cache sessions in the test's Redis, `SESSION_SAVE_EVERY_REQUEST`.
//!
//! ```ignore
//! let app = DjangoApp::start(&redis.url(), &[]);
//! let url = app.url("/login?user=alice");   // http://127.0.0.1:PORT/login?user=alice
//! ```
//!
//! The app listens on `PORT=0` and announces `listening on PORT` on stdout;
//! it is killed by PID on drop. A missing `python3`, Django or redis client
//! fails the test with what to run: it never skips.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::node_app::{announced_port, drain};

/// How long the app may take to announce its port (Python's start-up and
/// Django's imports on a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What installs the app's dependencies.
const INSTALL: &str =
    "run scripts/test, or: python3 -m pip install 'Django>=5.2,<5.3' 'redis>=5,<6'";

/// A running `python3 tests/apps/django_app.py`, killed on drop.
pub struct DjangoApp {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl DjangoApp {
    /// Starts the app with its sessions in `redis_url` and `env` (e.g.
    /// `SESSION_COOKIE_AGE`), and waits until it prints `listening on
    /// PORT`. Panics, with the app's stderr, when it exits or stays silent
    /// for [`START_TIMEOUT`].
    pub fn start(redis_url: &str, env: &[(&str, &str)]) -> DjangoApp {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/apps/django_app.py");
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .env("PORT", "0")
            .env("REDIS_URL", redis_url)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("python3 not found: install Python 3, then {INSTALL}")
            }
            Err(e) => panic!("cannot start python3 {}: {e}", script.display()),
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
                let stderr = stderr.lock().unwrap().clone();
                if stderr.contains("ModuleNotFoundError") {
                    panic!("Django or redis is missing for python3: {INSTALL}\n{stderr}");
                }
                panic!(
                    "django_app.py exited or did not announce `listening on PORT` within \
                     {START_TIMEOUT:?} (exit: {status:?}); its stderr:\n{stderr}"
                );
            }
        };
        DjangoApp {
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

impl Drop for DjangoApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
