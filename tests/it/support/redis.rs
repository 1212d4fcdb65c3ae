//! A real `redis-server` per test.
//!
//! ```ignore
//! let redis = RedisServer::start();          // 127.0.0.1, a free port
//! let store = RedisStore::connect(&redis.url(), op_timeout)?;
//! let ttl: i64 = redis.query(&["PTTL", "some-key"]);
//! redis.pause();  /* SIGSTOP: requests stall */  redis.resume();
//! redis.kill();   /* gone */                     redis.restart(); // same port
//! ```
//!
//! The server keeps nothing on disk (`--save "" --appendonly no`, its
//! working directory is a temporary one) and is killed by PID on drop. A
//! missing `redis-server` fails the test: it never skips.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::signal::{SIGCONT, SIGSTOP, Signal};

/// How long a starting server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the server listens.
#[derive(Debug, Clone)]
enum Listen {
    Tcp(u16),
    Unix(PathBuf),
}

/// A `redis-server` child process, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    listen: Listen,
    dir: TempDir,
    /// Appends every write to an AOF in `dir` before answering it, so a
    /// killed server restarts with every acknowledged write.
    durable: bool,
}

impl RedisServer {
    /// Starts a server on a free TCP port of 127.0.0.1 and waits until it
    /// answers `PING`.
    pub fn start() -> Self {
        Self::start_tcp(false)
    }

    /// [`Self::start`] with an append-only file (`--appendonly yes
    /// --appendfsync no`): Redis writes each command to the file before it
    /// answers, so [`Self::restart`] after a SIGKILL loses no acknowledged
    /// write (the kernel keeps what a killed process wrote). For a test
    /// that kills Redis at any moment and expects every session to survive.
    pub fn start_durable() -> Self {
        Self::start_tcp(true)
    }

    fn start_tcp(durable: bool) -> Self {
        // Binding port 0 and releasing it can race with another process
        // taking the port: try a few fresh ports before giving up.
        for _ in 0..5 {
            let mut server = Self {
                child: None,
                listen: Listen::Tcp(free_port()),
                dir: tempfile::tempdir().expect("create a temporary directory"),
                durable,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts a server listening only on a unix socket in a temporary
    /// directory (for `redis+unix://` URLs).
    pub fn start_unix() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let socket = dir.path().join("redis.sock");
        let mut server = Self {
            child: None,
            listen: Listen::Unix(socket),
            dir,
            durable: false,
        };
        assert!(
            server.spawn(),
            "redis-server did not start on a unix socket"
        );
        server
    }

    /// The URL to connect to: `redis://127.0.0.1:PORT` or
    /// `redis+unix:///path/to/redis.sock`.
    pub fn url(&self) -> String {
        match &self.listen {
            Listen::Tcp(port) => format!("redis://127.0.0.1:{port}"),
            Listen::Unix(path) => format!("redis+unix://{}", path.display()),
        }
    }

    /// Stops the server with SIGSTOP: connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal(SIGSTOP);
    }

    /// Resumes a paused server with SIGCONT.
    pub fn resume(&self) {
        self.signal(SIGCONT);
    }

    /// Kills the server (SIGKILL) and waits for it to exit; its data is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's PID, while it runs (to sample or signal it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server if running and starts a fresh one on the same
    /// address: empty, or, for [`Self::start_durable`], with every write
    /// the killed one acknowledged.
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "redis-server did not restart on {}",
            self.url()
        );
    }

    /// Saves the data (`SAVE`), kills the server and starts it again on the
    /// same address and directory, where it loads what it saved: every
    /// connection to it breaks, the sessions survive.
    pub fn restart_keeping_data(&mut self) {
        let _: () = self.query(&["SAVE"]);
        self.restart();
    }

    /// Runs one command on a fresh synchronous connection, e.g.
    /// `query::<i64>(&["PTTL", key])` or `query::<String>(&["INFO", "commandstats"])`.
    pub fn query<T: ::redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut conn = self.connection();
        let (name, rest) = args.split_first().expect("a command");
        ::redis::cmd(name)
            .arg(rest)
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("redis command {name} failed: {e}"))
    }

    /// A synchronous connection (with 5 s timeouts) for checks from a test.
    pub fn connection(&self) -> ::redis::Connection {
        let client = ::redis::Client::open(self.url()).expect("valid redis URL");
        let conn = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect to the test redis-server");
        conn.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set read timeout");
        conn
    }

    /// Spawns `redis-server` on `self.listen`; `false` when it exited before
    /// answering (its port was taken).
    fn spawn(&mut self) -> bool {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--save", ""]);
        if self.durable {
            cmd.args(["--appendonly", "yes", "--appendfsync", "no"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        cmd.arg("--dir")
            .arg(self.dir.path())
            .args(["--daemonize", "no", "--logfile", ""])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match &self.listen {
            Listen::Tcp(port) => {
                cmd.args(["--port", &port.to_string()]);
            }
            Listen::Unix(path) => {
                cmd.args(["--port", "0", "--unixsocketperm", "700", "--unixsocket"])
                    .arg(path);
            }
        }
        let mut child = spawn_redis_server(&mut cmd);
        match until_ready(&mut child, START_TIMEOUT, || self.answers_ping()) {
            Started::Ready => {
                self.child = Some(child);
                true
            }
            Started::Exited(_) => false,
            Started::TimedOut => {
                self.child = Some(child);
                panic!("redis-server did not answer PING within {START_TIMEOUT:?}")
            }
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(client) = ::redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
            return false;
        };
        ::redis::cmd("PING").query::<String>(&mut conn).is_ok()
    }

    fn signal(&self, signal: Signal) {
        let child = self.child.as_ref().expect("redis-server is running");
        super::signal::send(child.id(), signal);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `redis-server` as `cmd` describes. A missing binary fails the
/// test (it never skips): every fixture of a Redis process starts here.
pub(crate) fn spawn_redis_server(cmd: &mut Command) -> Child {
    match cmd.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("redis-server not found: install it (apt-get install -y redis-server)")
        }
        Err(e) => panic!("cannot start redis-server: {e}"),
    }
}

/// How a starting process came out of [`until_ready`].
pub(crate) enum Started {
    Ready,
    Exited(std::process::ExitStatus),
    TimedOut,
}

/// Polls `ready` every 20 ms until it holds, the process exits (a taken
/// port, a bad argument) or `timeout` passes.
pub(crate) fn until_ready(
    child: &mut Child,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Started {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(Some(status)) = child.try_wait() {
            return Started::Exited(status);
        }
        if ready() {
            return Started::Ready;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Started::TimedOut
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// A `redis-server` that speaks only TLS (`--port 0 --tls-port PORT`), with
/// a fresh self-signed certificate for `127.0.0.1` and `localhost`: valid
/// for the address, trusted by no root store.
///
/// ```ignore
/// let redis = TlsRedisServer::start();
/// let url = redis.url();                        // rediss://127.0.0.1:PORT
/// let port: String = redis.query_config("port"); // "0": no plain TCP
/// ```
///
/// Checks from a test go through a TLS client that trusts this certificate
/// alone ([`TlsRedisServer::query`]). Like [`RedisServer`], it keeps nothing
/// on disk, is killed by PID on drop, and a missing `redis-server` fails the
/// test.
pub struct TlsRedisServer {
    child: Option<Child>,
    port: u16,
    cert: rcgen::CertifiedKey<rcgen::KeyPair>,
    dir: TempDir,
}

impl TlsRedisServer {
    /// Starts a TLS-only server on a free port of 127.0.0.1 and waits until
    /// it answers `PING` over TLS.
    pub fn start() -> Self {
        for _ in 0..5 {
            let mut server = Self {
                child: None,
                port: free_port(),
                cert: rcgen::generate_simple_self_signed(vec![
                    "127.0.0.1".to_owned(),
                    "localhost".to_owned(),
                ])
                .expect("generate a self-signed certificate"),
                dir: tempfile::tempdir().expect("create a temporary directory"),
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("TLS redis-server did not start on any of 5 free ports");
    }

    /// `rediss://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// The server's self-signed certificate (PEM), to trust as a CA.
    pub fn cert_path(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The TLS port (the only one the server listens on).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs one command over TLS, trusting the server's certificate, e.g.
    /// `query::<i64>(&["EXISTS", key])`.
    pub fn query<T: ::redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let (name, rest) = args.split_first().expect("a command");
        let reply = self
            .tls_command(::redis::cmd(name).arg(rest), Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("redis command {name} over TLS failed: {e}"));
        ::redis::from_redis_value(reply)
            .unwrap_or_else(|e| panic!("unexpected reply to {name}: {e}"))
    }

    /// `CONFIG GET name` over TLS: the value of one server parameter.
    pub fn query_config(&self, name: &str) -> String {
        let (key, value): (String, String) = self.query(&["CONFIG", "GET", name]);
        assert_eq!(key, name, "CONFIG GET answers for the parameter asked");
        value
    }

    /// Sends `cmd` on a fresh TLS connection that trusts only this server's
    /// certificate and verifies it for the IP address `127.0.0.1`, the
    /// host a `rediss://127.0.0.1:PORT` client verifies.
    fn tls_command(&self, cmd: &::redis::Cmd, timeout: Duration) -> Result<::redis::Value, String> {
        use std::io::Write as _;
        use std::net::{Ipv4Addr, SocketAddr, TcpStream};
        use std::sync::Arc;

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert.cert.der().clone())
            .map_err(|e| e.to_string())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
        let tls =
            rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;

        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(timeout))
            .and_then(|()| tcp.set_write_timeout(Some(timeout)))
            .map_err(|e| e.to_string())?;
        let mut stream = rustls::StreamOwned::new(tls, tcp);
        stream
            .write_all(&cmd.get_packed_command())
            .map_err(|e| e.to_string())?;
        ::redis::Parser::new()
            .parse_value(&mut stream)
            .map_err(|e| e.to_string())
    }

    /// Spawns the TLS-only server with its certificate written to its
    /// temporary directory; `false` when it exited before answering (its
    /// port was taken).
    fn spawn(&mut self) -> bool {
        let (cert, key) = (
            self.dir.path().join("cert.pem"),
            self.dir.path().join("key.pem"),
        );
        std::fs::write(&cert, self.cert.cert.pem()).expect("write cert.pem");
        std::fs::write(&key, self.cert.signing_key.serialize_pem()).expect("write key.pem");
        let log = self.dir.path().join("redis.log");
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--daemonize", "no", "--logfile"])
            .arg(&log)
            .args(["--port", "0", "--tls-port", &self.port.to_string()])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&cert)
            .args(["--tls-auth-clients", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = spawn_redis_server(&mut cmd);
        let ping = || {
            let pong = self.tls_command(&::redis::cmd("PING"), Duration::from_millis(500));
            matches!(pong, Ok(::redis::Value::SimpleString(ref p)) if p == "PONG")
        };
        match until_ready(&mut child, START_TIMEOUT, ping) {
            Started::Ready => {
                self.child = Some(child);
                true
            }
            Started::Exited(_) => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                // A taken port is worth another try; anything else (a build
                // without TLS, a rejected certificate) is not.
                assert!(
                    log.contains("Address already in use"),
                    "TLS redis-server exited at start:\n{log}"
                );
                false
            }
            Started::TimedOut => {
                self.child = Some(child);
                panic!("TLS redis-server did not answer PING within {START_TIMEOUT:?}")
            }
        }
    }
}

impl Drop for TlsRedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
