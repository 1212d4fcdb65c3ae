//! Stage two for the hard limits (issue 19): `server.max_connections`,
//! `admin.max_connections` and `store.max_sessions`. Each bounds a
//! resource that input can otherwise grow without end (file descriptors,
//! memory); each message names the key, what it got and what to write.

use super::validate::Validator;

/// `admin.max_connections` by default: scrapers, probes and an operator's
/// session API calls, never a crowd.
pub(super) const DEFAULT_ADMIN_CONNECTIONS: i64 = 64;
/// `store.max_sessions` by default: a session record takes a few hundred
/// bytes in memory, so a million stay well under a gigabyte.
pub(super) const DEFAULT_MAX_SESSIONS: i64 = 1_000_000;
/// Beyond this no machine has the file descriptors (and tokio's semaphore
/// its permits): a typo, not a plan.
const MAX_CONNECTIONS: i64 = 1 << 24;
/// Beyond this the memory store's bound is no bound at all.
const MAX_SESSIONS: i64 = 1 << 32;

impl Validator<'_, '_> {
    /// `server.max_connections`: `0` (the default) is sized at start-up
    /// from the open-file limit; `None` when invalid.
    pub(super) fn max_connections(&mut self, path: &str, value: i64) -> Option<Option<usize>> {
        match value {
            0 => Some(None),
            1..=MAX_CONNECTIONS => usize::try_from(value).ok().map(Some),
            _ => {
                self.error(
                    path,
                    format!(
                        "must be between 1 and {MAX_CONNECTIONS}, or 0 to size it from the \
                         open-file limit (ulimit -n; LimitNOFILE= under systemd), got {value}"
                    ),
                );
                None
            }
        }
    }

    /// `admin.max_connections`: at least one.
    pub(super) fn admin_max_connections(&mut self, value: i64) -> Option<usize> {
        if (1..=MAX_CONNECTIONS).contains(&value) {
            return usize::try_from(value).ok();
        }
        self.error(
            "admin.max_connections",
            format!(
                "must be between 1 and {MAX_CONNECTIONS} (the default is \
                 {DEFAULT_ADMIN_CONNECTIONS}), got {value}"
            ),
        );
        None
    }

    /// `store.max_sessions`: at least one; and only with `memory://`, since
    /// a key that silently does nothing hides a misunderstanding (Redis
    /// bounds itself: `maxmemory` with `maxmemory-policy volatile-lru`).
    /// A file written for the memory store still loads when
    /// `$SESSIONGATE_STORE_URL` points it at Redis.
    pub(super) fn max_sessions(&mut self, value: i64, url: Option<&str>) -> Option<u64> {
        if !(1..=MAX_SESSIONS).contains(&value) {
            self.error(
                "store.max_sessions",
                format!(
                    "must be between 1 and {MAX_SESSIONS} (the default is \
                     {DEFAULT_MAX_SESSIONS}), got {value}"
                ),
            );
            return None;
        }
        let memory = url.is_none_or(|url| url.starts_with("memory:"));
        let from_env = self.store_url_env.is_some();
        if !memory && !from_env && self.doc.has("store.max_sessions") {
            self.error(
                "store.max_sessions",
                "bounds the memory:// store only; a Redis store is bounded by Redis itself \
                 (maxmemory with maxmemory-policy volatile-lru): remove the key",
            );
            return None;
        }
        u64::try_from(value).ok()
    }
}
