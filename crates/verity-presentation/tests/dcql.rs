//! OpenID4VP 1.0 DCQL building blocks: query validation (section 6), the specification's own
//! examples as round-trip vectors (section 7.4, Appendix B.1.3.1, Appendix D), the query built
//! from Verity's requested credentials, the `vp_token` object (section 8.1, credential sets of
//! section 6.4.2), and matching real SD-JWT VCs (ES256 issuer, holder Key Binding) against
//! their Credential Query.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Map, Value, json};
use verity_jose::{Algorithm, LocalSigner, SigningKey};
use verity_presentation::dcql::{
    ClaimsQuery, CredentialFormat, CredentialQuery, DcqlCredentialRequest, DcqlQuery,
    check_sd_jwt_answer, check_sd_jwt_constraints, dcql_from_requested, parse_vp_token,
    parse_vp_token_param, select_claims,
};
use verity_presentation::{
    Constraint, ConstraintOp, FaceCheckRequest, PresentationError, RequestedCredential,
};
use verity_sd_jwt::{
    ClaimPath, KeyBindingClaims, KeyBindingPolicy, SdJwt, SdJwtBuilder, StaticIssuerKeys,
    VerifiedSdJwt, VerifyOptions, verify,
};

// ---------------------------------------------------------------------------------------------
// The specification's examples (OpenID4VP 1.0 incorporating errata set 1, `examples/` of the
// specification's source): used unchanged.
// ---------------------------------------------------------------------------------------------

/// Section 7.4 (`query_lang/simple.json`).
fn spec_simple() -> Value {
    json!({
      "credentials": [
        {
          "id": "my_credential",
          "format": "dc+sd-jwt",
          "meta": {
            "vct_values": [ "https://credentials.example.com/identity_credential" ]
          },
          "claims": [
              {"path": ["family_name"]},
              {"path": ["given_name"]},
              {"path": ["address", "street_address"]}
          ]
        }
      ]
    })
}

/// Appendix D (`query_lang/multi_credentials.json`): an SD-JWT VC and an mdoc.
fn spec_multi_credentials() -> Value {
    json!({
      "credentials": [
        {
          "id": "pid",
          "format": "dc+sd-jwt",
          "meta": {
            "vct_values": ["https://credentials.example.com/identity_credential"]
          },
          "claims": [
            {"path": ["given_name"]},
            {"path": ["family_name"]},
            {"path": ["address", "street_address"]}
          ]
        },
        {
          "id": "mdl",
          "format": "mso_mdoc",
          "meta": {
            "doctype_value": "org.iso.7367.1.mVRC"
          },
          "claims": [
            {"path": ["org.iso.7367.1", "vehicle_holder"]},
            {"path": ["org.iso.18013.5.1", "given_name"]}
          ]
        }
      ]
    })
}

/// Appendix D (`query_lang/credentials_alternatives.json`).
fn spec_credentials_alternatives() -> Value {
    json!({
      "credentials": [
        {
          "id": "pid",
          "format": "dc+sd-jwt",
          "meta": {
            "vct_values": ["https://credentials.example.com/identity_credential"]
          },
          "claims": [
            {"path": ["given_name"]},
            {"path": ["family_name"]},
            {"path": ["address", "street_address"]}
          ]
        },
        {
          "id": "other_pid",
          "format": "dc+sd-jwt",
          "meta": {
            "vct_values": ["https://othercredentials.example/pid"]
          },
          "claims": [
            {"path": ["given_name"]},
            {"path": ["family_name"]},
            {"path": ["address", "street_address"]}
          ]
        },
        {
          "id": "pid_reduced_cred_1",
          "format": "dc+sd-jwt",
          "meta": {
            "vct_values": ["https://credentials.example.com/reduced_identity_credential"]
          },
          "claims": [
            {"path": ["family_name"]},
            {"path": ["given_name"]}
          ]
        },
        {
          "id": "pid_reduced_cred_2",
          "format": "dc+sd-jwt",
          "meta": {
            "vct_values": ["https://cred.example/residence_credential"]
          },
          "claims": [
            {"path": ["postal_code"]},
            {"path": ["locality"]},
            {"path": ["region"]}
          ]
        },
        {
          "id": "nice_to_have",
          "format": "dc+sd-jwt",
          "meta": {
            "vct_values": ["https://company.example/company_rewards"]
          },
          "claims": [
            {"path": ["rewards_number"]}
          ]
        }
      ],
      "credential_sets": [
        {
          "options": [
            [ "pid" ],
            [ "other_pid" ],
            [ "pid_reduced_cred_1", "pid_reduced_cred_2" ]
          ]
        },
        {
          "required": false,
          "options": [
            [ "nice_to_have" ]
          ]
        }
      ]
    })
}

/// Appendix D (`query_lang/claims_alternatives.json`).
fn spec_claims_alternatives() -> Value {
    json!({
      "credentials": [
        {
          "id": "pid",
          "format": "dc+sd-jwt",
          "meta": {
            "vct_values": [ "https://credentials.example.com/identity_credential" ]
          },
          "claims": [
            {"id": "a", "path": ["family_name"]},
            {"id": "b", "path": ["postal_code"]},
            {"id": "c", "path": ["locality"]},
            {"id": "d", "path": ["region"]},
            {"id": "e", "path": ["date_of_birth"]}
          ],
          "claim_sets": [
            ["a", "c", "d", "e"],
            ["a", "b", "e"]
          ]
        }
      ]
    })
}

/// Appendix D (`query_lang/value_matching_simple.json`).
fn spec_value_matching() -> Value {
    json!({
      "credentials": [
        {
          "id": "my_credential",
          "format": "dc+sd-jwt",
          "meta": {
            "vct_values": [ "https://credentials.example.com/identity_credential" ]
          },
          "claims": [
              {
                "path": ["family_name"],
                "values": ["Doe"]
              },
              {"path": ["given_name"]},
              {"path": ["address", "street_address"]},
              {
                "path": ["postal_code"],
                "values": ["90210", "90211"]
              }
          ]
        }
      ]
    })
}

/// Appendix B.1.3.1 (`request/dcql_jwt_vc.json`).
fn spec_jwt_vc() -> Value {
    json!({
      "credentials": [
        {
          "id": "example_jwt_vc",
          "format": "jwt_vc_json",
          "meta": {
            "type_values": [["IDCredential"]]
          },
          "claims": [
            {"path": ["credentialSubject", "family_name"]},
            {"path": ["credentialSubject", "given_name"]}
          ]
        }
      ]
    })
}

fn dcql_member(err: PresentationError) -> String {
    match err {
        PresentationError::DcqlInvalid { member, .. } => member,
        other => panic!("expected DcqlInvalid, got {other:?}"),
    }
}

fn member_of(v: Value) -> String {
    let err = DcqlQuery::from_json(&v).expect_err("must be refused");
    assert_eq!(err.code(), "PRES-056", "{err}");
    dcql_member(err)
}

// ---------------------------------------------------------------------------------------------
// The model: spec vectors and validation
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_examples_validate_and_round_trip() {
    for (name, example) in [
        ("simple", spec_simple()),
        ("credentials_alternatives", spec_credentials_alternatives()),
        ("claims_alternatives", spec_claims_alternatives()),
        ("value_matching_simple", spec_value_matching()),
        ("dcql_jwt_vc", spec_jwt_vc()),
    ] {
        let query = DcqlQuery::from_json(&example).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(serde_json::to_value(&query).unwrap(), example, "{name}");
    }

    let q = DcqlQuery::from_json(&spec_simple()).unwrap();
    let c = &q.credentials[0];
    assert_eq!(c.format, CredentialFormat::SdJwtVc);
    assert!(!c.multiple);
    assert!(c.requires_holder_binding(), "the default is true");
    assert_eq!(
        c.claims.as_ref().unwrap()[2].path,
        ClaimPath::keys(["address", "street_address"])
    );

    let q = DcqlQuery::from_json(&spec_value_matching()).unwrap();
    let values = q.credentials[0].claims.as_ref().unwrap()[3].values.clone();
    assert_eq!(values, Some(vec![json!("90210"), json!("90211")]));

    let q = DcqlQuery::from_json(&spec_credentials_alternatives()).unwrap();
    let sets = q.credential_sets.as_ref().unwrap();
    assert!(sets[0].is_required() && !sets[1].is_required());

    let q = DcqlQuery::from_json(&spec_jwt_vc()).unwrap();
    assert_eq!(q.credentials[0].format, CredentialFormat::JwtVcJson);
    assert_eq!(
        q.credentials[0].meta.type_values,
        Some(vec![vec!["IDCredential".to_owned()]])
    );
}

#[test]
fn mdoc_examples_round_trip_but_the_format_is_not_supported() {
    let example = spec_multi_credentials();
    let query: DcqlQuery = serde_json::from_value(example.clone()).unwrap();
    assert_eq!(serde_json::to_value(&query).unwrap(), example);
    assert_eq!(
        query.credentials[1].format,
        CredentialFormat::Other("mso_mdoc".into())
    );
    assert_eq!(
        query.credentials[1].meta.other.get("doctype_value"),
        Some(&json!("org.iso.7367.1.mVRC"))
    );
    assert_eq!(
        dcql_member(query.validate().unwrap_err()),
        "credentials[1].format"
    );
}

#[test]
fn unknown_members_are_ignored() {
    let mut v = spec_simple();
    v["future_extension"] = json!(true);
    v["credentials"][0]["purpose"] = json!("x");
    v["credentials"][0]["claims"][0]["intent_to_retain"] = json!(false);
    v["credentials"][0]["meta"]["type_values"] = json!([["ignored for dc+sd-jwt"]]);
    DcqlQuery::from_json(&v).unwrap();
}

/// A change that breaks one rule of a valid query.
type Mutation = Box<dyn Fn(&mut Value)>;

#[test]
fn every_rule_of_section_6_fails_on_its_own_member() {
    let base = spec_simple;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "credentials non-empty",
            Box::new(|v| v["credentials"] = json!([])),
            "credentials",
        ),
        (
            "id syntax",
            Box::new(|v| v["credentials"][0]["id"] = json!("my credential")),
            "credentials[0].id",
        ),
        (
            "id non-empty",
            Box::new(|v| v["credentials"][0]["id"] = json!("")),
            "credentials[0].id",
        ),
        (
            "ids unique",
            Box::new(|v| {
                let c = v["credentials"][0].clone();
                v["credentials"].as_array_mut().unwrap().push(c);
            }),
            "credentials[1].id",
        ),
        (
            "supported format",
            Box::new(|v| v["credentials"][0]["format"] = json!("ldp_vc")),
            "credentials[0].format",
        ),
        (
            "vct_values required",
            Box::new(|v| v["credentials"][0]["meta"] = json!({})),
            "credentials[0].meta.vct_values",
        ),
        (
            "meta required (it carries vct_values)",
            Box::new(|v| {
                v["credentials"][0].as_object_mut().unwrap().remove("meta");
            }),
            "credentials[0].meta.vct_values",
        ),
        (
            "vct_values non-empty",
            Box::new(|v| v["credentials"][0]["meta"]["vct_values"] = json!([])),
            "credentials[0].meta.vct_values",
        ),
        (
            "vct_values entries non-empty",
            Box::new(|v| v["credentials"][0]["meta"]["vct_values"] = json!(["a", ""])),
            "credentials[0].meta.vct_values[1]",
        ),
        (
            "trusted_authorities non-empty",
            Box::new(|v| v["credentials"][0]["trusted_authorities"] = json!([])),
            "credentials[0].trusted_authorities",
        ),
        (
            "trusted_authorities values non-empty",
            Box::new(|v| {
                v["credentials"][0]["trusted_authorities"] = json!([{"type": "aki", "values": []}])
            }),
            "credentials[0].trusted_authorities[0].values",
        ),
        (
            "trusted_authorities type non-empty",
            Box::new(|v| {
                v["credentials"][0]["trusted_authorities"] = json!([{"type": "", "values": ["x"]}])
            }),
            "credentials[0].trusted_authorities[0].type",
        ),
        (
            "claims non-empty",
            Box::new(|v| v["credentials"][0]["claims"] = json!([])),
            "credentials[0].claims",
        ),
        (
            "path non-empty",
            Box::new(|v| v["credentials"][0]["claims"][1]["path"] = json!([])),
            "credentials[0].claims[1].path",
        ),
        (
            "the same claim not twice",
            Box::new(|v| v["credentials"][0]["claims"][1]["path"] = json!(["family_name"])),
            "credentials[0].claims[1].path",
        ),
        (
            "claim id syntax",
            Box::new(|v| v["credentials"][0]["claims"][0]["id"] = json!("a.b")),
            "credentials[0].claims[0].id",
        ),
        (
            "claim ids unique",
            Box::new(|v| {
                v["credentials"][0]["claims"][0]["id"] = json!("x");
                v["credentials"][0]["claims"][2]["id"] = json!("x");
            }),
            "credentials[0].claims[2].id",
        ),
        (
            "values non-empty",
            Box::new(|v| v["credentials"][0]["claims"][0]["values"] = json!([])),
            "credentials[0].claims[0].values",
        ),
        (
            "values are scalars: no object",
            Box::new(|v| v["credentials"][0]["claims"][0]["values"] = json!(["Doe", {"a": 1}])),
            "credentials[0].claims[0].values[1]",
        ),
        (
            "values are scalars: no null",
            Box::new(|v| v["credentials"][0]["claims"][0]["values"] = json!([null])),
            "credentials[0].claims[0].values[0]",
        ),
        (
            "values are scalars: integers, not fractions",
            Box::new(|v| v["credentials"][0]["claims"][0]["values"] = json!([1.5])),
            "credentials[0].claims[0].values[0]",
        ),
        (
            "claim_sets only with claims",
            Box::new(|v| {
                v["credentials"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("claims");
                v["credentials"][0]["claim_sets"] = json!([["a"]]);
            }),
            "credentials[0].claim_sets",
        ),
        (
            "claim_sets need claim ids",
            Box::new(|v| {
                v["credentials"][0]["claims"][0]["id"] = json!("a");
                v["credentials"][0]["claim_sets"] = json!([["a"]]);
            }),
            "credentials[0].claims[1].id",
        ),
        (
            "claim_sets reference claim ids",
            Box::new(|v| {
                for (i, id) in ["a", "b", "c"].iter().enumerate() {
                    v["credentials"][0]["claims"][i]["id"] = json!(id);
                }
                v["credentials"][0]["claim_sets"] = json!([["a"], ["b", "z"]]);
            }),
            "credentials[0].claim_sets[1][1]",
        ),
        (
            "claim_sets non-empty",
            Box::new(|v| {
                for (i, id) in ["a", "b", "c"].iter().enumerate() {
                    v["credentials"][0]["claims"][i]["id"] = json!(id);
                }
                v["credentials"][0]["claim_sets"] = json!([]);
            }),
            "credentials[0].claim_sets",
        ),
        (
            "credential_sets non-empty",
            Box::new(|v| v["credential_sets"] = json!([])),
            "credential_sets",
        ),
        (
            "credential set options non-empty",
            Box::new(|v| v["credential_sets"] = json!([{"options": []}])),
            "credential_sets[0].options",
        ),
        (
            "credential set option non-empty",
            Box::new(|v| v["credential_sets"] = json!([{"options": [["my_credential"], []]}])),
            "credential_sets[0].options[1]",
        ),
        (
            "credential set options reference credential ids",
            Box::new(|v| v["credential_sets"] = json!([{"options": [["my_credential", "nope"]]}])),
            "credential_sets[0].options[0][1]",
        ),
        (
            "a path element that is no string, index or null (serde)",
            Box::new(|v| v["credentials"][0]["claims"][0]["path"] = json!([true])),
            "dcql_query",
        ),
        (
            "credentials required (serde)",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("credentials");
            }),
            "dcql_query",
        ),
    ];
    for (rule, mutate, member) in cases {
        let mut v = base();
        mutate(&mut v);
        assert_eq!(member_of(v), member, "{rule}");
    }

    // jwt_vc_json's own meta member.
    let mut v = spec_jwt_vc();
    v["credentials"][0]["meta"] = json!({"vct_values": ["x"]});
    assert_eq!(member_of(v), "credentials[0].meta.type_values");
    let mut v = spec_jwt_vc();
    v["credentials"][0]["meta"]["type_values"] = json!([["A"], []]);
    assert_eq!(member_of(v), "credentials[0].meta.type_values[1]");
}

#[test]
fn valid_variants_pass() {
    let mut v = spec_simple();
    v["credentials"][0]["multiple"] = json!(true);
    v["credentials"][0]["require_cryptographic_holder_binding"] = json!(false);
    v["credentials"][0]["trusted_authorities"] = json!([
        {"type": "aki", "values": ["s9tIpPmhxdiuNkHMEWNpYim8S8Y"]},
        {"type": "etsi_tl", "values": ["https://lotl.example.com"]},
        {"type": "openid_federation", "values": ["https://trustanchor.example.com"]}
    ]);
    v["credentials"][0]["claims"][0]["values"] = json!(["Doe", 42, true]);
    v["credentials"][0]["claims"][1]["path"] = json!(["nationalities", null]);
    v["credentials"][0]["claims"][2]["path"] = json!(["degrees", 0, "type"]);
    let q = DcqlQuery::from_json(&v).unwrap();
    assert!(q.credentials[0].multiple);
    assert!(!q.credentials[0].requires_holder_binding());
    assert_eq!(serde_json::to_value(&q).unwrap(), v);
}

/// Section 7.1.1 and the example of section 7.3.
#[test]
fn claims_path_pointers_select_as_section_7_says() {
    let credential = json!({
      "name": "Arthur Dent",
      "address": {"street_address": "42 Market Street", "locality": "Milliways", "postal_code": "12345"},
      "degrees": [
        {"type": "Bachelor of Science", "university": "University of Betelgeuse"},
        {"type": "Master of Science", "university": "University of Betelgeuse"}
      ],
      "nationalities": ["British", "Betelgeusian"]
    });
    let payload = credential.as_object().unwrap();
    let sel = |p: Value| select_claims(payload, &serde_json::from_value(p).unwrap());
    assert_eq!(sel(json!(["name"])), Some(vec![&json!("Arthur Dent")]));
    assert_eq!(sel(json!(["address"])), Some(vec![&credential["address"]]));
    assert_eq!(
        sel(json!(["address", "street_address"])),
        Some(vec![&json!("42 Market Street")])
    );
    assert_eq!(
        sel(json!(["degrees", null, "type"])),
        Some(vec![
            &json!("Bachelor of Science"),
            &json!("Master of Science")
        ])
    );
    assert_eq!(
        sel(json!(["nationalities", 1])),
        Some(vec![&json!("Betelgeusian")])
    );
    // Errors: missing, out of range, key on a string, index on an object, null on the root.
    assert_eq!(sel(json!(["missing"])), None);
    assert_eq!(sel(json!(["nationalities", 5])), None);
    assert_eq!(sel(json!(["name", "first"])), None);
    assert_eq!(sel(json!(["address", 0])), None);
    assert_eq!(sel(json!([null])), None);
    assert_eq!(sel(json!([])), None);
}

// ---------------------------------------------------------------------------------------------
// The query built from Verity's requested credentials
// ---------------------------------------------------------------------------------------------

const EMPLOYEE_VCT: &str = "https://verity.example/vct/VerifiedEmployee";
const EMAIL_VCT: &str = "https://verity.example/vct/VerifiedEmail";

fn vct_for(type_: &str) -> Option<String> {
    match type_ {
        "VerifiedEmployee" => Some(EMPLOYEE_VCT.into()),
        "VerifiedEmail" | "Verified Email" | "Verified.Email" => Some(EMAIL_VCT.into()),
        _ => None,
    }
}

fn constraint(name: &str, op: ConstraintOp) -> Constraint {
    Constraint {
        claim_name: name.into(),
        op,
    }
}

fn values(vs: &[&str]) -> ConstraintOp {
    ConstraintOp::Values(vs.iter().map(|s| (*s).to_owned()).collect())
}

fn employee_request() -> DcqlCredentialRequest {
    DcqlCredentialRequest {
        type_: "VerifiedEmployee".into(),
        accepted_issuers: vec!["did:web:issuer.example".into()],
        constraints: vec![constraint("jobTitle", values(&["Engineer", "Manager"]))],
        disclose: vec![],
    }
}

#[test]
fn one_requested_credential_with_a_values_constraint() {
    let query = dcql_from_requested(&[employee_request()], vct_for).unwrap();
    assert_eq!(
        serde_json::to_value(&query).unwrap(),
        json!({
          "credentials": [{
            "id": "VerifiedEmployee",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": [EMPLOYEE_VCT]},
            "claims": [{"path": ["jobTitle"], "values": ["Engineer", "Manager"]}]
          }]
        })
    );
    // Accepted issuers are not sent (no trusted_authorities type names a DID).
    assert!(query.credentials[0].trusted_authorities.is_none());
    query.validate().unwrap();
}

#[test]
fn two_requested_credentials_with_values_and_other_constraints() {
    let email = DcqlCredentialRequest {
        type_: "VerifiedEmail".into(),
        accepted_issuers: vec![],
        constraints: vec![
            constraint("email", ConstraintOp::Contains("@contoso".into())),
            constraint("domain", values(&["contoso.example"])),
        ],
        disclose: vec![ClaimPath::keys(["displayName"]), ClaimPath::keys(["email"])],
    };
    let mut employee = employee_request();
    employee.constraints.extend([
        constraint("department", ConstraintOp::StartsWith("Eng".into())),
        // A second values constraint on the same claim narrows it: one Claims Query.
        constraint("jobTitle", values(&["Manager", "Director"])),
    ]);
    let query = dcql_from_requested(&[employee, email], vct_for).unwrap();
    assert_eq!(
        serde_json::to_value(&query).unwrap(),
        json!({
          "credentials": [
            {
              "id": "VerifiedEmployee",
              "format": "dc+sd-jwt",
              "meta": {"vct_values": [EMPLOYEE_VCT]},
              "claims": [
                {"path": ["jobTitle"], "values": ["Manager"]},
                {"path": ["department"]}
              ]
            },
            {
              "id": "VerifiedEmail",
              "format": "dc+sd-jwt",
              "meta": {"vct_values": [EMAIL_VCT]},
              "claims": [
                {"path": ["email"]},
                {"path": ["domain"], "values": ["contoso.example"]},
                {"path": ["displayName"]}
              ]
            }
          ]
        })
    );
}

#[test]
fn ids_are_sanitized_and_unique() {
    let req = |t: &str| DcqlCredentialRequest {
        type_: t.into(),
        ..DcqlCredentialRequest::default()
    };
    let query = dcql_from_requested(
        &[
            req("Verified Email"),
            req("Verified.Email"),
            req("VerifiedEmail"),
        ],
        vct_for,
    )
    .unwrap();
    let ids: Vec<&str> = query.credentials.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["Verified_Email", "Verified_Email_2", "VerifiedEmail"]);
    // No claims: `claims` is left out (only the always-present claims are asked for).
    assert!(query.credentials.iter().all(|c| c.claims.is_none()));

    let odd = dcql_from_requested(&[req("é")], |_| Some("urn:x".into())).unwrap();
    assert_eq!(odd.credentials[0].id, "credential");
}

#[test]
fn requested_credentials_that_cannot_become_a_query_fail() {
    assert_eq!(
        dcql_from_requested(&[], vct_for).unwrap_err(),
        PresentationError::NothingRequested
    );
    let unknown = DcqlCredentialRequest {
        type_: "Unknown".into(),
        ..DcqlCredentialRequest::default()
    };
    assert_eq!(
        dcql_member(dcql_from_requested(&[employee_request(), unknown], vct_for).unwrap_err()),
        "requestedCredentials[1].type"
    );
    let mut disjoint = employee_request();
    disjoint
        .constraints
        .push(constraint("jobTitle", values(&["Intern"])));
    assert_eq!(
        dcql_member(dcql_from_requested(&[disjoint], vct_for).unwrap_err()),
        "requestedCredentials[0].constraints[1].values"
    );
    let mut root = employee_request();
    root.disclose.push(ClaimPath::root());
    assert_eq!(
        dcql_member(dcql_from_requested(&[root], vct_for).unwrap_err()),
        "requestedCredentials[0].disclose[0]"
    );
}

#[test]
fn the_stored_requested_credential_converts_and_discloses_the_face_check_photo() {
    let mut stored = RequestedCredential::new("VerifiedEmployee");
    stored.accepted_issuers = vec!["did:web:issuer.example".into()];
    stored.constraints = vec![constraint("jobTitle", values(&["Engineer"]))];
    stored.face_check = Some(FaceCheckRequest {
        source_photo_claim_name: "photo".into(),
        threshold: 70,
    });
    let request = DcqlCredentialRequest::from(&stored);
    assert_eq!(request.accepted_issuers, stored.accepted_issuers);
    let query = dcql_from_requested(&[request], vct_for).unwrap();
    let paths: Vec<String> = query.credentials[0]
        .claims
        .iter()
        .flatten()
        .map(|c| c.path.to_string())
        .collect();
    assert_eq!(paths, [r#"["jobTitle"]"#, r#"["photo"]"#]);

    // The input reads the API's camelCase JSON.
    let parsed: DcqlCredentialRequest = serde_json::from_value(json!({
        "type": "VerifiedEmployee",
        "acceptedIssuers": ["did:web:contoso.example"],
        "constraints": [{"claimName": "jobTitle", "values": ["Engineer"]},
                        {"claimName": "email", "contains": "@contoso"}],
        "disclose": [["address", "locality"]]
    }))
    .unwrap();
    assert_eq!(
        parsed.constraints[1].op,
        ConstraintOp::Contains("@contoso".into())
    );
    assert_eq!(
        parsed.disclose,
        vec![ClaimPath::keys(["address", "locality"])]
    );
}

// ---------------------------------------------------------------------------------------------
// vp_token (section 8.1)
// ---------------------------------------------------------------------------------------------

fn two_credentials() -> DcqlQuery {
    let mut email = employee_request();
    email.type_ = "VerifiedEmail".into();
    dcql_from_requested(&[employee_request(), email], vct_for).unwrap()
}

#[test]
fn vp_token_with_one_credential() {
    let query = DcqlQuery::from_json(&spec_simple()).unwrap();
    let answers = parse_vp_token(&json!({"my_credential": ["eyJhbGci...QMA"]}), &query).unwrap();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers["my_credential"], ["eyJhbGci...QMA"]);

    // The form parameter carries the same object as JSON text.
    let answers = parse_vp_token_param(r#"{"my_credential":["a~b~"]}"#, &query).unwrap();
    assert_eq!(answers["my_credential"], ["a~b~"]);
    let err = parse_vp_token_param("eyJhbGci...QMA", &query).unwrap_err();
    assert_eq!(err.code(), "PRES-057");
}

#[test]
fn vp_token_with_two_credentials() {
    let query = two_credentials();
    let answers = parse_vp_token(
        &json!({"VerifiedEmployee": ["p1"], "VerifiedEmail": ["p2"]}),
        &query,
    )
    .unwrap();
    assert_eq!(answers["VerifiedEmployee"], ["p1"]);
    assert_eq!(answers["VerifiedEmail"], ["p2"]);
}

#[test]
fn vp_token_refusals_each_have_their_code() {
    let query = two_credentials();
    let code = |v: Value| parse_vp_token(&v, &query).unwrap_err().code();

    // Not an object (an array, or the JSON text itself).
    assert_eq!(code(json!(["p1", "p2"])), "PRES-057");
    assert_eq!(code(json!("{\"VerifiedEmployee\":[\"p1\"]}")), "PRES-057");
    // An unknown key.
    assert_eq!(
        code(json!({"VerifiedEmployee": ["p1"], "VerifiedEmail": ["p2"], "Other": ["p3"]})),
        "PRES-058"
    );
    // A missing credential.
    let err = parse_vp_token(&json!({"VerifiedEmployee": ["p1"]}), &query).unwrap_err();
    assert_eq!(
        err,
        PresentationError::VpTokenCredentialMissing {
            missing: "credential query \"VerifiedEmail\"".into()
        }
    );
    // Two presentations without `multiple: true`.
    assert_eq!(
        parse_vp_token(
            &json!({"VerifiedEmployee": ["p1", "p1b"], "VerifiedEmail": ["p2"]}),
            &query
        )
        .unwrap_err(),
        PresentationError::VpTokenTooManyPresentations {
            query: "VerifiedEmployee".into(),
            count: 2
        }
    );
    // Entries that are not a non-empty array of non-empty strings.
    for bad in [
        json!("p1"),
        json!([]),
        json!([{"vp": "p1"}]),
        json!([1]),
        json!([""]),
    ] {
        assert_eq!(
            code(json!({"VerifiedEmployee": bad, "VerifiedEmail": ["p2"]})),
            "PRES-061",
            "{bad}"
        );
    }
}

#[test]
fn vp_token_multiple_presentations_when_allowed() {
    let mut query = two_credentials();
    query.credentials[0].multiple = true;
    let answers = parse_vp_token(
        &json!({"VerifiedEmployee": ["p1", "p1b", "p1c"], "VerifiedEmail": ["p2"]}),
        &query,
    )
    .unwrap();
    assert_eq!(answers["VerifiedEmployee"].len(), 3);
}

/// Section 6.4.2 with the credential_sets example of Appendix D: `pid`, or `other_pid`, or both
/// reduced credentials; `nice_to_have` optional.
#[test]
fn vp_token_respects_credential_sets() {
    let query = DcqlQuery::from_json(&spec_credentials_alternatives()).unwrap();
    let ok = |v: Value| parse_vp_token(&v, &query).map(|a| a.into_keys().collect::<Vec<_>>());

    assert_eq!(ok(json!({"pid": ["p"]})).unwrap(), ["pid"]);
    assert_eq!(ok(json!({"other_pid": ["p"]})).unwrap(), ["other_pid"]);
    assert_eq!(
        ok(json!({"pid_reduced_cred_1": ["p"], "pid_reduced_cred_2": ["q"]})).unwrap(),
        ["pid_reduced_cred_1", "pid_reduced_cred_2"]
    );
    assert_eq!(
        ok(json!({"pid": ["p"], "nice_to_have": ["r"]})).unwrap(),
        ["nice_to_have", "pid"]
    );

    let missing = |v: Value| ok(v).unwrap_err();
    let half = missing(json!({"pid_reduced_cred_1": ["p"]}));
    assert_eq!(half.code(), "PRES-059");
    assert!(half.to_string().contains("credential_sets[0]"), "{half}");
    assert_eq!(missing(json!({"nice_to_have": ["r"]})).code(), "PRES-059");
    assert_eq!(missing(json!({})).code(), "PRES-059");

    // An optional set alone is never required.
    let mut only_optional = query.clone();
    only_optional.credential_sets.as_mut().unwrap().remove(0);
    parse_vp_token(&json!({}), &only_optional).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Matching real SD-JWT VCs against their Credential Query
// ---------------------------------------------------------------------------------------------

const ISSUER: &str = "did:web:issuer.example";
const AUD: &str = "x509_san_dns:verifier.example";
const NONCE: &str = "n-0S6_WzA2Mj";
const NOW: i64 = 1_760_000_000;

struct Wallet {
    issuer: LocalSigner,
    holder: SigningKey,
    issued: String,
}

fn employee_claims() -> Map<String, Value> {
    let v = json!({
        "iss": ISSUER,
        "iat": NOW - 100,
        "exp": NOW + 86_400,
        "vct": EMPLOYEE_VCT,
        "jobTitle": "Engineer",
        "department": "Engineering",
        "email": "erika@contoso.example",
        "displayName": "Erika Mustermann",
        "level": 3,
        "address": {"locality": "Köln", "country": "DE"},
        "status": {"status_list": {"idx": 7, "uri": "https://issuer.example/status/1"}}
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// An ES256 issuer signs an SD-JWT VC in which every personal claim is selectively disclosable
/// (`address` recursively), bound to an ES256 holder key.
async fn wallet() -> Wallet {
    let issuer = LocalSigner::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
        format!("{ISSUER}#key-1"),
    );
    let holder = SigningKey::generate(Algorithm::ES256).unwrap();
    let mut builder = SdJwtBuilder::sd_jwt_vc(employee_claims()).holder_key(holder.public_jwk());
    for name in [
        "jobTitle",
        "department",
        "email",
        "displayName",
        "level",
        "address",
    ] {
        builder = builder.selectively_disclosable(ClaimPath::keys([name]));
    }
    builder = builder
        .selectively_disclosable(ClaimPath::keys(["address", "locality"]))
        .decoys(ClaimPath::root(), 2);
    let issued = builder.sign(&issuer).await.unwrap().sd_jwt;
    Wallet {
        issuer,
        holder,
        issued,
    }
}

impl Wallet {
    /// The holder presents `paths` with a KB-JWT for our audience and nonce.
    fn present(&self, paths: &[ClaimPath]) -> String {
        let presentation = SdJwt::parse(&self.issued).unwrap().present(paths).unwrap();
        presentation
            .with_key_binding(
                &self.holder,
                &KeyBindingClaims {
                    audience: AUD.into(),
                    nonce: NONCE.into(),
                    issued_at: NOW,
                },
            )
            .unwrap()
    }

    /// The verifier's side: signature, Key Binding (required), SD-JWT VC rules.
    async fn verify(&self, presentation: &str) -> VerifiedSdJwt {
        let keys = StaticIssuerKeys::new().with_key(ISSUER, self.issuer.public_jwk());
        let policy = KeyBindingPolicy::Required {
            audience: AUD.into(),
            nonce: NONCE.into(),
        };
        verify(presentation, &keys, &VerifyOptions::sd_jwt_vc(NOW, policy))
            .await
            .unwrap()
    }

    async fn presented(&self, names: &[&str]) -> VerifiedSdJwt {
        let paths: Vec<ClaimPath> = names.iter().map(|n| ClaimPath::keys([*n])).collect();
        self.verify(&self.present(&paths)).await
    }
}

fn employee_query() -> CredentialQuery {
    let mut request = employee_request();
    request.constraints.push(constraint(
        "email",
        ConstraintOp::Contains("@contoso".into()),
    ));
    dcql_from_requested(&[request], vct_for)
        .unwrap()
        .credentials
        .remove(0)
}

fn accepted() -> Vec<String> {
    vec![ISSUER.to_owned()]
}

#[tokio::test]
async fn a_matching_answer_passes() {
    let w = wallet().await;
    let verified = w.presented(&["jobTitle", "email"]).await;
    let query = employee_query();
    let check = check_sd_jwt_answer(&query, &verified, &accepted()).unwrap();
    assert_eq!(check.claim_set, None);
    assert!(check.extra_disclosures.is_empty(), "{check:?}");
    // Any issuer when acceptedIssuers is empty.
    check_sd_jwt_answer(&query, &verified, &[]).unwrap();
    // The RP's constraints DCQL cannot carry (contains) stay Verity's check.
    check_sd_jwt_constraints(&query.id, &verified, &employee_request_with_contains()).unwrap();
}

fn employee_request_with_contains() -> Vec<Constraint> {
    vec![
        constraint("jobTitle", values(&["Engineer", "Manager"])),
        constraint("email", ConstraintOp::Contains("@contoso".into())),
    ]
}

#[tokio::test]
async fn a_wrong_vct_is_refused() {
    let w = wallet().await;
    let verified = w.presented(&["jobTitle", "email"]).await;
    let mut query = employee_query();
    query.meta.vct_values = Some(vec![EMAIL_VCT.into()]);
    let err = check_sd_jwt_answer(&query, &verified, &accepted()).unwrap_err();
    assert_eq!(
        err,
        PresentationError::CredentialType {
            descriptor: "VerifiedEmployee".into(),
            found: vec![EMPLOYEE_VCT.into()]
        }
    );
    assert_eq!(err.code(), "PRES-041");
}

#[tokio::test]
async fn an_issuer_not_accepted_is_refused() {
    let w = wallet().await;
    let verified = w.presented(&["jobTitle", "email"]).await;
    let err = check_sd_jwt_answer(
        &employee_query(),
        &verified,
        &["did:web:partner.example".to_owned()],
    )
    .unwrap_err();
    assert_eq!(
        err,
        PresentationError::IssuerNotAccepted {
            descriptor: "VerifiedEmployee".into(),
            issuer: ISSUER.into()
        }
    );
    assert_eq!(err.code(), "PRES-040");
}

#[tokio::test]
async fn an_undisclosed_requested_claim_is_refused() {
    let w = wallet().await;
    let verified = w.presented(&["jobTitle"]).await;
    let err = check_sd_jwt_answer(&employee_query(), &verified, &accepted()).unwrap_err();
    assert_eq!(
        err,
        PresentationError::ClaimNotDisclosed {
            descriptor: "VerifiedEmployee".into(),
            claim: r#"["email"]"#.into()
        }
    );
    assert_eq!(err.code(), "PRES-062");
}

#[tokio::test]
async fn a_wrong_value_is_refused_without_echoing_it() {
    let w = wallet().await;
    let verified = w.presented(&["jobTitle", "email"]).await;
    let mut query = employee_query();
    query.claims.as_mut().unwrap()[0].values = Some(vec![json!("Manager")]);
    let err = check_sd_jwt_answer(&query, &verified, &accepted()).unwrap_err();
    assert_eq!(err.code(), "PRES-042");
    assert!(!err.to_string().contains("Engineer"), "{err}");

    // Type and value must both match: 3 is not "3".
    let verified = w.presented(&["level"]).await;
    let mut query = employee_query();
    query.claims = Some(vec![ClaimsQuery {
        values: Some(vec![json!("3")]),
        ..ClaimsQuery::new(ClaimPath::keys(["level"]))
    }]);
    assert_eq!(
        check_sd_jwt_answer(&query, &verified, &accepted())
            .unwrap_err()
            .code(),
        "PRES-042"
    );
    query.claims.as_mut().unwrap()[0].values = Some(vec![json!(3)]);
    check_sd_jwt_answer(&query, &verified, &accepted()).unwrap();

    // A constraint DCQL cannot carry fails in check_sd_jwt_constraints, also without the value.
    let verified = w.presented(&["jobTitle", "email"]).await;
    let err = check_sd_jwt_constraints(
        "VerifiedEmployee",
        &verified,
        &[constraint("email", ConstraintOp::StartsWith("bob".into()))],
    )
    .unwrap_err();
    assert_eq!(err.code(), "PRES-042");
    assert!(!err.to_string().contains("erika"), "{err}");
    let err = check_sd_jwt_constraints(
        "VerifiedEmployee",
        &verified,
        &[constraint(
            "department",
            ConstraintOp::StartsWith("Eng".into()),
        )],
    )
    .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[tokio::test]
async fn over_disclosure_is_reported_not_refused() {
    let w = wallet().await;
    let verified = w
        .presented(&["jobTitle", "email", "displayName", "department"])
        .await;
    let check = check_sd_jwt_answer(&employee_query(), &verified, &accepted()).unwrap();
    let mut extra: Vec<String> = check
        .extra_disclosures
        .iter()
        .map(ToString::to_string)
        .collect();
    extra.sort();
    assert_eq!(extra, [r#"["department"]"#, r#"["displayName"]"#]);

    // No claims asked for: every disclosure is extra; none is needed.
    let mut bare = employee_query();
    bare.claims = None;
    let check = check_sd_jwt_answer(&bare, &w.presented(&["email"]).await, &accepted()).unwrap();
    assert_eq!(check.extra_disclosures, [ClaimPath::keys(["email"])]);
    let check = check_sd_jwt_answer(&bare, &w.presented(&[]).await, &accepted()).unwrap();
    assert!(check.extra_disclosures.is_empty());
}

#[tokio::test]
async fn nested_claims_count_their_recursive_parent_as_requested() {
    let w = wallet().await;
    let verified = w
        .verify(&w.present(&[ClaimPath::keys(["address", "locality"])]))
        .await;
    let mut query = employee_query();
    query.claims = Some(vec![ClaimsQuery::new(ClaimPath::keys([
        "address", "locality",
    ]))]);
    let check = check_sd_jwt_answer(&query, &verified, &accepted()).unwrap();
    assert!(check.extra_disclosures.is_empty(), "{check:?}");
    // Asking for the parent accounts for the members disclosed with it.
    query.claims = Some(vec![ClaimsQuery::new(ClaimPath::keys(["address"]))]);
    let check = check_sd_jwt_answer(&query, &verified, &accepted()).unwrap();
    assert!(check.extra_disclosures.is_empty(), "{check:?}");
}

#[tokio::test]
async fn claim_sets_need_one_option_in_full() {
    let w = wallet().await;
    let mut query = employee_query();
    query.claims = Some(
        [("t", "jobTitle"), ("e", "email"), ("d", "department")]
            .iter()
            .map(|(id, name)| ClaimsQuery {
                id: Some((*id).to_owned()),
                ..ClaimsQuery::new(ClaimPath::keys([*name]))
            })
            .collect(),
    );
    query.claim_sets = Some(vec![vec!["t".into(), "d".into()], vec!["e".into()]]);
    DcqlQuery {
        credentials: vec![query.clone()],
        credential_sets: None,
    }
    .validate()
    .unwrap();

    let check = check_sd_jwt_answer(&query, &w.presented(&["email"]).await, &accepted()).unwrap();
    assert_eq!(check.claim_set, Some(1));
    assert!(check.extra_disclosures.is_empty());

    let check = check_sd_jwt_answer(
        &query,
        &w.presented(&["jobTitle", "department"]).await,
        &accepted(),
    )
    .unwrap();
    assert_eq!(check.claim_set, Some(0));

    // Both options: the one that explains the disclosures best.
    let check = check_sd_jwt_answer(
        &query,
        &w.presented(&["jobTitle", "department", "email"]).await,
        &accepted(),
    )
    .unwrap();
    assert_eq!(check.claim_set, Some(0));
    assert_eq!(check.extra_disclosures, [ClaimPath::keys(["email"])]);

    let err =
        check_sd_jwt_answer(&query, &w.presented(&["jobTitle"]).await, &accepted()).unwrap_err();
    assert_eq!(err.code(), "PRES-063");
    assert!(
        err.to_string()
            .contains(r#"option 0: ["department"] not disclosed"#),
        "{err}"
    );
}

#[tokio::test]
async fn holder_binding_is_enforced_when_the_query_requires_it() {
    let w = wallet().await;
    // An SD-JWT without a KB-JWT, verified under a policy that does not ask for one.
    let bare = SdJwt::parse(&w.issued)
        .unwrap()
        .present(&[ClaimPath::keys(["jobTitle"]), ClaimPath::keys(["email"])])
        .unwrap();
    let keys = StaticIssuerKeys::new().with_key(ISSUER, w.issuer.public_jwk());
    let verified = verify(
        bare.as_str(),
        &keys,
        &VerifyOptions::sd_jwt_vc(NOW, KeyBindingPolicy::NotRequired),
    )
    .await
    .unwrap();
    let mut query = employee_query();
    let err = check_sd_jwt_answer(&query, &verified, &accepted()).unwrap_err();
    assert_eq!(
        err,
        PresentationError::HolderBindingMissing {
            descriptor: "VerifiedEmployee".into()
        }
    );
    assert_eq!(err.code(), "PRES-064");
    query.require_cryptographic_holder_binding = Some(false);
    check_sd_jwt_answer(&query, &verified, &accepted()).unwrap();

    // A jwt_vc_json query is not answered by an SD-JWT VC.
    query.format = CredentialFormat::JwtVcJson;
    assert_eq!(
        check_sd_jwt_answer(&query, &verified, &accepted())
            .unwrap_err()
            .code(),
        "PRES-031"
    );
}

/// Request -> DCQL query -> wallet answer -> vp_token -> verification -> matching.
#[tokio::test]
async fn end_to_end_from_requested_credentials() {
    let w = wallet().await;
    let requested = vec![DcqlCredentialRequest {
        type_: "VerifiedEmployee".into(),
        accepted_issuers: accepted(),
        constraints: employee_request_with_contains(),
        disclose: vec![ClaimPath::keys(["displayName"])],
    }];
    let query = dcql_from_requested(&requested, vct_for).unwrap();

    // The wallet discloses exactly the claims the query names.
    let paths: Vec<ClaimPath> = query.credentials[0]
        .claims
        .iter()
        .flatten()
        .map(|c| c.path.clone())
        .collect();
    let mut vp_token = Map::new();
    vp_token.insert(query.credentials[0].id.clone(), json!([w.present(&paths)]));
    let vp_token = Value::Object(vp_token);
    let param = vp_token.to_string();

    let answers = parse_vp_token_param(&param, &query).unwrap();
    for (credential, request) in query.credentials.iter().zip(&requested) {
        for presentation in &answers[&credential.id] {
            let verified = w.verify(presentation).await;
            let check =
                check_sd_jwt_answer(credential, &verified, &request.accepted_issuers).unwrap();
            assert!(check.extra_disclosures.is_empty());
            check_sd_jwt_constraints(&credential.id, &verified, &request.constraints).unwrap();
            assert_eq!(verified.claims["displayName"], json!("Erika Mustermann"));
            assert!(verified.claims.get("department").is_none());
        }
    }
}
