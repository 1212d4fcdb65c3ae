//! The access log's request line, written without the `tracing` event
//! machinery when the binary logs plain text ([`enable_plain_text`]):
//! formatted by hand into a per-thread buffer, byte for byte as
//! tracing-subscriber's text format writes the same event, and written to
//! stderr in batches: when the buffer fills, and when the worker thread
//! goes idle or stops ([`flush`], hooked into the runtime by the binary).
//! Lines are never held across an idle worker, so a quiet gateway's log is
//! as prompt as before, and a graceful shutdown writes every line (the
//! workers stop, and flush, before the process exits).
//!
//! Anything else (JSON, colours at a terminal, a library user's own
//! subscriber) takes the `tracing` event as before: see
//! [`crate::record::Recorder::finish`].

use std::cell::RefCell;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Written out once a thread's buffer holds this much.
const FLUSH_AT: usize = 8 * 1024;

static PLAIN_TEXT: AtomicBool = AtomicBool::new(false);

/// Called by the binary when its subscriber writes tracing-subscriber's
/// plain text format (no colours) to stderr: request lines then take the
/// fast path, when the filter lets `sessiongate::access` through.
pub fn enable_plain_text() {
    PLAIN_TEXT.store(true, Ordering::Relaxed);
}

/// Whether request lines are formatted here.
pub fn plain_text() -> bool {
    PLAIN_TEXT.load(Ordering::Relaxed)
        && tracing::enabled!(target: "sessiongate::access", tracing::Level::INFO)
}

struct Buffer {
    bytes: Vec<u8>,
    /// `YYYY-MM-DDTHH:MM:SS.` of the second last formatted.
    second: u64,
    prefix: [u8; 20],
}

impl Drop for Buffer {
    fn drop(&mut self) {
        write_out(&mut self.bytes);
    }
}

thread_local! {
    static BUFFER: RefCell<Buffer> = const {
        RefCell::new(Buffer { bytes: Vec::new(), second: u64::MAX, prefix: [0; 20] })
    };
}

/// Writes this thread's buffered lines to stderr.
pub fn flush() {
    let _ = BUFFER.try_with(|b| {
        if let Ok(mut b) = b.try_borrow_mut()
            && !b.bytes.is_empty()
        {
            write_out(&mut b.bytes);
        }
    });
}

fn write_out(bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    // As tracing-subscriber's writer: a failed write to stderr is dropped.
    let _ = std::io::stderr().lock().write_all(bytes);
    bytes.clear();
}

/// One request's fields, as `Recorder::finish` has them.
pub struct Line<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    /// The route's name, or `-`.
    pub route: &'a str,
    /// `route` as `{:?}` shows it (quoted, escaped): what the text shows.
    pub route_quoted: &'a str,
    pub outcome: &'a str,
    pub reason: &'a str,
    pub duration_ms: f64,
    pub store_ms: f64,
    pub upstream_ms: f64,
    pub client: IpAddr,
}

/// `line` as a `tracing` event, for any subscriber.
pub fn event(line: &Line<'_>) {
    tracing::info!(
        target: "sessiongate::access",
        method = %line.method,
        path = %line.path,
        status = line.status,
        route = line.route,
        outcome = line.outcome,
        reason = line.reason,
        duration_ms = line.duration_ms,
        store_ms = line.store_ms,
        upstream_ms = line.upstream_ms,
        client = %line.client,
    );
}

/// Appends `line` to this thread's buffer, writing the buffer out once it
/// is full.
pub fn write(line: &Line<'_>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        let b = &mut *b;
        if b.second != now.as_secs() {
            b.second = now.as_secs();
            b.prefix = civil_prefix(now.as_secs());
        }
        format_line(&mut b.bytes, &b.prefix, now.subsec_micros(), line);
        if b.bytes.len() >= FLUSH_AT {
            write_out(&mut b.bytes);
        }
    });
}

/// `line` as tracing-subscriber's `Full` text format writes it (without
/// colours): `TIMESTAMP  INFO sessiongate::access: method=GET path=/x
/// status=200 route="app" outcome="forwarded" reason="-" duration_ms=0.5
/// store_ms=0.1 upstream_ms=0.3 client=127.0.0.1`. `&str` fields are
/// shown with `{:?}` (quoted), `%` ones with `{}`, numbers with `{:?}`.
fn format_line(out: &mut Vec<u8>, prefix: &[u8; 20], micros: u32, line: &Line<'_>) {
    out.extend_from_slice(prefix);
    let mut digits = [b'0'; 6];
    let mut m = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (m % 10) as u8;
        m /= 10;
    }
    out.extend_from_slice(&digits);
    out.extend_from_slice(b"Z  INFO sessiongate::access: method=");
    out.extend_from_slice(line.method.as_bytes());
    out.extend_from_slice(b" path=");
    out.extend_from_slice(line.path.as_bytes());
    out.extend_from_slice(b" status=");
    decimal(out, u64::from(line.status));
    out.extend_from_slice(b" route=");
    out.extend_from_slice(line.route_quoted.as_bytes());
    // Outcome and reason labels are ASCII words: quoted as `{:?}` would.
    out.extend_from_slice(b" outcome=\"");
    out.extend_from_slice(line.outcome.as_bytes());
    out.extend_from_slice(b"\" reason=\"");
    out.extend_from_slice(line.reason.as_bytes());
    out.extend_from_slice(b"\" duration_ms=");
    float(out, line.duration_ms);
    out.extend_from_slice(b" store_ms=");
    float(out, line.store_ms);
    out.extend_from_slice(b" upstream_ms=");
    float(out, line.upstream_ms);
    out.extend_from_slice(b" client=");
    match line.client {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                decimal(out, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
    out.push(b'\n');
}

fn decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `{:?}` of an `f64`: the shortest decimal that reads back as `x`; most
/// store and upstream times are exactly zero.
fn float(out: &mut Vec<u8>, x: f64) {
    if x == 0.0 && x.is_sign_positive() {
        out.extend_from_slice(b"0.0");
    } else {
        let _ = write!(out, "{x:?}");
    }
}

/// `YYYY-MM-DDTHH:MM:SS.` (UTC) of `secs` since the Unix epoch, as
/// tracing-subscriber's `SystemTime` timer writes it.
fn civil_prefix(secs: u64) -> [u8; 20] {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Howard Hinnant's days-from-civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut p = *b"0000-00-00T00:00:00.";
    let put = |p: &mut [u8; 20], at: usize, width: usize, mut v: u64| {
        for i in (0..width).rev() {
            p[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(&mut p, 0, 4, year as u64);
    put(&mut p, 5, 2, month as u64);
    put(&mut p, 8, 2, day as u64);
    put(&mut p, 11, 2, hour);
    put(&mut p, 14, 2, minute);
    put(&mut p, 17, 2, second);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timestamp_is_utc_rfc3339() {
        assert_eq!(&civil_prefix(0), b"1970-01-01T00:00:00.");
        // 2026-12-03T09:28:02Z
        assert_eq!(&civil_prefix(1_796_290_082), b"2026-12-03T09:28:02.");
        // A leap day.
        assert_eq!(&civil_prefix(951_782_400), b"2000-02-29T00:00:00.");
    }

    /// What tracing-subscriber's text format (as the binary sets it up,
    /// without colours) writes for [`event`].
    fn as_tracing_writes(line: &Line<'_>) -> String {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || event(line));
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    fn lines() -> Vec<Line<'static>> {
        let base = Line {
            method: "GET",
            path: "/a%20b\"c",
            status: 401,
            route: "default",
            route_quoted: "\"default\"",
            outcome: "unauthorized",
            reason: "missing",
            duration_ms: 1.080222,
            store_ms: 0.0,
            upstream_ms: 0.000012,
            client: "127.0.0.1".parse().unwrap(),
        };
        vec![
            Line { ..base },
            Line {
                method: "PATCH",
                path: "/",
                status: 200,
                route: "-",
                route_quoted: "\"-\"",
                outcome: "-",
                reason: "-",
                duration_ms: 30.910004,
                store_ms: 12345.5,
                upstream_ms: 1e16,
                client: "2001:db8::1".parse().unwrap(),
            },
            Line {
                route: "a \"quoted\" \\ route é\t",
                route_quoted: "\"a \\\"quoted\\\" \\\\ route é\\t\"",
                duration_ms: 0.1 + 0.2,
                store_ms: -0.0,
                upstream_ms: 99.99999999999999,
                client: "10.200.3.255".parse().unwrap(),
                ..base
            },
        ]
    }

    #[test]
    fn a_line_is_byte_for_byte_what_tracing_subscriber_writes() {
        for line in lines() {
            assert_eq!(line.route_quoted, format!("{:?}", line.route));
            let expected = as_tracing_writes(&line);
            // The timestamp is the one part that differs.
            let (stamp, rest) = expected.split_at(27);
            let (micros, prefix) = (&stamp[20..26], &stamp[..20]);
            let mut out = Vec::new();
            let prefix: [u8; 20] = prefix.as_bytes().try_into().unwrap();
            format_line(&mut out, &prefix, micros.parse().unwrap(), &line);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{stamp}{rest}"));
        }
    }

    #[test]
    fn the_line_is_tracing_subscribers_text_format() {
        let mut out = Vec::new();
        // The first of `lines()`: GET /a%20b"c, 401 on route "default".
        let line = lines().swap_remove(0);
        format_line(&mut out, b"2026-12-03T09:28:02.", 4_542, &line);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-12-03T09:28:02.004542Z  INFO sessiongate::access: method=GET \
             path=/a%20b\"c status=401 route=\"default\" outcome=\"unauthorized\" \
             reason=\"missing\" duration_ms=1.080222 store_ms=0.0 upstream_ms=1.2e-5 \
             client=127.0.0.1\n"
        );
    }
}
