//! Revocation (W3C Bitstring Status List 1.0 section 3.2, protocol.md §5): read
//! `credentialStatus`, fetch the list through the [`crate::StatusListSource`], require it to be
//! the credential issuer's, read the bit. REVOKED fails unless the request allows it.

use std::collections::HashMap;
use std::sync::Arc;

use verity_status_list::{CredentialStatus, StatusEntry, VerifiedStatusList, check};

use super::credential::CheckedCredential;
use crate::record::Recorder;
use crate::{PresentationError, RequestedCredential, RevocationStatus, VerifyContext};

/// Lists already fetched during this verification, by URL: credentials sharing a list cost
/// one fetch.
pub(crate) type ListMemo = HashMap<String, Arc<VerifiedStatusList>>;

/// Checks every status entry of the credential; the result is what the callback reports.
pub(crate) async fn check_status(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    memo: &mut ListMemo,
    requested: &RequestedCredential,
    credential: &CheckedCredential,
) -> Result<RevocationStatus, PresentationError> {
    use PresentationError as E;
    let descriptor = requested.descriptor_id().to_owned();
    let name = format!("credential[{descriptor}].status");
    let failed = |reason: String| E::StatusCheckFailed {
        descriptor: descriptor.clone(),
        reason,
    };

    let Some(status) = credential.vc().and_then(|vc| vc.get("credentialStatus")) else {
        rec.skip(name, "no credentialStatus: the credential is not revocable");
        return Ok(RevocationStatus::Valid);
    };
    let entries = StatusEntry::parse_credential_status(status)
        .map_err(|e| rec.fail(&name, failed(format!("{e} ({})", e.code()))))?;

    // The lists not fetched yet in this verification, in one call: a source that serves
    // several views of one stored list (a suspendable credential's two entries) reads it once.
    let mut missing: Vec<String> = Vec::new();
    for entry in &entries {
        let url = &entry.status_list_credential;
        if !memo.contains_key(url) && !missing.contains(url) {
            missing.push(url.clone());
        }
    }
    let fetched: HashMap<String, _> = if missing.is_empty() {
        HashMap::new()
    } else {
        let lists = ctx.status.fetch_all(&missing, ctx.now).await;
        missing.into_iter().zip(lists).collect()
    };

    let mut result = RevocationStatus::Valid;
    let mut skipped = Vec::new();
    for entry in &entries {
        let url = &entry.status_list_credential;
        let fetched_now = || {
            fetched
                .get(url)
                .cloned()
                .unwrap_or_else(|| Err(crate::SourceError::Invalid(format!("{url}: not fetched"))))
        };
        let list = match memo.get(url) {
            Some(list) => list.clone(),
            None => match fetched_now() {
                Ok(list) => {
                    memo.insert(url.clone(), list.clone());
                    list
                }
                Err(e) if e.is_unavailable() && ctx.fail_open_on_unreachable => {
                    tracing::warn!(url = %url, reason = %e, "status list unreachable; failing open as configured");
                    skipped.push(url.clone());
                    continue;
                }
                Err(e) if e.is_unavailable() => {
                    return Err(rec.fail(
                        &name,
                        E::StatusUnavailable {
                            descriptor: descriptor.clone(),
                            url: url.clone(),
                            reason: e.reason().to_owned(),
                        },
                    ));
                }
                Err(e) => {
                    return Err(rec.fail(&name, failed(format!("list {url}: {}", e.reason()))));
                }
            },
        };
        // A list signed by anyone else could mark any credential valid.
        if list.issuer() != credential.issuer {
            return Err(rec.fail(
                &name,
                failed(format!(
                    "list {url} is issued by {}, the credential by {}",
                    list.issuer(),
                    credential.issuer
                )),
            ));
        }
        match check(entry, &list) {
            Ok(CredentialStatus::Valid) => {}
            Ok(CredentialStatus::Revoked) if requested.allow_revoked => {
                result = RevocationStatus::Revoked;
            }
            Ok(CredentialStatus::Revoked) => {
                return Err(rec.fail(
                    &name,
                    E::CredentialRevoked {
                        descriptor: descriptor.clone(),
                    },
                ));
            }
            Ok(CredentialStatus::Suspended) => {
                return Err(rec.fail(
                    &name,
                    E::CredentialSuspended {
                        descriptor: descriptor.clone(),
                    },
                ));
            }
            Err(e) => return Err(rec.fail(&name, failed(format!("{e} ({})", e.code())))),
        }
    }
    if skipped.len() == entries.len() {
        rec.skip(
            name,
            format!(
                "status list(s) {} unreachable; accepted because fail_open_on_unreachable is set",
                skipped.join(", ")
            ),
        );
    } else if result == RevocationStatus::Revoked {
        rec.pass(
            name,
            "REVOKED, accepted because the request allows revoked credentials",
        );
    } else if skipped.is_empty() {
        rec.pass(name, "VALID");
    } else {
        rec.pass(
            name,
            format!(
                "VALID; unreachable list(s) {} skipped (fail_open_on_unreachable)",
                skipped.join(", ")
            ),
        );
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use verity_status_list::{StatusEntry, StatusPurpose};

    use crate::testkit::*;
    use crate::{CheckOutcome, RequestedCredential, RevocationStatus, SourceError};

    const VE: &str = "VerifiedEmployee";
    const LIST: &str = "https://issuer.example/v1.0/status/list-1";

    fn status_name() -> String {
        format!("credential[{VE}].status")
    }

    /// A credential with a revocation entry at `index` of `LIST`.
    fn revocable_vc(f: &Fixture, index: u32) -> String {
        let mut claims = f.vc_claims(&f.issuer, VE);
        claims["vc"]["credentialStatus"] =
            serde_json::to_value(StatusEntry::new(LIST, index, StatusPurpose::Revocation)).unwrap();
        f.issuer.sign(&claims)
    }

    #[tokio::test]
    async fn valid_entry_passes() {
        let f = Fixture::new();
        f.status.insert(LIST, verified_list(&f.issuer, LIST, &[7]));
        let v = f.verify(f.draft(vec![revocable_vc(&f, 8)])).await;
        let p = assert_verified(&v);
        assert_eq!(p.credentials[0].revocation_status, RevocationStatus::Valid);
        assert_eq!(outcome_of(&v, &status_name()), Some(CheckOutcome::Passed));
    }

    #[tokio::test]
    async fn no_status_is_valid_and_skipped() {
        let f = Fixture::new();
        let v = f.verify(f.draft(vec![f.vc(VE)])).await;
        assert_eq!(
            assert_verified(&v).credentials[0].revocation_status,
            RevocationStatus::Valid
        );
        assert_eq!(outcome_of(&v, &status_name()), Some(CheckOutcome::Skipped));
    }

    #[tokio::test]
    async fn revoked_credential_fails() {
        let f = Fixture::new();
        f.status.insert(LIST, verified_list(&f.issuer, LIST, &[7]));
        let v = f.verify(f.draft(vec![revocable_vc(&f, 7)])).await;
        let e = assert_fails(&v, "PRES-043", &status_name());
        assert_eq!(e.hosted_code(), "credentialRevoked");
    }

    #[tokio::test]
    async fn allow_revoked_reports_revoked() {
        let mut f = Fixture::new();
        f.request.requested_credentials[0].allow_revoked = true;
        f.status.insert(LIST, verified_list(&f.issuer, LIST, &[7]));
        let v = f.verify(f.draft(vec![revocable_vc(&f, 7)])).await;
        let p = assert_verified(&v);
        assert_eq!(
            p.credentials[0].revocation_status,
            RevocationStatus::Revoked
        );
        assert_eq!(p.credentials[0].revocation_status.as_str(), "REVOKED");
    }

    #[tokio::test]
    async fn suspended_credential_fails() {
        let mut f = Fixture::new();
        f.request.requested_credentials[0].allow_revoked = true;
        let url = "https://issuer.example/v1.0/status/suspensions";
        f.status.insert(
            url,
            verified_list_with(&f.issuer, url, &[3], StatusPurpose::Suspension),
        );
        let mut claims = f.vc_claims(&f.issuer, VE);
        claims["vc"]["credentialStatus"] =
            serde_json::to_value(StatusEntry::new(url, 3, StatusPurpose::Suspension)).unwrap();
        let v = f.verify(f.draft(vec![f.issuer.sign(&claims)])).await;
        assert_fails(&v, "PRES-044", &status_name());
    }

    #[tokio::test]
    async fn unusable_status_fails_closed() {
        let f = Fixture::new();
        // A list published by someone other than the credential's issuer.
        f.status.insert(LIST, verified_list(&f.partner, LIST, &[]));
        let v = f.verify(f.draft(vec![revocable_vc(&f, 1)])).await;
        let e = assert_fails(&v, "PRES-045", &status_name());
        assert!(e.to_string().contains("issued by"), "{e}");
        // An entry of a type nobody can check.
        let mut claims = f.vc_claims(&f.issuer, VE);
        claims["vc"]["credentialStatus"] = json!({"type": "CredentialStatusList2017", "id": LIST});
        let v = f.verify(f.draft(vec![f.issuer.sign(&claims)])).await;
        assert_fails(&v, "PRES-045", &status_name());
        // A list that the source found invalid (bad signature, wrong URL...).
        let g = Fixture::new();
        g.status
            .insert_error(LIST, SourceError::Invalid("signature rejected".into()));
        let v = g.verify(g.draft(vec![revocable_vc(&g, 1)])).await;
        assert_fails(&v, "PRES-045", &status_name());
        // An index past the end of the list.
        let h = Fixture::new();
        h.status.insert(LIST, verified_list(&h.issuer, LIST, &[]));
        let v = h.verify(h.draft(vec![revocable_vc(&h, 200_000)])).await;
        let e = assert_fails(&v, "PRES-045", &status_name());
        assert!(e.to_string().contains("STATUS-003"), "{e}");
    }

    #[tokio::test]
    async fn unreachable_list_is_transient() {
        let f = Fixture::new();
        f.status
            .insert_error(LIST, SourceError::Unavailable("timed out".into()));
        let v = f.verify(f.draft(vec![revocable_vc(&f, 1)])).await;
        let e = assert_unavailable(&v, "PRES-046", &status_name());
        assert!(e.to_string().contains(LIST), "{e}");
        // Nothing consumed: the wallet may retry.
        assert_eq!(f.replay.consumed(), 0);
    }

    #[tokio::test]
    async fn fail_open_accepts_unreachable_lists_when_configured() {
        let f = Fixture::new();
        f.status
            .insert_error(LIST, SourceError::Unavailable("timed out".into()));
        let resp = f.draft(vec![revocable_vc(&f, 1)]).finish();
        let ctx = f.ctx().with_fail_open_on_unreachable(true);
        let v = crate::verify_presentation(&ctx, Some(&f.request), &resp).await;
        let p = assert_verified(&v);
        assert_eq!(p.credentials[0].revocation_status, RevocationStatus::Valid);
        let rec = v.checks.iter().find(|c| c.name == status_name()).unwrap();
        assert_eq!(rec.outcome, CheckOutcome::Skipped);
        assert!(
            rec.detail.contains("fail_open_on_unreachable"),
            "{}",
            rec.detail
        );
        // Fail-open never covers a list that answered and was invalid.
        let g = Fixture::new();
        g.status
            .insert_error(LIST, SourceError::Invalid("bad".into()));
        let resp = g.draft(vec![revocable_vc(&g, 1)]).finish();
        let ctx = g.ctx().with_fail_open_on_unreachable(true);
        let v = crate::verify_presentation(&ctx, Some(&g.request), &resp).await;
        assert_fails(&v, "PRES-045", &status_name());
    }

    /// Two credentials on one list: one fetch per verification.
    #[tokio::test]
    async fn shared_list_is_fetched_once() {
        let mut f = Fixture::new();
        f.request.requested_credentials = vec![
            RequestedCredential::new(VE),
            RequestedCredential::new("BuildingAccess"),
        ];
        f.status.insert(LIST, verified_list(&f.issuer, LIST, &[]));
        let mut access = f.vc_claims(&f.issuer, "BuildingAccess");
        access["vc"]["credentialStatus"] =
            serde_json::to_value(StatusEntry::new(LIST, 9, StatusPurpose::Revocation)).unwrap();
        let d = f.draft(vec![revocable_vc(&f, 8), f.issuer.sign(&access)]);
        assert_verified(&f.verify(d).await);
        assert_eq!(f.status.fetches(LIST), 1);
    }
}
