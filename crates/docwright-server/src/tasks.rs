//! Owned background work (CONVENTIONS 10): every task is spawned through [`Background`], which
//! tracks it and cancels it at shutdown, so nothing outlives the server or is cut off mid-write.

use std::future::Future;
use std::time::Duration;

use docwright_engine::Engine;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

/// The server's background tasks.
pub struct Background {
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Default for Background {
    fn default() -> Self {
        Self::new()
    }
}

impl Background {
    pub fn new() -> Self {
        Self { tracker: TaskTracker::new(), cancel: CancellationToken::new() }
    }

    /// Resolves when shutdown begins; a task's loop should end then.
    pub fn cancelled(&self) -> WaitForCancellationFutureOwned {
        self.cancel.clone().cancelled_owned()
    }

    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tracing::debug!(task = name, "background task started");
        self.tracker.spawn(async move {
            task.await;
            tracing::debug!(task = name, "background task stopped");
        });
    }

    /// Cancels every task and waits up to `grace` for them to finish.
    pub async fn shutdown(&self, grace: Duration) {
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            tracing::warn!("background tasks did not stop within the grace period");
        }
    }
}

/// How often housekeeping runs.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(3600);

/// Periodic clean-up: drops refresh tokens that can never be used again.
pub async fn housekeeping(engine: Engine, stop: WaitForCancellationFutureOwned) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => match engine.housekeeping_step().await {
                Ok(n) if n > 0 => tracing::info!(purged_refresh_tokens = n, "housekeeping"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
            },
        }
    }
}
