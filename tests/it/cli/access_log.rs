//! The text access log is written in batches (`src/access_log.rs`): every
//! request's line still reaches stderr, in tracing-subscriber's format, by
//! the time a gracefully stopped gateway has exited.

use std::io::{Read as _, Write as _};

use super::{Running, config_file, listening_addr};
use crate::support::signal::SIGTERM;

const REQUESTS: usize = 300;

#[test]
fn every_request_line_is_written_before_a_graceful_exit() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&dir, "127.0.0.1:0", "[log]\naccess_log = true\n");
    let mut gw = Running::start(&["run", "--config", &config]);
    let addr = listening_addr(&gw.wait_for("listening on"));

    // Pipelined on one connection: the worker answers them back to back,
    // so lines pile up in its buffer between flushes.
    let mut requests = String::new();
    for i in 0..REQUESTS {
        let close = if i + 1 == REQUESTS {
            "Connection: close\r\n"
        } else {
            ""
        };
        requests.push_str(&format!(
            "GET /page/{i}?q=secret HTTP/1.1\r\nHost: test\r\n{close}\r\n"
        ));
    }
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(requests.as_bytes()).unwrap();
    let mut answers = String::new();
    stream.read_to_string(&mut answers).unwrap();
    assert_eq!(answers.matches("HTTP/1.1 302 Found\r\n").count(), REQUESTS);

    gw.stop_cleanly(SIGTERM);
    let access: Vec<String> = gw
        .drain()
        .into_iter()
        .filter(|line| line.contains(" sessiongate::access: "))
        .collect();
    assert_eq!(access.len(), REQUESTS, "{access:#?}");
    // Each worker thread writes its own batches: lines of requests served
    // by different workers may come out of order (their timestamps tell).
    let mut paths = Vec::new();
    for line in &access {
        let (stamp, rest) = line.split_at(27);
        assert!(
            stamp.as_bytes()[10] == b'T'
                && stamp.ends_with('Z')
                && stamp[20..26].bytes().all(|b| b.is_ascii_digit()),
            "{line}"
        );
        let rest = rest
            .strip_prefix("  INFO sessiongate::access: method=GET path=/page/")
            .unwrap_or_else(|| panic!("{line}"));
        let (number, rest) = rest.split_once(' ').unwrap();
        paths.push(number.parse::<usize>().unwrap());
        assert!(
            rest.starts_with(
                "status=302 route=\"default\" outcome=\"redirected\" reason=\"missing\" duration_ms="
            ),
            "{line}"
        );
        assert!(
            rest.ends_with(" store_ms=0.0 upstream_ms=0.0 client=127.0.0.1"),
            "{line}"
        );
    }
    paths.sort_unstable();
    assert_eq!(paths, (0..REQUESTS).collect::<Vec<_>>());
}
