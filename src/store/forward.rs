//! The [`SessionStore`](super::SessionStore) operations listed once
//! for every store that hands them to another: the [`Store`](super::Store)
//! enum to its variant, [`RedisStore`](super::RedisStore) and
//! [`ClusterStore`](super::ClusterStore) to their `Commands`,
//! [`SentinelStore`](super::SentinelStore) to the current master's store.

/// Implements `SessionStore` for `$store`: each operation becomes
/// `$via!(self, inner => inner.operation(arguments))`, and `$via` says which
/// store `inner` is and what happens around the awaited call.
macro_rules! forward_session_store {
    ($store:ty, $via:ident) => {
        impl $crate::store::SessionStore for $store {
            async fn create(
                &self,
                key: &str,
                record: &$crate::store::Record,
                ttl: ::std::time::Duration,
            ) -> Result<(), $crate::store::StoreError> {
                $via!(self, inner => inner.create(key, record, ttl))
            }

            async fn touch(
                &self,
                key: &str,
                touch: &$crate::store::Touch,
            ) -> Result<Option<$crate::store::Found>, $crate::store::StoreError> {
                $via!(self, inner => inner.touch(key, touch))
            }

            async fn touch_foreign(
                &self,
                key: &str,
                idle: ::std::time::Duration,
                touch: &$crate::store::Touch,
            ) -> Result<Option<$crate::store::ForeignFound>, $crate::store::StoreError> {
                $via!(self, inner => inner.touch_foreign(key, idle, touch))
            }

            async fn delete(&self, key: &str) -> Result<bool, $crate::store::StoreError> {
                $via!(self, inner => inner.delete(key))
            }

            async fn index_add(
                &self,
                entry: &$crate::store::IndexEntry<'_>,
                id: &str,
            ) -> Result<(), $crate::store::StoreError> {
                $via!(self, inner => inner.index_add(entry, id))
            }

            async fn index_entries(
                &self,
                index: &str,
                sample: Option<usize>,
            ) -> Result<Vec<(String, String)>, $crate::store::StoreError> {
                $via!(self, inner => inner.index_entries(index, sample))
            }

            async fn index_remove(
                &self,
                entry: &$crate::store::IndexEntry<'_>,
            ) -> Result<(), $crate::store::StoreError> {
                $via!(self, inner => inner.index_remove(entry))
            }

            async fn handle_target(
                &self,
                handle_key: &str,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                $via!(self, inner => inner.handle_target(handle_key))
            }

            async fn publish(
                &self,
                channel: &str,
                message: &str,
            ) -> Result<(), $crate::store::StoreError> {
                $via!(self, inner => inner.publish(channel, message))
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                $via!(self, inner => inner.ping())
            }
        }
    };
}

/// `forward_session_store!`'s way for a store that wraps its `Commands` in
/// a field `ops`.
macro_rules! via_ops {
    ($this:ident, $inner:ident => $call:expr) => {{
        let $inner = &$this.ops;
        $call.await
    }};
}
