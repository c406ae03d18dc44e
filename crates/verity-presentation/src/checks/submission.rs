//! The presentation submission (DIF Presentation Exchange 2.0 section 6, as the JWT VC
//! Presentation Profile carries it in the id_token's `_vp_token`): every requested credential
//! has a descriptor, every descriptor was requested, paths select JWT-VCs of the vp_token, and
//! each requested credential gets its own credential.

use serde_json::{Map, Value};

use super::json_kind;
use crate::record::Recorder;
use crate::{PresentationError, PresentationRequest};

/// Formats accepted for the outer (presentation) descriptor.
const VP_FORMATS: [&str; 2] = ["jwt_vp", "jwt_vp_json"];
/// Formats accepted for the nested (credential) descriptor.
const VC_FORMATS: [&str; 2] = ["jwt_vc", "jwt_vc_json"];
/// The only nested path form accepted: `$.verifiableCredential[<index>]`.
const VC_PATH_PREFIX: &str = "$.verifiableCredential[";

/// Checks the submission; returns, per requested credential in request order, the index of
/// its credential in `vp.verifiableCredential`.
pub(crate) fn check(
    rec: &mut Recorder,
    request: &PresentationRequest,
    id_token_claims: &Map<String, Value>,
    credential_count: usize,
) -> Result<Vec<usize>, PresentationError> {
    use PresentationError as E;
    let malformed = |reason: String| E::SubmissionMalformed { reason };
    let submission = id_token_claims
        .get("_vp_token")
        .and_then(|v| v.get("presentation_submission"))
        .ok_or_else(|| malformed("the id_token has no _vp_token.presentation_submission".into()))
        .and_then(|s| {
            s.as_object().ok_or_else(|| {
                malformed(format!(
                    "presentation_submission must be an object, found {}",
                    json_kind(s)
                ))
            })
        })
        .map_err(|e| rec.fail("submission.present", e))?;
    let entries = match submission.get("descriptor_map") {
        Some(Value::Array(entries)) => entries,
        _ => {
            return Err(rec.fail(
                "submission.present",
                malformed("descriptor_map must be an array".into()),
            ));
        }
    };
    rec.pass(
        "submission.present",
        format!("{} descriptor(s)", entries.len()),
    );

    if let (Some(expected), Some(found)) = (
        request.definition_id.as_deref(),
        submission.get("definition_id"),
    ) {
        if found.as_str() != Some(expected) {
            return Err(rec.fail(
                "submission.definition_id",
                E::SubmissionDefinitionMismatch {
                    expected: expected.to_owned(),
                    found: found
                        .as_str()
                        .map_or_else(|| found.to_string(), str::to_owned),
                },
            ));
        }
        rec.pass("submission.definition_id", expected);
    } else {
        rec.skip("submission.definition_id", "no definition_id to compare");
    }

    // descriptor id -> credential index, in submission order.
    let mut mapped: Vec<(String, usize)> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let id = entry
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(format!("descriptor_map[{i}].id must be a string")))
            .map_err(|e| rec.fail("submission.descriptors", e))?;
        if mapped.iter().any(|(m, _)| m == id) {
            return Err(rec.fail(
                "submission.descriptors",
                malformed(format!("descriptor {id:?} is mapped more than once")),
            ));
        }
        if !request
            .requested_credentials
            .iter()
            .any(|r| r.descriptor_id() == id)
        {
            return Err(rec.fail(
                "submission.descriptors",
                E::SubmissionUnknownDescriptor {
                    descriptor: id.to_owned(),
                },
            ));
        }
        let index = credential_index(entry, credential_count).map_err(|reason| {
            rec.fail(
                "submission.descriptors",
                E::SubmissionPath {
                    descriptor: id.to_owned(),
                    reason,
                },
            )
        })?;
        mapped.push((id.to_owned(), index));
    }
    rec.pass(
        "submission.descriptors",
        "every descriptor was requested and selects a JWT-VC",
    );

    let mut indexes: Vec<(String, usize)> = Vec::new();
    for requested in &request.requested_credentials {
        let id = requested.descriptor_id();
        let Some((_, index)) = mapped.iter().find(|(m, _)| m == id) else {
            return Err(rec.fail(
                "submission.coverage",
                E::SubmissionDescriptorMissing {
                    descriptor: id.to_owned(),
                },
            ));
        };
        indexes.push((id.to_owned(), *index));
    }
    rec.pass(
        "submission.coverage",
        "every requested credential has a descriptor",
    );

    for (n, (id, index)) in indexes.iter().enumerate() {
        if let Some((other, _)) = indexes.iter().take(n).find(|(_, i)| i == index) {
            return Err(rec.fail(
                "submission.distinct",
                E::SubmissionCredentialReused {
                    descriptor: id.clone(),
                    other: other.clone(),
                    index: *index,
                },
            ));
        }
    }
    rec.pass(
        "submission.distinct",
        "each requested credential has its own credential",
    );
    Ok(indexes.into_iter().map(|(_, i)| i).collect())
}

/// The credential index a descriptor entry selects: outer `path` `$` (format `jwt_vp`), nested
/// `path` `$.verifiableCredential[i]` (format `jwt_vc`), `i` within the vp_token.
fn credential_index(entry: &Value, credential_count: usize) -> Result<usize, String> {
    if let Some(format) = entry.get("format")
        && !format.as_str().is_some_and(|f| VP_FORMATS.contains(&f))
    {
        return Err(format!("format {format} is not jwt_vp"));
    }
    match entry.get("path").and_then(Value::as_str) {
        Some("$") => {}
        Some(other) => return Err(format!("path {other:?} must be \"$\" (the vp_token)")),
        None => return Err("path is missing".into()),
    }
    let Some(nested) = entry.get("path_nested") else {
        return Err("path_nested (selecting the credential) is missing".into());
    };
    if let Some(format) = nested.get("format")
        && !format.as_str().is_some_and(|f| VC_FORMATS.contains(&f))
    {
        return Err(format!("path_nested.format {format} is not jwt_vc"));
    }
    let Some(path) = nested.get("path").and_then(Value::as_str) else {
        return Err("path_nested.path is missing".into());
    };
    let index = path
        .strip_prefix(VC_PATH_PREFIX)
        .and_then(|rest| rest.strip_suffix(']'))
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<usize>().ok())
        .ok_or_else(|| {
            format!("path_nested.path {path:?} is not of the form $.verifiableCredential[<index>]")
        })?;
    if index >= credential_count {
        return Err(format!(
            "path_nested.path {path:?} is out of range: the vp_token carries {credential_count} credential(s)"
        ));
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::testkit::*;
    use crate::{CheckOutcome, RequestedCredential};

    fn submission<'d>(d: &'d mut Draft<'_>) -> &'d mut Value {
        &mut d.id_claims["_vp_token"]["presentation_submission"]
    }

    #[tokio::test]
    async fn missing_submission_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_claims["_vp_token"] = Value::Null;
        assert_fails(&f.verify(d).await, "PRES-025", "submission.present");
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        submission(&mut d)["descriptor_map"] = json!({});
        assert_fails(&f.verify(d).await, "PRES-025", "submission.present");
    }

    #[tokio::test]
    async fn duplicate_descriptor_is_malformed() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        let first = submission(&mut d)["descriptor_map"][0].clone();
        submission(&mut d)["descriptor_map"] = json!([first.clone(), first]);
        let v = f.verify(d).await;
        let e = assert_fails(&v, "PRES-025", "submission.descriptors");
        assert!(e.to_string().contains("more than once"), "{e}");
    }

    #[tokio::test]
    async fn other_definition_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        submission(&mut d)["definition_id"] = json!("some-other-definition");
        assert_fails(&f.verify(d).await, "PRES-026", "submission.definition_id");
        // Without a definition_id the check is skipped, not failed.
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        submission(&mut d)["definition_id"] = Value::Null;
        submission(&mut d)
            .as_object_mut()
            .unwrap()
            .remove("definition_id");
        let v = f.verify(d).await;
        assert_verified(&v);
        assert_eq!(
            outcome_of(&v, "submission.definition_id"),
            Some(CheckOutcome::Skipped)
        );
    }

    #[tokio::test]
    async fn missing_descriptor_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        submission(&mut d)["descriptor_map"] = json!([]);
        let v = f.verify(d).await;
        let e = assert_fails(&v, "PRES-027", "submission.coverage");
        assert!(e.to_string().contains("VerifiedEmployee"), "{e}");
    }

    #[tokio::test]
    async fn unknown_descriptor_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        let extra = json!({"id": "DriversLicense", "format": "jwt_vp", "path": "$",
            "path_nested": {"id": "DriversLicense", "format": "jwt_vc", "path": "$.verifiableCredential[0]"}});
        submission(&mut d)["descriptor_map"]
            .as_array_mut()
            .unwrap()
            .push(extra);
        assert_fails(&f.verify(d).await, "PRES-028", "submission.descriptors");
    }

    #[tokio::test]
    async fn bad_paths_fail() {
        let f = Fixture::new();
        let cases = [
            ("/path", json!("$.vp")),
            ("/format", json!("ldp_vp")),
            ("/path_nested/path", json!("$.verifiableCredential[1]")),
            ("/path_nested/path", json!("$.verifiableCredential[-1]")),
            ("/path_nested/path", json!("$.vc")),
            ("/path_nested/format", json!("ldp_vc")),
            ("/path_nested", Value::Null),
        ];
        for (pointer, value) in cases {
            let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
            *submission(&mut d)["descriptor_map"][0]
                .pointer_mut(pointer)
                .unwrap() = value.clone();
            let v = f.verify(d).await;
            assert_fails(&v, "PRES-029", "submission.descriptors");
        }
    }

    /// One credential carrying both requested types cannot answer both requests.
    #[tokio::test]
    async fn one_credential_for_two_requests_fails() {
        let mut f = Fixture::new();
        f.request.requested_credentials = vec![
            RequestedCredential::new("VerifiedEmployee"),
            RequestedCredential::new("BuildingAccess"),
        ];
        let mut claims = f.vc_claims(&f.issuer, "VerifiedEmployee");
        claims["vc"]["type"] =
            json!(["VerifiableCredential", "VerifiedEmployee", "BuildingAccess"]);
        let both = f.issuer.sign(&claims);
        // What a wallet that deduplicates credentials sends: both descriptors, one credential.
        let mut d = f.draft(vec![both]);
        let mut second = submission(&mut d)["descriptor_map"][0].clone();
        second["id"] = json!("BuildingAccess");
        second["path_nested"]["id"] = json!("BuildingAccess");
        submission(&mut d)["descriptor_map"]
            .as_array_mut()
            .unwrap()
            .push(second);
        let v = f.verify(d).await;
        let e = assert_fails(&v, "PRES-030", "submission.distinct");
        assert!(e.to_string().contains("BuildingAccess"), "{e}");
    }

    /// A request for two types is satisfied by two credentials, and not by one of them alone.
    #[tokio::test]
    async fn two_types_need_both_credentials() {
        let mut f = Fixture::new();
        f.request.requested_credentials = vec![
            RequestedCredential::new("VerifiedEmployee"),
            RequestedCredential::new("BuildingAccess"),
        ];
        let both = vec![f.vc("VerifiedEmployee"), f.vc("BuildingAccess")];
        let v = f.verify(f.draft(both)).await;
        let p = assert_verified(&v);
        let types: Vec<_> = p
            .credentials
            .iter()
            .map(|c| c.descriptor_id.as_str())
            .collect();
        assert_eq!(types, ["VerifiedEmployee", "BuildingAccess"]);
        assert_eq!(p.credentials[1].types[1], "BuildingAccess");

        let v = f.verify(f.draft(vec![f.vc("VerifiedEmployee")])).await;
        assert_fails(&v, "PRES-027", "submission.coverage");

        // Both descriptors, but the second points at a credential of the first type.
        let d = f.draft(vec![f.vc("VerifiedEmployee"), f.vc("VerifiedEmployee")]);
        assert_fails(
            &f.verify(d).await,
            "PRES-041",
            "credential[BuildingAccess].type",
        );
    }
}
