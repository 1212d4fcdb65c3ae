//! A listing for people: one row per session, times in UTC, remaining
//! times as "29m 12s".

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::{Listing, Revoke, Revoked};

const HEADERS: [&str; 5] = [
    "HANDLE",
    "CREATED",
    "LAST SEEN",
    "EXPIRES IN",
    "ABSOLUTE EXPIRES IN",
];

/// The listing as an aligned table, or one line saying there is nothing.
pub fn table(listing: &Listing) -> String {
    if listing.sessions.is_empty() {
        return format!("no live sessions for user {:?}\n", listing.user);
    }
    let rows: Vec<[String; 5]> = listing
        .sessions
        .iter()
        .map(|s| {
            [
                s.handle.clone(),
                timestamp(s.created),
                timestamp(s.last_seen),
                duration(s.expires_in),
                s.absolute_expires_in
                    .map_or_else(|| "none".to_owned(), duration),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let headers = HEADERS.map(str::to_owned);
    for row in std::iter::once(&headers).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let _ = write!(line, "{cell:<width$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How many sessions a revocation ended, in a sentence.
pub fn revoked(what: &Revoke, answer: &Revoked) -> String {
    let n = answer.revoked;
    let sessions = if n == 1 { "session" } else { "sessions" };
    match what {
        Revoke::User(user) => format!("revoked {n} {sessions} of user {user:?}\n"),
        Revoke::Handle(handle) => format!("revoked {n} {sessions} (handle {handle})\n"),
    }
}

/// Unix seconds as ISO-8601 UTC: `2026-12-02T19:21:35Z`.
/// Past the year 9999 (no such session; a broken answer) the number is
/// shown as it came.
pub fn timestamp(unix_seconds: u64) -> String {
    /// 9999-12-31T23:59:59Z, the last instant RFC 3339 can write.
    const LAST: u64 = 253_402_300_799;
    if unix_seconds > LAST {
        return format!("@{unix_seconds}");
    }
    let time = UNIX_EPOCH + Duration::from_secs(unix_seconds);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Seconds as their two largest units: `45s`, `29m 12s`, `11h 5m`,
/// `13d 23h`.
pub fn duration(seconds: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    match seconds {
        s if s < MINUTE => format!("{s}s"),
        s if s < HOUR => format!("{}m {}s", s / MINUTE, s % MINUTE),
        s if s < DAY => format!("{}h {}m", s / HOUR, s % HOUR / MINUTE),
        s => format!("{}d {}h", s / DAY, s % DAY / HOUR),
    }
}
