//! This process among the replicas: a random id made at start-up and a liveness key that says
//! it is still running. Work a process claims (an outbox row, an update being handled) is tagged
//! with its id; another replica takes such work over only when the key is gone, that is within
//! [`TTL`] of a crash, and never while the holder still runs (even if the holder can't reach the
//! database for a while).
//!
//! With the in-process store there are no other replicas: whatever names another id was left by
//! an earlier run of this process and is taken over at once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::kv::{Kv, KvError, KvStore};

/// How often the liveness key is renewed.
pub const BEAT: Duration = Duration::from_secs(1);
/// How long the key outlives the last renewal: a dead process is noticed within this.
pub const TTL: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct Replica {
    id: String,
    kv: Kv,
}

impl Replica {
    /// A new id for this process; liveness keys live in `kv`'s scope.
    #[must_use]
    pub fn new(kv: Kv) -> Self {
        Self {
            id: format!("{:016x}", rand::random::<u64>()),
            kv,
        }
    }

    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    fn key(id: &str) -> String {
        format!("replica:{id}")
    }

    /// Says "alive" once.
    pub async fn beat(&self) -> Result<(), KvError> {
        self.kv.set(&Self::key(&self.id), "1", TTL).await
    }

    /// Whether the process `id` still runs. An error means "can't tell": callers then leave its
    /// work alone.
    pub async fn alive(&self, id: &str) -> Result<bool, KvError> {
        if id == self.id {
            return Ok(true);
        }
        Ok(self.kv.get(&Self::key(id)).await?.is_some())
    }

    /// Renews the liveness key every [`BEAT`] until `stop`; then removes it, so the others take
    /// over at once.
    pub async fn run(self, stop: CancellationToken) {
        let mut failing = false;
        loop {
            match self.beat().await {
                Ok(()) if failing => {
                    tracing::info!("replica liveness key renewed again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "cannot renew the replica liveness key");
                    failing = true;
                }
                Err(_) => {}
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(BEAT) => {}
            }
        }
        if let Err(e) = self.kv.del(&Self::key(&self.id)).await {
            tracing::debug!(error = %e, "could not remove the replica liveness key (it expires)");
        }
    }
}
