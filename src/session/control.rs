//! Session control (SPEC §9, managed mode): every session has a handle and
//! sits in its user's index, so operators and users can list and end
//! sessions, and a login can be held to `max_sessions_per_user`.
//!
//! The index is written only on login, revocation and eviction, never on
//! the per-request path. Expiry still lives in the sessions' own keys: an
//! index entry keeps nothing alive, and entries whose session is gone are
//! pruned whenever the index is read. On a Redis Cluster the index, the
//! handle keys and the sessions live in different slots: every operation
//! here is a sequence of single-key commands, never a multi-key one.
//!
//! Keys (under `store.key_prefix`):
//!
//! | key                 | type   | content                          |
//! |---------------------|--------|----------------------------------|
//! | `user:<user>`       | hash   | handle → session id, per user    |
//! | `handle:<handle>`   | string | the session id                   |
//!
//! `<user>` is percent-encoded outside `[A-Za-z0-9@._-]`, so a user name
//! can neither reach another key nor pick a Cluster hash slot (`{…}`).

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{SessionId, Sessions, source};
use crate::clock::now_ms;
use crate::config::OnSessionLimit;
use crate::metrics::{EndReason, StoreOp};
use crate::store::{Found, IndexEntry, SessionStore, StoreError, Touch};

/// Bytes of OS randomness in a handle: 128 bits, hex-encoded.
const HANDLE_BYTES: usize = 16;

/// How many index entries a login checks when no per-user limit needs them
/// all. With ended entries a fraction `d` of the index, a login prunes
/// `PRUNE_SAMPLE × d` of them on average against the one it adds, so the
/// index settles near the user's live sessions (at most 8/7 of them once
/// most sessions have ended), as Redis samples keys for expiry.
const PRUNE_SAMPLE: usize = 8;

/// A look at a session that changes nothing: no slide.
fn peek() -> Touch {
    Touch {
        now_ms: now_ms(),
        extend: false,
        min_step: Duration::ZERO,
        max_idle: None,
    }
}

/// What is kept as-is in a user's index key.
const USER_KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'@')
    .remove(b'.')
    .remove(b'_')
    .remove(b'-');

/// One live session as a listing shows it; its id stays inside.
#[derive(Debug)]
pub struct Listed {
    pub handle: String,
    /// The session's record and TTLs, as read without sliding.
    pub found: Found,
    id: SessionId,
}

impl Listed {
    /// Whether this is the session `current` (the caller's own).
    pub fn is(&self, current: Option<&SessionId>) -> bool {
        current == Some(&self.id)
    }

    /// This session in a listing (SPEC §9), for the admin API and the
    /// self-service one alike: never its id.
    pub fn json(&self, now_ms: u64) -> serde_json::Value {
        let record = &self.found.record;
        serde_json::json!({
            "handle": self.handle,
            "created": record.started_ms / 1000,
            "last_seen": record.touched_ms / 1000,
            "expires_in": self.found.ttl.as_secs(),
            "absolute_expires_in": record.deadline_ms.map(|d| d.saturating_sub(now_ms) / 1000),
        })
    }
}

/// A fresh handle: random, so the session id cannot be recovered from it.
pub fn new_handle() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; HANDLE_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `handle` could be one: what a request names is checked before
/// any key is built from it.
pub fn is_handle(handle: &str) -> bool {
    handle.len() == HANDLE_BYTES * 2 && handle.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Sessions {
    fn user_key(&self, user: &str) -> String {
        let prefix = &self.config.store.key_prefix;
        format!("{prefix}user:{}", utf8_percent_encode(user, USER_KEY))
    }

    fn handle_key(&self, handle: &str) -> String {
        format!("{}handle:{handle}", self.config.store.key_prefix)
    }

    /// Puts a new session in its user's index (at login).
    pub(super) async fn index(
        &self,
        user: &str,
        handle: &str,
        id: &SessionId,
        store_time: &mut Duration,
    ) -> Result<(), StoreError> {
        let (index, handle_key) = (self.user_key(user), self.handle_key(handle));
        let entry = IndexEntry {
            index: &index,
            handle,
            handle_key: &handle_key,
        };
        let add = self.store.index_add(&entry, id.expose());
        self.timed(StoreOp::Index, add, store_time).await
    }

    /// The user's live sessions, newest first. Entries whose session has
    /// ended (expired, or deleted without the index knowing) are pruned.
    pub async fn list(
        &self,
        user: &str,
        store_time: &mut Duration,
    ) -> Result<Vec<Listed>, StoreError> {
        let mut live = self.checked(user, None, store_time).await?;
        live.sort_by_key(|l| std::cmp::Reverse(l.found.record.started_ms));
        Ok(live)
    }

    /// The live sessions among `user`'s index entries (all, or a random
    /// `sample`), pruning the entries of ended ones.
    async fn checked(
        &self,
        user: &str,
        sample: Option<usize>,
        store_time: &mut Duration,
    ) -> Result<Vec<Listed>, StoreError> {
        let index = self.user_key(user);
        let read = self.store.index_entries(&index, sample);
        let entries = self.timed(StoreOp::Index, read, store_time).await?;
        let peek = peek();
        let mut live = Vec::with_capacity(entries.len());
        for (handle, id) in entries {
            let found = match SessionId::parse(&id) {
                Ok(id) => {
                    let key = source::key(&self.config, &id);
                    let op = self.store.touch(&key, &peek);
                    let found = self.timed(StoreOp::Touch, op, store_time).await?;
                    found.map(|found| (id, found))
                }
                Err(_) => None,
            };
            match found {
                Some((id, found)) if found.record.user.as_deref() == Some(user) => {
                    live.push(Listed { handle, found, id });
                }
                _ => self.unindex(&index, &handle, store_time).await?,
            }
        }
        Ok(live)
    }

    /// Ends every live session of `user` but `except`; how many ended.
    pub async fn revoke_user(
        &self,
        user: &str,
        except: Option<&SessionId>,
        store_time: &mut Duration,
    ) -> Result<usize, StoreError> {
        let mut revoked = 0;
        for listed in self.list(user, store_time).await? {
            if !listed.is(except) {
                let reason = Some(EndReason::Revoked);
                self.end_indexed(user, &listed.id, &listed.handle, reason, store_time)
                    .await?;
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// Ends the live session named by `handle`, when it belongs to `owner`
    /// (any user's when `None`: the operator). `false` when there is no
    /// such live session: nothing changes then.
    pub async fn revoke_handle(
        &self,
        handle: &str,
        owner: Option<&str>,
        store_time: &mut Duration,
    ) -> Result<bool, StoreError> {
        if !is_handle(handle) {
            return Ok(false);
        }
        let handle_key = self.handle_key(handle);
        let read = self.store.handle_target(&handle_key);
        let Some(id) = self.timed(StoreOp::Index, read, store_time).await? else {
            return Ok(false);
        };
        let Ok(id) = SessionId::parse(&id) else {
            return Ok(false);
        };
        let key = source::key(&self.config, &id);
        let peek = peek();
        let op = self.store.touch(&key, &peek);
        let found = self.timed(StoreOp::Touch, op, store_time).await?;
        let Some(user) = found.and_then(|f| f.record.user) else {
            return Ok(false);
        };
        if owner.is_some_and(|owner| owner != user) {
            return Ok(false);
        }
        self.end_indexed(&user, &id, handle, Some(EndReason::Revoked), store_time)
            .await?;
        Ok(true)
    }

    /// After a login put `new` in `user`'s index: prunes that index and
    /// holds the user to `max_sessions_per_user`. `Ok(true)` when the login may stand;
    /// `Ok(false)` when it must be refused (the new session is already
    /// ended then).
    ///
    /// The new session is counted *after* it was written, so two logins
    /// racing for the last slot on two gateways both see each other: the
    /// user is above the limit at most between one login's write and its
    /// own count (one login's round trips). `evict_oldest` may then end one
    /// session more than needed; `refuse` may refuse both; neither leaves
    /// the user above the limit.
    pub(super) async fn within_limit(
        &self,
        user: &str,
        new: &SessionId,
        store_time: &mut Duration,
    ) -> Result<bool, StoreError> {
        let session = &self.config.session;
        let Some(limit) = session.max_sessions_per_user else {
            // No limit to hold: a login checks a few random entries and
            // prunes those of ended sessions, so the index stays near the
            // user's live sessions at a bounded cost per login.
            self.checked(user, Some(PRUNE_SAMPLE), store_time).await?;
            return Ok(true);
        };
        // A limit: every entry is read (and the ended ones pruned) to count.
        let mut live = self.checked(user, None, store_time).await?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if live.len() <= limit {
            return Ok(true);
        }
        match session.on_session_limit {
            OnSessionLimit::Refuse => {
                // The refused login never began: not counted as ended.
                if let Some(own) = live.iter().find(|l| l.is(Some(new))) {
                    self.end_indexed(user, &own.id, &own.handle, None, store_time)
                        .await?;
                }
                Ok(false)
            }
            OnSessionLimit::EvictOldest => {
                // The least recently active first; the new one never goes.
                live.retain(|l| !l.is(Some(new)));
                live.sort_by_key(|l| l.found.record.touched_ms);
                let excess = live.len() + 1 - limit;
                for listed in live.iter().take(excess) {
                    let reason = Some(EndReason::Evicted);
                    self.end_indexed(user, &listed.id, &listed.handle, reason, store_time)
                        .await?;
                }
                Ok(true)
            }
        }
    }

    /// Ends a session and takes it out of its user's index; counted as
    /// ended for `reason`, when given.
    async fn end_indexed(
        &self,
        user: &str,
        id: &SessionId,
        handle: &str,
        reason: Option<EndReason>,
        store_time: &mut Duration,
    ) -> Result<(), StoreError> {
        self.end(id, store_time).await?;
        self.unindex(&self.user_key(user), handle, store_time)
            .await?;
        if let Some(reason) = reason {
            self.metrics.session_ended(reason);
        }
        Ok(())
    }

    /// Removes a handle from an index and its handle key.
    async fn unindex(
        &self,
        index: &str,
        handle: &str,
        store_time: &mut Duration,
    ) -> Result<(), StoreError> {
        let handle_key = self.handle_key(handle);
        let entry = IndexEntry {
            index,
            handle,
            handle_key: &handle_key,
        };
        let remove = self.store.index_remove(&entry);
        self.timed(StoreOp::Index, remove, store_time).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_random_hex_and_recognised() {
        let a = new_handle().unwrap();
        let b = new_handle().unwrap();
        assert_ne!(a, b);
        assert!(is_handle(&a) && a.len() == 32);
        for bad in ["", "zz", &"a".repeat(31), &"a".repeat(33), "../../x"] {
            assert!(!is_handle(bad), "{bad}");
        }
    }

    #[test]
    fn user_names_cannot_reach_other_keys_or_pick_a_slot() {
        let config = std::sync::Arc::new(crate::config::Config::default());
        let sessions = Sessions::new(
            config,
            crate::store::Store::Memory(crate::store::MemoryStore::new()),
            crate::metrics::Metrics::register(&mut Default::default()),
            None,
            crate::live::Live::new(
                crate::store::Store::Memory(crate::store::MemoryStore::new()),
                "sessiongate:",
                crate::metrics::Metrics::register(&mut Default::default()),
            ),
        );
        assert_eq!(
            sessions.user_key("alice@example.com"),
            "sessiongate:user:alice@example.com"
        );
        assert_eq!(
            sessions.user_key("{x}:y z"),
            "sessiongate:user:%7Bx%7D%3Ay%20z"
        );
    }
}
