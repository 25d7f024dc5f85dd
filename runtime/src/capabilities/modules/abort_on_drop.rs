//! A callee's task that is aborted if its caller stops waiting for it.

use std::sync::Arc;

use tokio::task::{JoinError, JoinHandle};
use tracing::Instrument;

/// A spawned callee that is aborted if whoever waits for it goes away.
pub(super) struct AbortOnDrop<T> {
    task: JoinHandle<T>,
    callee: String,
    request_id: Arc<str>,
    /// Whether the caller got the callee's outcome.
    joined: bool,
}

impl<T: Send + 'static> AbortOnDrop<T> {
    /// Runs `callee` of `tenant`'s call for `request_id` as a task of its own.
    pub(super) fn spawn(
        call: impl Future<Output = T> + Send + 'static,
        (tenant, callee): (&str, &str),
        request_id: Arc<str>,
    ) -> Self {
        // The callee's log lines are in a span of its own, inside the
        // caller's request span, carrying all three fields itself: a JSON
        // line shows only its innermost span.
        let span = tracing::info_span!(
            "module_call",
            request_id = %request_id,
            tenant = %tenant,
            module = %callee,
        );
        Self {
            task: tokio::spawn(call.instrument(span)),
            callee: callee.to_string(),
            request_id,
            joined: false,
        }
    }

    /// Waits for the callee's outcome.
    pub(super) async fn join(mut self) -> Result<T, JoinError> {
        let outcome = (&mut self.task).await;
        self.joined = true;
        outcome
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if self.joined {
            return;
        }
        // The caller stopped first. The callee may have ended at the same
        // deadline a moment before, unseen: say so, or stop it now.
        if self.task.is_finished() {
            tracing::info!(callee = %self.callee, request_id = %self.request_id, "module call ended at the request's deadline, with its caller");
        } else {
            tracing::info!(callee = %self.callee, request_id = %self.request_id, "module call aborted: its caller stopped");
            self.task.abort();
        }
    }
}
