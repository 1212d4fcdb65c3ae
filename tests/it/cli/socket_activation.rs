//! systemd socket activation: the binary takes its listeners from inherited
//! file descriptors (`LISTEN_FDS`), exactly as systemd passes them, so a
//! restart never refuses a connection: it waits in the socket's backlog.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::signal::{self, SIGTERM};

use super::BIN;

/// The gateway started the way systemd starts it: the proxy socket as fd 3
/// and the admin socket as fd 4, `LISTEN_PID` naming the gateway itself
/// (`bash` sets it to its own pid, then `exec`s the gateway in its place;
/// bash, not `sh`: dash takes only one-digit descriptors in redirections,
/// and a test process with many threads has copies numbered far higher).
fn activated(config: &std::path::Path, proxy: &TcpListener, admin: &TcpListener) -> Child {
    // dup() leaves close-on-exec off, so the copies reach the child.
    let proxy = nix::unistd::dup(proxy).expect("dup");
    let admin = nix::unistd::dup(admin).expect("dup");
    // Through two numbers above both copies first: moved straight to 3
    // and 4, a copy that is itself fd 3 or 4 (the lowest free numbers, in
    // a test process whose other threads open and close files) would be
    // overwritten before it moves.
    let (p, a) = (proxy.as_raw_fd(), admin.as_raw_fd());
    let (t, u) = (p.max(a) + 1, p.max(a) + 2);
    let script = format!(
        "exec {t}<&{p} {u}<&{a} {p}<&- {a}<&-; exec 3<&{t} 4<&{u} {t}<&- {u}<&-; \
         LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=proxy:admin exec \"$0\" run --config \"$1\""
    );
    let child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .arg(config)
        .env_remove("SESSIONGATE_CONFIG")
        .env_remove("SESSIONGATE_STORE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run bash");
    // The child has its copies; ours close here.
    drop((proxy, admin));
    child
}

/// One HTTP/1.1 request on `stream`; the status line of the answer.
fn status_line(mut stream: TcpStream, path: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    answer.lines().next().unwrap_or_default().to_owned()
}

fn stop(mut child: Child) {
    signal::send(child.id(), SIGTERM);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn inherited_sockets_serve_and_a_restart_refuses_no_connection() {
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").unwrap();
    let (proxy_addr, admin_addr) = (proxy.local_addr().unwrap(), admin.local_addr().unwrap());
    // The config names the very addresses the inherited sockets hold:
    // binding them again would fail, so answers prove the hand-over.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sessiongate.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"{proxy_addr}\"\nshutdown_grace = \"1s\"\n\
             [admin]\nlisten = \"{admin_addr}\"\n\
             [upstream]\nurl = \"http://127.0.0.1:1\"\n\
             [[route]]\nname = \"all\"\npath = \"/\"\npublic = true\n"
        ),
    )
    .unwrap();

    let first = activated(&config, &proxy, &admin);
    // The sockets listen from the start: a request waits in the backlog
    // until the gateway accepts it.
    let healthz = || status_line(TcpStream::connect(admin_addr).unwrap(), "/healthz");
    assert!(healthz().starts_with("HTTP/1.1 200"));
    // The proxy listener forwards (to a closed upstream: 502, from the gateway).
    let proxied = status_line(TcpStream::connect(proxy_addr).unwrap(), "/x");
    assert!(proxied.starts_with("HTTP/1.1 502"), "{proxied}");
    stop(first);

    // Between the two processes the socket stays open: a client connects
    // and sends its request, and the next process answers it.
    let waiting = TcpStream::connect(proxy_addr).expect("the backlog accepts while no one serves");
    let second = activated(&config, &proxy, &admin);
    let answered = status_line(waiting, "/during-the-restart");
    assert!(answered.starts_with("HTTP/1.1 502"), "{answered}");
    assert!(healthz().starts_with("HTTP/1.1 200"));
    stop(second);
}
