//! A real fronting proxy per test, for forward-auth (SPEC §11): Debian's
//! nginx (`/usr/sbin/nginx`, with the auth_request module) or Caddy
//! (`/usr/bin/caddy`), each a non-daemon child process with its own
//! temporary prefix, on a free port of 127.0.0.1, killed by PID on drop.
//!
//! The configuration is the deploy kit's own file
//! (`deploy/forward-auth/nginx.conf`, `deploy/forward-auth/Caddyfile`) with
//! only its addresses replaced: [`Deployed::with`] fails the test when an
//! address it replaces is no longer in the file, so the file the README
//! shows is the file the tests run. A missing binary fails the test: it
//! never skips (scripts/test installs nginx-light and caddy).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::redis::{Started, until_ready};

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The repository's `deploy/forward-auth/NAME`.
pub fn deploy_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/forward-auth")
        .join(name)
}

/// A deploy-kit file's text with some of its literal text replaced.
pub struct Deployed {
    name: &'static str,
    text: String,
}

impl Deployed {
    pub fn read(name: &'static str) -> Deployed {
        let path = deploy_file(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Deployed { name, text }
    }

    /// Replaces every occurrence of `from` (which must occur) with `to`.
    pub fn with(mut self, from: &str, to: &str) -> Deployed {
        assert!(
            self.text.contains(from),
            "deploy/forward-auth/{} no longer contains {from:?}: update the test with the file",
            self.name
        );
        self.text = self.text.replace(from, to);
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A running nginx or Caddy; killed on drop.
pub struct Fronting {
    pub addr: SocketAddr,
    child: Child,
    dir: TempDir,
    log: PathBuf,
}

impl Fronting {
    /// nginx with `server_block` (the deploy file, addresses replaced) in
    /// its http context; `{LISTEN}` in it is replaced by the port.
    pub fn nginx(server_block: &Deployed) -> Fronting {
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temporary directory");
            let port = free_port();
            let prefix = dir.path().display().to_string();
            let site = server_block
                .text()
                .replace("{LISTEN}", &format!("127.0.0.1:{port}"));
            std::fs::write(dir.path().join("site.conf"), site).unwrap();
            let main = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {prefix}/nginx.pid;\n\
                 error_log {prefix}/error.log info;\nevents {{ worker_connections 256; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  \
                 proxy_temp_path {prefix}/proxy;\n  fastcgi_temp_path {prefix}/fcgi;\n  \
                 uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n  \
                 include {prefix}/site.conf;\n}}\n"
            );
            let conf = dir.path().join("nginx.conf");
            std::fs::write(&conf, main).unwrap();
            let mut cmd = Command::new(nginx_binary());
            cmd.arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-c")
                .arg(&conf);
            let log = dir.path().join("error.log");
            if let Some(fronting) = Fronting::spawn("nginx", cmd, dir, log, port) {
                return fronting;
            }
        }
        panic!("nginx did not start on any of 5 free ports");
    }

    /// Caddy running `caddyfile` (the deploy file, addresses replaced);
    /// `{LISTEN}` in it is replaced by `:PORT`. Its admin endpoint is off
    /// and automatic HTTPS too (a global options block put first).
    pub fn caddy(caddyfile: &Deployed) -> Fronting {
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temporary directory");
            let port = free_port();
            let text = format!(
                "{{\n\tadmin off\n\tauto_https off\n}}\n\n{}",
                caddyfile.text().replace("{LISTEN}", &format!(":{port}"))
            );
            let path = dir.path().join("Caddyfile");
            std::fs::write(&path, text).unwrap();
            let log = dir.path().join("caddy.log");
            let mut cmd = Command::new("/usr/bin/caddy");
            cmd.arg("run")
                .arg("--config")
                .arg(&path)
                .arg("--adapter")
                .arg("caddyfile")
                .env("HOME", dir.path())
                .env("XDG_CONFIG_HOME", dir.path().join("config"))
                .env("XDG_DATA_HOME", dir.path().join("data"));
            if let Some(fronting) = Fronting::spawn("caddy", cmd, dir, log, port) {
                return fronting;
            }
        }
        panic!("caddy did not start on any of 5 free ports");
    }

    /// `http://127.0.0.1:PORT{path}`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What the process logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn spawn(what: &str, mut cmd: Command, dir: TempDir, log: PathBuf, port: u16) -> Option<Self> {
        let out = std::fs::File::create(if what == "caddy" {
            log.clone()
        } else {
            dir.path().join("stderr.log")
        })
        .unwrap();
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "{what} not found: install it (apt-get install -y {})",
                if what == "nginx" {
                    "nginx-light"
                } else {
                    "caddy"
                }
            ),
            Err(e) => panic!("cannot start {what}: {e}"),
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let ready = || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
        match until_ready(&mut child, START_TIMEOUT, ready) {
            Started::Ready => Some(Fronting {
                addr,
                child,
                dir,
                log,
            }),
            Started::Exited(status) => {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                // A taken port is worth another try; anything else is a bug.
                if text.contains("in use") {
                    return None;
                }
                panic!("{what} exited ({status}) at start:\n{text}");
            }
            Started::TimedOut => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not listen within {START_TIMEOUT:?}");
            }
        }
    }
}

impl Drop for Fronting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}
