//! The session layer's writes and its store timing: creating and ending a
//! session (ending one ends its live connections on every gateway), and
//! the one wrapper that times, counts and logs every store operation.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use super::lifecycle::NewSession;
use super::{SessionId, Sessions, source};
use crate::metrics::StoreOp;
use crate::store::{SessionStore, StoreError};

impl Sessions {
    /// Stores a new session (counted by the caller once it stands).
    pub(crate) async fn create(
        &self,
        id: &SessionId,
        new: &NewSession,
        store_time: &mut Duration,
    ) -> Result<(), StoreError> {
        let key = source::key(&self.config, id);
        let op = self.store.create(&key, &new.record, new.ttl);
        self.timed(StoreOp::Create, op, store_time).await?;
        Ok(())
    }

    /// Ends a session; `Ok(true)` when it existed.
    pub(crate) async fn end(
        &self,
        id: &SessionId,
        store_time: &mut Duration,
    ) -> Result<bool, StoreError> {
        let key = source::key(&self.config, id);
        let existed = self
            .timed(StoreOp::Delete, self.store.delete(&key), store_time)
            .await?;
        // Its tunnels and event streams end too, on every gateway.
        if existed {
            self.live.ended(&key).await;
        }
        Ok(existed)
    }

    /// Times one store operation (into the metrics and `store_time`) and
    /// counts and logs its failure; never logs a key.
    pub(super) async fn timed<T>(
        &self,
        op: StoreOp,
        fut: impl Future<Output = Result<T, StoreError>>,
        store_time: &mut Duration,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = fut.await;
        let elapsed = started.elapsed();
        *store_time += elapsed;
        self.metrics
            .store_op(op, elapsed.as_secs_f64(), result.is_err());
        if let Err(error) = &result {
            warn!(%error, op = op.as_str(), "session store operation failed");
        }
        result
    }
}
