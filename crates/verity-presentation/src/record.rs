//! Collects the [`CheckRecord`]s of one verification.

use crate::{CheckOutcome, CheckRecord, PresentationError};

/// The checks of one run, in order.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    checks: Vec<CheckRecord>,
}

impl Recorder {
    /// Records a check that held.
    pub(crate) fn pass(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name.into(), CheckOutcome::Passed, detail.into());
    }

    /// Records a check that did not apply.
    pub(crate) fn skip(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name.into(), CheckOutcome::Skipped, detail.into());
    }

    /// Records `err` as the outcome of check `name` (Failed, or Unavailable for an outage) and
    /// hands it back for `?`.
    pub(crate) fn fail(
        &mut self,
        name: impl Into<String>,
        err: PresentationError,
    ) -> PresentationError {
        let outcome = if err.is_transient() {
            CheckOutcome::Unavailable
        } else {
            CheckOutcome::Failed
        };
        self.push(name.into(), outcome, format!("{}: {err}", err.code()));
        err
    }

    fn push(&mut self, name: String, outcome: CheckOutcome, detail: String) {
        tracing::debug!(check = %name, ?outcome, %detail, "presentation check");
        self.checks.push(CheckRecord {
            name,
            outcome,
            detail,
        });
    }

    /// The records, in order.
    pub(crate) fn into_checks(self) -> Vec<CheckRecord> {
        self.checks
    }
}
