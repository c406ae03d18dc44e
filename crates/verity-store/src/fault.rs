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

// ---------------------------------------------------------------------------------------------
// Crash points: where the crash-safety harness kills the real binary.
// ---------------------------------------------------------------------------------------------

/// The crash point this process stops at, armed once at start-up (test builds only).
#[cfg(any(test, feature = "test-util"))]
static CRASH_AT: std::sync::OnceLock<CrashAt> = std::sync::OnceLock::new();

#[cfg(any(test, feature = "test-util"))]
struct CrashAt {
    name: String,
    /// Hits of `name` still to pass before the one that stops.
    skip: std::sync::atomic::AtomicU32,
}

/// The text a process prints (on stderr) when it reached its armed crash point; the harness
/// waits for this line and then kills the process with SIGKILL.
pub const CRASH_POINT_REACHED: &str = "verity crash point reached:";

/// Arms the crash point `spec` for this process: `name` (stop the first time the point `name`
/// is reached) or `name#n` (stop the n-th time, from 1). Only test builds (the `test-util`
/// feature, which `cargo test` turns on for the binary under test) have crash points; any other
/// build refuses, so a production process can never be armed.
#[cfg(any(test, feature = "test-util"))]
pub fn arm_crash_point(spec: &str) -> Result<()> {
    let (name, nth) = match spec.rsplit_once('#') {
        Some((name, n)) => {
            let n: u32 = n.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                crate::StoreError::InvalidData(format!(
                    "crash point `{spec}`: the part after `#` must be a hit number from 1"
                ))
            })?;
            (name, n)
        }
        None => (spec, 1),
    };
    if name.is_empty() {
        return Err(crate::StoreError::InvalidData(
            "crash point: the name is empty".into(),
        ));
    }
    CRASH_AT
        .set(CrashAt {
            name: name.to_owned(),
            skip: std::sync::atomic::AtomicU32::new(nth - 1),
        })
        .map_err(|_| crate::StoreError::InvalidData("a crash point is already armed".into()))
}

/// Arms a crash point: refused, this build has none.
#[cfg(not(any(test, feature = "test-util")))]
pub fn arm_crash_point(spec: &str) -> Result<()> {
    Err(crate::StoreError::InvalidData(format!(
        "crash point `{spec}`: this build has no crash points (they exist only in test builds)"
    )))
}

/// The process reached the point `name` (e.g. `flow step issuance_successful: before commit`):
/// when it is the armed crash point, prints [`CRASH_POINT_REACHED`] and the name on stderr and
/// stops this thread for good (holding whatever transaction it is in), waiting to be killed.
#[cfg(any(test, feature = "test-util"))]
pub fn crash_point(name: &str) {
    let Some(at) = CRASH_AT.get() else {
        return;
    };
    if at.name != name {
        return;
    }
    let passed = at
        .skip
        .fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        )
        .is_ok();
    if passed {
        return;
    }
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{CRASH_POINT_REACHED} {name}");
    let _ = err.flush();
    drop(err);
    // Blocking this thread is the point: it holds the step where it is until the kill.
    loop {
        std::thread::park();
    }
}

/// The process reached the point `name`: no crash points in this build.
#[cfg(not(any(test, feature = "test-util")))]
#[inline(always)]
pub fn crash_point(_name: &str) {}

/// Whether any crash point is armed (so callers build a point's name only then).
#[cfg(any(test, feature = "test-util"))]
pub fn crash_points_armed() -> bool {
    CRASH_AT.get().is_some()
}

/// Whether any crash point is armed: never in this build.
#[cfg(not(any(test, feature = "test-util")))]
#[inline(always)]
pub fn crash_points_armed() -> bool {
    false
}

/// The crash point of the flow step moving to `to`, at `phase` (`before commit`, `committed`).
pub(crate) fn step_crash_point(to: crate::FlowStatus, phase: &str) {
    if crash_points_armed() {
        crash_point(&format!("flow step {}: {phase}", to.as_str()));
    }
}
