//! Every log line the process writes at trace level, whatever thread it is
//! written on: the gateway's tasks, redis-rs's and hyper's run where the
//! runtime puts them, so a thread-local subscriber would miss some.
//!
//! One global subscriber per test process (nextest runs each test in its
//! own); a capture sees what was written after it started.

use std::sync::{Arc, Mutex, OnceLock};

type Sink = Arc<Mutex<Vec<u8>>>;

/// The process's captured output, installed on first use.
fn sink() -> &'static Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || CaptureWriter(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("the log capture is the test process's only global subscriber");
        sink
    })
}

/// What was logged from [`LogCapture::start`] on.
pub struct LogCapture {
    from: usize,
}

impl LogCapture {
    pub fn start() -> LogCapture {
        LogCapture {
            from: sink().lock().unwrap().len(),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&sink().lock().unwrap()[self.from..]).into_owned()
    }

    /// Asserts that logging happened and that no line holds any of `secrets`.
    pub fn assert_free_of(&self, secrets: &[&str]) {
        let text = self.text();
        assert!(text.lines().count() > 20, "trace logging was on:\n{text}");
        for line in text.lines() {
            for secret in secrets {
                assert!(!line.contains(secret), "{secret:?} reached the log: {line}");
            }
        }
    }
}

struct CaptureWriter(Sink);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
