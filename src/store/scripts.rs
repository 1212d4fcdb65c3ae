//! The Rust side of the two Lua scripts, `touch.lua` (managed and observe
//! sessions) and `touch_foreign.lua` (external mode): their arguments built
//! in one place, their replies decoded in one place. Every Redis-backed
//! store runs them through `Commands` (`redis.rs`).

use std::sync::LazyLock;
use std::time::Duration;

use redis::{Script, ScriptInvocation};

use super::{ForeignFound, Found, Record, StoreError, Touch};
use crate::clock::millis;

static TOUCH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("touch.lua")));
static TOUCH_FOREIGN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("touch_foreign.lua")));

/// What `touch.lua` returns: the six fields as stored (the user a string,
/// the others integers, `-1` where missing or malformed), then
/// `ttl_before` (read from the record: `touched + idle`, capped by
/// `deadline`), `ttl_after` and `extended`.
pub(super) type TouchReply = (Option<String>, i64, i64, i64, i64, i64, i64, i64, i64);

/// What `touch_foreign.lua` returns: `ttl_before`, `ttl_after` (`-1`: the
/// key has no expiry) and `extended`.
pub(super) type ForeignReply = (i64, i64, i64);

/// `touch.lua` on `key`: `ARGV[1]` is now (Unix ms), the rest [`limits`].
pub(super) fn touch(key: &str, touch: &Touch) -> ScriptInvocation<'static> {
    let mut invocation = TOUCH.key(key);
    invocation.arg(touch.now_ms);
    limits(&mut invocation, touch);
    invocation
}

/// `touch_foreign.lua` on `key`: `ARGV[1]` is the idle timeout (ms), the
/// rest [`limits`].
pub(super) fn touch_foreign(key: &str, idle: Duration, touch: &Touch) -> ScriptInvocation<'static> {
    let mut invocation = TOUCH_FOREIGN.key(key);
    invocation.arg(millis(idle));
    limits(&mut invocation, touch);
    invocation
}

/// `ARGV[2]` to `ARGV[4]` of both scripts, the limits of one touch:
/// whether to extend (`1`/`0`), the least growth worth a write (ms), and a
/// route's stricter idle limit (ms, `-1` for none).
fn limits(invocation: &mut ScriptInvocation<'static>, touch: &Touch) {
    let max_idle = touch
        .max_idle
        .map_or(-1, |d| i64::try_from(millis(d)).unwrap_or(i64::MAX));
    invocation
        .arg(u8::from(touch.extend))
        .arg(millis(touch.min_step))
        .arg(max_idle);
}

/// Turns `touch.lua`'s answer into a [`Found`].
pub(super) fn decode_touch(reply: TouchReply) -> Result<Found, StoreError> {
    let (user, started, idle, deadline, browser, touched, before, after, extended) = reply;
    let record = Record {
        user: user.filter(|u| !u.is_empty()),
        started_ms: number(started, "field `started` is missing or not a number")?,
        idle: Duration::from_millis(number(idle, "field `idle` is missing or not a number")?),
        deadline_ms: Some(number(
            deadline,
            "field `deadline` is missing or not a number",
        )?)
        .filter(|&d| d != 0),
        browser: match browser {
            1 => true,
            0 => false,
            _ => return Err(StoreError::Corrupt("field `browser` is not 0 or 1")),
        },
        touched_ms: number(touched, "field `touched` is missing or not a number")?,
    };
    // The script reads the TTL from `touched`, `idle` and `deadline`, all
    // checked above: -1 here would be a script out of step with this code.
    let ttl_before = number(before, "session has no expiry")?;
    let ttl = number(after, "session has no expiry")?;
    Ok(Found {
        record,
        ttl_before: Duration::from_millis(ttl_before),
        ttl: Duration::from_millis(ttl),
        extended: extended == 1,
    })
}

/// Turns `touch_foreign.lua`'s answer into a [`ForeignFound`].
pub(super) fn decode_foreign((before, after, extended): ForeignReply) -> ForeignFound {
    ForeignFound {
        ttl_before: foreign_ttl(before),
        ttl: foreign_ttl(after),
        extended: extended == 1,
    }
}

/// A `PTTL` answer for a foreign key: `-1` (no expiry) is `None`.
fn foreign_ttl(ttl: i64) -> Option<Duration> {
    u64::try_from(ttl).ok().map(Duration::from_millis)
}

/// A required numeric hash field (`-1`: missing or not a number);
/// `corrupt` says which one is wrong.
fn number(field: i64, corrupt: &'static str) -> Result<u64, StoreError> {
    u64::try_from(field).map_err(|_| StoreError::Corrupt(corrupt))
}
