//! A real Node.js application from `tests/apps/` as a child process.
//!
//! ```ignore
//! let app = NodeApp::node("express-external.js", &[("REDIS_URL", &redis.url())]);
//! let url = app.url("/login?user=alice");   // http://127.0.0.1:PORT/login?user=alice
//! ```
//!
//! The app listens on `PORT=0` and announces `listening on PORT` on stdout;
//! it is killed by PID on drop. A missing `node`, or a `tests/apps` without
//! `node_modules`, fails the test with what to run: it never skips.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::app_process::{AppProcess, Launch};

/// How long an app may take to announce its port (node's start-up, and
/// the express app's first Redis connection, on a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `node tests/apps/<script>`, killed on drop.
pub type NodeApp = AppProcess;

impl AppProcess {
    /// Starts `tests/apps/<script>` with `PORT=0` and `env`, and waits until
    /// it prints `listening on PORT`. Panics, with the app's stderr, when it
    /// exits or stays silent for [`START_TIMEOUT`].
    pub fn node(script: &str, env: &[(&str, &str)]) -> NodeApp {
        let apps = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/apps");
        assert!(
            apps.join("node_modules").is_dir(),
            "run scripts/install-test-apps: tests/apps/node_modules missing"
        );
        let mut cmd = Command::new("node");
        cmd.arg(apps.join(script))
            .current_dir(&apps)
            .envs(env.iter().copied());
        AppProcess::start(Launch {
            cmd,
            name: &format!("node {script}"),
            not_found: "node not found: install Node.js >= 18.19, then run scripts/install-test-apps",
            start_timeout: START_TIMEOUT,
            diagnose: |_| None,
        })
    }
}
