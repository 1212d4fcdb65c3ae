//! The binary under a small open-file limit (issue 19): the default
//! `server.max_connections` keeps `accept` clear of EMFILE, and a limit
//! set too high for the descriptors is warned about and survives EMFILE
//! without a log storm. Each case floods the proxy with more connections
//! than the process has descriptors, then checks that the same process
//! answers a normal request once they are gone.

use super::*;

/// Well past the 64 descriptors, well within the listen backlog, so
/// every connect completes in the kernel whether accepted or not.
const FLOOD: usize = 100;
const FD_LIMIT: u32 = 64;

/// Opens [`FLOOD`] connections to `addr` that send nothing.
fn flood(addr: std::net::SocketAddr) -> Vec<std::net::TcpStream> {
    (0..FLOOD)
        .map(|_| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .expect("the kernel queues what the gateway cannot accept")
        })
        .collect()
}

/// Waits (at most 20 s) for `addr` to answer a GET of `/` with the login
/// redirect.
fn answers_again(gw: &mut Running, addr: std::net::SocketAddr) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let answer = loop {
        match try_http(addr, "GET / HTTP/1.1", "") {
            Ok(answer) if answer.starts_with("HTTP/1.1 302") => break answer,
            other if std::time::Instant::now() > deadline => {
                panic!("no answer 20 s after the flood ended: {other:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert_eq!(header(&answer, "location"), Some("/login?next=/"));
    assert!(gw.child.try_wait().unwrap().is_none(), "the gateway exited");
}

/// With the default `max_connections`, sized from the open-file limit,
/// the gateway stops accepting at its limit (and says so) instead of
/// running into EMFILE.
#[test]
fn the_default_connection_limit_keeps_accept_clear_of_emfile() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&dir, "127.0.0.1:0", "");
    let mut gw = Running::start_with_fd_limit(FD_LIMIT, &["run", "--config", &config]);
    let addr = listening_addr(&gw.wait_for("listening on"));
    let sized = gw.wait_for("server.max_connections sized from the open-file limit");
    assert!(sized.contains("nofile=64"), "{sized}");
    let held = flood(addr);
    let limited = gw.wait_for("connection limit reached");
    assert!(limited.contains("listener=\"proxy\""), "{limited}");
    drop(held);
    answers_again(&mut gw, addr);
    gw.stop_cleanly(SIGTERM);
    let lines = gw.drain();
    let failed: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("accept failed"))
        .collect();
    assert!(
        failed.is_empty(),
        "accept ran into the file limit: {failed:?}"
    );
}

/// An accept error never ends the server, and never floods the log: with
/// `max_connections` above what 64 descriptors allow (warned about at
/// start-up), `accept` fails with EMFILE, is logged at most once per 10 s,
/// and the same process answers again once the connections are gone.
#[test]
fn an_accept_error_never_ends_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&dir, "127.0.0.1:0", "");
    let config_text = std::fs::read_to_string(&config).unwrap();
    let too_many = config_text.replace("[server]\n", "[server]\nmax_connections = 1000\n");
    std::fs::write(&config, too_many).unwrap();
    let started = std::time::Instant::now();
    let mut gw = Running::start_with_fd_limit(FD_LIMIT, &["run", "--config", &config]);
    let addr = listening_addr(&gw.wait_for("listening on"));
    gw.wait_for("server.max_connections is more than the open-file limit allows");
    let held = flood(addr);
    let failed = gw.wait_for("accept failed");
    assert!(failed.contains("os error 24"), "not EMFILE: {failed}");
    drop(held);
    answers_again(&mut gw, addr);
    gw.stop_cleanly(SIGTERM);
    // One line per 10 s at most (the first one was read above).
    let lines = gw.drain();
    let more = lines.iter().filter(|l| l.contains("accept failed")).count();
    let allowed = (started.elapsed().as_secs() / 10) as usize;
    assert!(
        more <= allowed,
        "{} accept-failure lines in {:?}",
        more + 1,
        started.elapsed()
    );
}
