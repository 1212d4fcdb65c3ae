//! The real Django application `tests/apps/django_app.py` as a child
//! process: cache sessions in the test's Redis, `SESSION_SAVE_EVERY_REQUEST`.
//!
//! ```ignore
//! let app = DjangoApp::django(&redis.url(), &[]);
//! let url = app.url("/login?user=alice");   // http://127.0.0.1:PORT/login?user=alice
//! ```
//!
//! The app listens on `PORT=0` and announces `listening on PORT` on stdout;
//! it is killed by PID on drop. A missing `python3`, Django or redis client
//! fails the test with what to run: it never skips.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::app_process::{AppProcess, Launch};

/// How long the app may take to announce its port (Python's start-up and
/// Django's imports on a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What installs the app's dependencies.
const INSTALL: &str =
    "run scripts/test, or: python3 -m pip install 'Django>=5.2,<5.3' 'redis>=5,<6'";

/// A running `python3 tests/apps/django_app.py`, killed on drop.
pub type DjangoApp = AppProcess;

impl AppProcess {
    /// Starts the app with its sessions in `redis_url` and `env` (e.g.
    /// `SESSION_COOKIE_AGE`), and waits until it prints `listening on
    /// PORT`. Panics, with the app's stderr, when it exits or stays silent
    /// for [`START_TIMEOUT`].
    pub fn django(redis_url: &str, env: &[(&str, &str)]) -> DjangoApp {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/apps/django_app.py");
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .env("REDIS_URL", redis_url)
            .env("PYTHONUNBUFFERED", "1")
            .envs(env.iter().copied());
        AppProcess::start(Launch {
            cmd,
            name: "python3 tests/apps/django_app.py",
            not_found: &format!("python3 not found: install Python 3, then {INSTALL}"),
            start_timeout: START_TIMEOUT,
            diagnose: |stderr| {
                stderr
                    .contains("ModuleNotFoundError")
                    .then(|| format!("Django or redis is missing for python3: {INSTALL}"))
            },
        })
    }
}
