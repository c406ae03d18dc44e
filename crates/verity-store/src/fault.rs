//! Statement-level fault points of the flow steps, for tests only.
//!
//! The backends call [`statement`] before each statement of a flow step
//! ([`crate::FlowStore::transition`], [`crate::FlowStore::record_pin_failure`]: connection or
//! begin, row load, replay records, status update, issued credential, callback, commit) and
//! before the issued-credential and callback inserts wherever they run. When a test has armed a
//! [`FaultPoint`] for the running task (`crate::testing::with_fault_point`, used by the
//! `FaultyStore` test double), the point may fail that statement: the step returns the error
//! and its transaction is dropped, i.e. rolled back, so a test can check that a failure at
//! any statement leaves no half-written step.
//!
//! Zero cost in production: without the `test-util` feature (and outside this crate's own
//! tests) [`statement`] is an empty inline function; the release binary (`cargo build -p
//! verity --release`) is built so. With it (any build that includes a crate's tests that
//! enable it), an unarmed task pays one task-local lookup per statement. Nothing outside
//! `testing` ever arms a point.

use crate::error::Result;

/// Decides whether the next statement of a flow step fails: a test double's hook into the
/// backends (see the module documentation).
#[cfg(any(test, feature = "test-util"))]
pub trait FaultPoint: Send + Sync {
    /// Called before the statement named `statement` runs; an error fails it (and so the
    /// step, whose transaction rolls back).
    fn before_statement(&self, statement: &'static str) -> Result<()>;
}

#[cfg(any(test, feature = "test-util"))]
tokio::task_local! {
    /// The fault point armed for the running task, if any.
    pub(crate) static ARMED: std::sync::Arc<dyn FaultPoint>;
}

/// Consults the fault point armed for this task before the statement `what` of a step.
#[cfg(any(test, feature = "test-util"))]
pub(crate) fn statement(what: &'static str) -> Result<()> {
    ARMED
        .try_with(|point| point.before_statement(what))
        .unwrap_or(Ok(()))
}

/// Consults the fault point armed for this task: never armed in this build.
#[cfg(not(any(test, feature = "test-util")))]
#[inline(always)]
pub(crate) fn statement(_what: &'static str) -> Result<()> {
    Ok(())
}
