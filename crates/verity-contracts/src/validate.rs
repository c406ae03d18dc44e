//! Contract rules beyond what the JSON shape enforces. Every failure names the field's JSON path.

use std::collections::HashMap;

use url::Url;
use verity_did::Did;

use crate::model::{
    AccessTokenAttestation, CREDENTIAL_SUBJECT_PREFIX, Contract, Display, IdTokenAttestation,
    IdTokenHintAttestation, PresentationAttestation, SELF_ISSUED_CONFIGURATION,
};
use crate::{ContractError, path};

/// Shortest credential lifetime accepted: one hour.
pub const MIN_VALIDITY_SECS: u64 = 3600;
/// Longest credential lifetime accepted: ten Julian years.
pub const MAX_VALIDITY_SECS: u64 = 315_576_000;

/// Longest contract id (slug).
const MAX_SLUG_LEN: usize = 64;
/// Longest name, title or label.
const MAX_SHORT_TEXT: usize = 256;
/// Longest description or instructions text.
const MAX_LONG_TEXT: usize = 2048;
/// Longest claim or type name.
const MAX_NAME: usize = 128;

impl Contract {
    /// Checks every contract rule and returns the first failure.
    pub fn validate(&self) -> Result<(), ContractError> {
        match self.problems().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Checks every contract rule and returns all failures, in document order.
    pub fn problems(&self) -> Vec<ContractError> {
        let mut v = Checker::default();
        v.contract(self);
        v.errors
    }
}

#[derive(Default)]
struct Checker {
    errors: Vec<ContractError>,
}

impl Checker {
    fn fail(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(ContractError::invalid(path, reason));
    }

    fn contract(&mut self, c: &Contract) {
        self.slug("id", &c.id);
        self.did("authority", &c.authority);
        self.text("name", &c.name, MAX_SHORT_TEXT, false);
        self.rules(c);
        self.display(c, &c.display);
    }

    fn rules(&mut self, c: &Contract) {
        let r = &c.rules;
        if !(MIN_VALIDITY_SECS..=MAX_VALIDITY_SECS).contains(&r.validity_interval) {
            self.errors.push(ContractError::ValidityOutOfRange {
                seconds: r.validity_interval,
                min: MIN_VALIDITY_SECS,
                max: MAX_VALIDITY_SECS,
            });
        }
        if r.vc.types.is_empty() {
            self.fail("rules.vc.type", "must list at least one credential type");
        }
        if r.suspendable && !r.revocable {
            self.fail(
                "rules.suspendable",
                "a suspendable credential needs a status list: set `revocable` too",
            );
        }
        let mut seen = HashMap::new();
        for (i, t) in r.vc.types.iter().enumerate() {
            let p = format!("rules.vc.type[{i}]");
            if t == "VerifiableCredential" {
                self.fail(&p, "`VerifiableCredential` is added automatically; list only the contract's own types");
            } else if verity_jose::kind::STATUS_LIST_CREDENTIAL_TYPES.contains(&t.as_str())
                || t == verity_jose::kind::DOMAIN_LINKAGE_CREDENTIAL_TYPE
            {
                // The same key signs those tokens; a credential of their type would be one of
                // them in disguise, and every verifier refuses it as a credential.
                self.fail(
                    &p,
                    format!(
                        "`{t}` is the type of status lists or domain linkages, not of a credential"
                    ),
                );
            } else {
                self.name(&p, t);
            }
            if let Some(first) = seen.insert(t.as_str(), p.clone()) {
                self.fail(&p, format!("type `{t}` is already listed at `{first}`"));
            }
        }
        self.attestations(c);
        self.mappings(c);
    }

    fn attestations(&mut self, c: &Contract) {
        let a = &c.rules.attestations;
        if a.is_empty() {
            self.errors.push(ContractError::NoAttestations);
            return;
        }
        let base = "rules.attestations";
        for (i, h) in a.id_token_hints.iter().enumerate() {
            self.id_token_hint(&format!("{base}.idTokenHints[{i}]"), h, i);
        }
        let mut configs = HashMap::new();
        for (i, t) in a.id_tokens.iter().enumerate() {
            let p = format!("{base}.idTokens[{i}]");
            self.id_token(&p, t);
            if let Some(first) = configs.insert(t.configuration.as_str(), p.clone()) {
                self.fail(
                    format!("{p}.configuration"),
                    format!("provider already configured at `{first}` (wallets key id_tokens by configuration)"),
                );
            }
        }
        let mut types = HashMap::new();
        for (i, pr) in a.presentations.iter().enumerate() {
            let p = format!("{base}.presentations[{i}]");
            self.presentation(&p, pr);
            if let Some(first) = types.insert(pr.credential_type.as_str(), p.clone()) {
                self.fail(
                    format!("{p}.credentialType"),
                    format!("credential type already requested at `{first}` (wallets key presentations by type)"),
                );
            }
        }
        let mut configs = HashMap::new();
        for (i, t) in a.access_tokens.iter().enumerate() {
            let p = format!("{base}.accessTokens[{i}]");
            self.access_token(&p, t);
            if let Some(first) = configs.insert(t.configuration.as_str(), p.clone()) {
                self.fail(
                    format!("{p}.configuration"),
                    format!("provider already configured at `{first}`"),
                );
            }
        }
    }

    fn id_token_hint(&mut self, p: &str, h: &IdTokenHintAttestation, index: usize) {
        if index > 0 {
            self.fail(
                p,
                "only one idTokenHints attestation is allowed: the RP supplies one set of claims",
            );
        }
        if let Some(conf) = &h.configuration
            && conf != SELF_ISSUED_CONFIGURATION
        {
            self.fail(
                format!("{p}.configuration"),
                format!("must be `{SELF_ISSUED_CONFIGURATION}` (or absent) for idTokenHints"),
            );
        }
        if let Some(issuers) = &h.trusted_issuers {
            self.dids(&format!("{p}.trustedIssuers"), issuers);
        }
    }

    fn id_token(&mut self, p: &str, t: &IdTokenAttestation) {
        let conf = format!("{p}.configuration");
        if t.configuration == SELF_ISSUED_CONFIGURATION {
            self.fail(
                &conf,
                format!("`{SELF_ISSUED_CONFIGURATION}` is reserved for idTokenHints; name a provider's discovery URL"),
            );
        } else {
            self.url(&conf, &t.configuration, false);
        }
        self.text(
            &format!("{p}.clientId"),
            &t.client_id,
            MAX_SHORT_TEXT,
            false,
        );
        self.absolute_uri(&format!("{p}.redirectUri"), &t.redirect_uri);
        if !t.scope.split(' ').any(|s| s == "openid") {
            self.fail(
                format!("{p}.scope"),
                "must include `openid` (space-delimited scopes)",
            );
        }
        if let Some(issuers) = &t.trusted_issuers {
            self.dids(&format!("{p}.trustedIssuers"), issuers);
        }
    }

    fn presentation(&mut self, p: &str, pr: &PresentationAttestation) {
        self.name(&format!("{p}.credentialType"), &pr.credential_type);
        self.dids(&format!("{p}.trustedIssuers"), &pr.trusted_issuers);
    }

    fn access_token(&mut self, p: &str, t: &AccessTokenAttestation) {
        self.url(&format!("{p}.configuration"), &t.configuration, false);
        self.text(
            &format!("{p}.clientId"),
            &t.client_id,
            MAX_SHORT_TEXT,
            false,
        );
        if let Some(aud) = &t.audience {
            self.text(&format!("{p}.audience"), aud, MAX_SHORT_TEXT, false);
        }
        self.absolute_uri(&format!("{p}.redirectUri"), &t.redirect_uri);
        if t.scope.trim().is_empty() {
            self.fail(format!("{p}.scope"), "must name at least one scope");
        }
    }

    fn mappings(&mut self, c: &Contract) {
        let mut outputs: HashMap<&str, String> = HashMap::new();
        let mut indexed: Option<String> = None;
        for (_, p, m) in c.mappings() {
            let out_path = format!("{p}.outputClaim");
            self.output_claim(&out_path, &m.output_claim);
            if let Err(reason) = path::parse(&m.input_claim) {
                self.fail(format!("{p}.inputClaim"), reason);
            }
            if let Some(first) = outputs.get(m.output_claim.as_str()) {
                self.errors.push(ContractError::DuplicateOutputClaim {
                    path: out_path.clone(),
                    claim: m.output_claim.clone(),
                    first: first.clone(),
                });
            } else {
                outputs.insert(&m.output_claim, out_path);
            }
            if m.indexed {
                let ip = format!("{p}.indexed");
                match &indexed {
                    Some(first) => self.errors.push(ContractError::MultipleIndexedClaims {
                        path: ip,
                        first: first.clone(),
                    }),
                    None => {
                        if m.claim_type.is_some_and(|t| t.is_image()) {
                            self.fail(&ip, "an image cannot be the revocation search claim");
                        }
                        indexed = Some(ip);
                    }
                }
            }
        }
    }

    fn display(&mut self, c: &Contract, d: &Display) {
        self.locale("display.locale", &d.locale);
        let card = &d.card;
        self.text("display.card.title", &card.title, MAX_SHORT_TEXT, false);
        self.text(
            "display.card.issuedBy",
            &card.issued_by,
            MAX_SHORT_TEXT,
            false,
        );
        self.colour("display.card.backgroundColor", &card.background_color);
        self.colour("display.card.textColor", &card.text_color);
        self.url("display.card.logo.uri", &card.logo.uri, true);
        self.text(
            "display.card.logo.description",
            &card.logo.description,
            MAX_SHORT_TEXT,
            true,
        );
        self.text(
            "display.card.description",
            &card.description,
            MAX_LONG_TEXT,
            true,
        );
        self.text(
            "display.consent.title",
            &d.consent.title,
            MAX_SHORT_TEXT,
            false,
        );
        self.text(
            "display.consent.instructions",
            &d.consent.instructions,
            MAX_LONG_TEXT,
            true,
        );
        let mappings: HashMap<&str, _> = c
            .mappings()
            .into_iter()
            .map(|(_, _, m)| (m.output_claim.as_str(), m))
            .collect();
        let mut seen = HashMap::new();
        for (i, dc) in d.claims.iter().enumerate() {
            let p = format!("display.claims[{i}]");
            let claim_path = format!("{p}.claim");
            match dc
                .output_claim()
                .and_then(|o| mappings.get(o).map(|m| (o, m)))
            {
                None => self.errors.push(ContractError::UnknownDisplayClaim {
                    path: claim_path.clone(),
                    claim: dc.claim.clone(),
                }),
                Some((_, m)) => {
                    if let Some(t) = m.claim_type
                        && !t.compatible_with(dc.claim_type)
                    {
                        self.fail(
                            format!("{p}.type"),
                            format!(
                                "display type {} does not match the mapping's type {t}",
                                dc.claim_type
                            ),
                        );
                    }
                }
            }
            if let Some(first) = seen.insert(dc.claim.as_str(), claim_path.clone()) {
                self.fail(
                    &claim_path,
                    format!("`{}` is already labelled at `{first}`", dc.claim),
                );
            }
            self.text(&format!("{p}.label"), &dc.label, MAX_SHORT_TEXT, false);
            if let Some(desc) = &dc.description {
                self.text(&format!("{p}.description"), desc, MAX_LONG_TEXT, true);
            }
        }
    }

    // --- field helpers ---------------------------------------------------------------------

    fn text(&mut self, p: &str, s: &str, max: usize, allow_empty: bool) {
        if !allow_empty && s.trim().is_empty() {
            self.fail(p, "must not be empty");
        } else if s.chars().count() > max {
            self.fail(p, format!("is longer than {max} characters"));
        } else if s.chars().any(|c| c.is_control() && c != '\n') {
            self.fail(p, "must not contain control characters");
        }
    }

    /// A claim or type name: non-empty, no whitespace, bounded.
    fn name(&mut self, p: &str, s: &str) {
        if s.is_empty() {
            self.fail(p, "must not be empty");
        } else if s.len() > MAX_NAME {
            self.fail(p, format!("is longer than {MAX_NAME} bytes"));
        } else if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.fail(p, "must not contain whitespace or control characters");
        }
    }

    fn output_claim(&mut self, p: &str, s: &str) {
        let before = self.errors.len();
        self.name(p, s);
        if self.errors.len() != before {
            return;
        }
        if s == "id" {
            self.fail(
                p,
                "`id` is the holder's DID in credentialSubject and cannot be mapped",
            );
        } else if s.starts_with('$') || s.starts_with('.') || s.ends_with('.') {
            self.fail(p, "must be a claim name, not a path");
        }
    }

    fn slug(&mut self, p: &str, s: &str) {
        let ok = !s.is_empty()
            && s.len() <= MAX_SLUG_LEN
            && s.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if !ok {
            self.fail(
                p,
                format!(
                    "must be a slug of at most {MAX_SLUG_LEN} characters: lowercase letters and digits, separated by single hyphens"
                ),
            );
        }
    }

    fn did(&mut self, p: &str, s: &str) {
        if let Err(e) = Did::parse(s) {
            self.fail(p, format!("must be a DID: {e}"));
        }
    }

    fn dids(&mut self, p: &str, list: &[String]) {
        for (i, d) in list.iter().enumerate() {
            self.did(&format!("{p}[{i}]"), d);
        }
    }

    fn colour(&mut self, p: &str, s: &str) {
        let ok =
            s.len() == 7 && s.starts_with('#') && s.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
        if !ok {
            self.fail(p, "must be a colour as #RRGGBB (six hex digits)");
        }
    }

    fn locale(&mut self, p: &str, s: &str) {
        let mut parts = s.split('-');
        let lang_ok = parts.next().is_some_and(|l| {
            (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic())
        });
        let rest_ok = parts.all(|sub| {
            (2..=8).contains(&sub.len()) && sub.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !(lang_ok && rest_ok) {
            self.fail(p, "must be a BCP 47 language tag such as `en-US`");
        }
    }

    /// An https URL (plain http only for localhost); `data:image/...` too when `allow_data_image`.
    fn url(&mut self, p: &str, s: &str, allow_data_image: bool) {
        if allow_data_image && s.starts_with("data:") {
            if !s.starts_with("data:image/") || !s.contains(";base64,") {
                self.fail(p, "a data URI here must be `data:image/<type>;base64,...`");
            }
            return;
        }
        if let Err(reason) = check_web_url(s) {
            self.fail(p, reason);
        }
    }

    fn absolute_uri(&mut self, p: &str, s: &str) {
        if let Err(e) = Url::parse(s) {
            self.fail(p, format!("must be an absolute URI: {e}"));
        }
    }
}

/// https with a host and no credentials; plain http only for localhost and loopback literals.
pub(crate) fn check_web_url(s: &str) -> Result<(), String> {
    let url = Url::parse(s).map_err(|e| format!("must be an absolute https URL: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err("must be an https URL with a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (user:password@)".into());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if matches!(host, "localhost" | "127.0.0.1" | "[::1]") => Ok(()),
        other => Err(format!(
            "must use https (plain http only for localhost), not `{other}`"
        )),
    }
}

/// `vc.credentialSubject.<name>` for an output claim.
pub(crate) fn display_claim_path(output_claim: &str) -> String {
    format!("{CREDENTIAL_SUBJECT_PREFIX}{output_claim}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{base_contract, parse_err};
    use serde_json::{Value, json};

    /// Applies `edit` to the valid base contract and returns the first error.
    fn err_after(edit: impl FnOnce(&mut Value)) -> ContractError {
        let mut v = base_contract();
        edit(&mut v);
        parse_err(&v)
    }

    fn assert_invalid(err: &ContractError, path: &str, reason_part: &str) {
        match err {
            ContractError::InvalidField { path: p, reason } => {
                assert_eq!(p, path, "{err}");
                assert!(
                    reason.contains(reason_part),
                    "{reason:?} lacks {reason_part:?}"
                );
            }
            other => panic!("expected InvalidField at {path}, got {other:?}"),
        }
        assert_eq!(err.code(), "CONTRACT-002");
    }

    #[test]
    fn the_base_contract_is_valid() {
        let c = Contract::from_json(&base_contract().to_string()).unwrap();
        assert!(c.problems().is_empty());
        assert!(c.rules.revocable, "revocable defaults to true");
        assert_eq!(
            c.credential_types(),
            ["VerifiableCredential", "TestCredential"]
        );
    }

    #[test]
    fn suspendable_needs_revocable() {
        let c = Contract::from_json(&base_contract().to_string()).unwrap();
        assert!(!c.rules.suspendable, "suspendable defaults to false");
        let mut v = base_contract();
        v["rules"]["suspendable"] = json!(true);
        assert!(
            Contract::from_json(&v.to_string())
                .unwrap()
                .rules
                .suspendable
        );
        v["rules"]["revocable"] = json!(false);
        match Contract::from_json(&v.to_string()).unwrap_err() {
            ContractError::InvalidField { path, reason } => {
                assert_eq!(path, "rules.suspendable");
                assert!(reason.contains("revocable"), "{reason}");
            }
            other => panic!("expected InvalidField, got {other:?}"),
        }
    }

    #[test]
    fn parse_errors_carry_the_json_path() {
        let e = err_after(|v| {
            v["rules"]["attestations"]["idTokens"] = json!([{
                "configuration": "https://login.example.com/.well-known/openid-configuration",
                "clientId": "c", "mapping": [], "colour": "red"
            }]);
        });
        match &e {
            ContractError::Parse { path, reason } => {
                assert_eq!(path, "rules.attestations.idTokens[0].colour", "{e}");
                assert!(reason.contains("unknown field"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.code(), "CONTRACT-001");

        let e = err_after(|v| v["rules"]["attestations"]["idTokens"] = json!([{"clientId": "c"}]));
        assert!(
            matches!(&e, ContractError::Parse { path, reason } if path == "rules.attestations.idTokens[0]" && reason.contains("configuration")),
            "{e}"
        );
        let e = err_after(|v| v["rules"]["validityInterval"] = json!("long"));
        assert!(
            matches!(&e, ContractError::Parse { path, .. } if path == "rules.validityInterval"),
            "{e}"
        );
        let e = Contract::from_json("{not json").unwrap_err();
        assert!(matches!(e, ContractError::Parse { .. }), "{e}");
    }

    #[test]
    fn unknown_claim_types_are_parse_errors() {
        let e = err_after(|v| {
            v["rules"]["attestations"]["idTokenHints"][0]["mapping"][0]["type"] = json!("Text")
        });
        assert!(
            matches!(&e, ContractError::Parse { path, reason }
                if path == "rules.attestations.idTokenHints[0].mapping[0].type" && reason.contains("String")),
            "{e}"
        );
        let e = err_after(|v| v["display"]["claims"][0]["type"] = json!("string"));
        assert!(
            matches!(&e, ContractError::Parse { path, .. } if path == "display.claims[0].type"),
            "{e}"
        );
    }

    #[test]
    fn id_must_be_a_slug() {
        for bad in [
            "",
            "Verified",
            "a_b",
            "-a",
            "a-",
            "a--b",
            "é",
            &"a".repeat(65),
        ] {
            let e = err_after(|v| v["id"] = json!(bad));
            assert_invalid(&e, "id", "slug");
        }
        for good in ["a", "verified-employee", "v2-id-3"] {
            let mut v = base_contract();
            v["id"] = json!(good);
            Contract::from_json(&v.to_string()).unwrap();
        }
    }

    #[test]
    fn authority_must_be_a_did() {
        let e = err_after(|v| v["authority"] = json!("https://issuer.example.com"));
        assert_invalid(&e, "authority", "must be a DID");
    }

    #[test]
    fn texts_must_be_present_bounded_and_printable() {
        assert_invalid(&err_after(|v| v["name"] = json!("  ")), "name", "empty");
        assert_invalid(
            &err_after(|v| v["name"] = json!("x".repeat(257))),
            "name",
            "longer than 256",
        );
        assert_invalid(
            &err_after(|v| v["display"]["card"]["title"] = json!("a\u{7}b")),
            "display.card.title",
            "control",
        );
        assert_invalid(
            &err_after(|v| v["display"]["card"]["issuedBy"] = json!("")),
            "display.card.issuedBy",
            "empty",
        );
        assert_invalid(
            &err_after(|v| v["display"]["consent"]["title"] = json!("")),
            "display.consent.title",
            "empty",
        );
        assert_invalid(
            &err_after(|v| v["display"]["consent"]["instructions"] = json!("x".repeat(2049))),
            "display.consent.instructions",
            "longer",
        );
        assert_invalid(
            &err_after(|v| v["display"]["card"]["description"] = json!("x".repeat(2049))),
            "display.card.description",
            "longer",
        );
        assert_invalid(
            &err_after(|v| v["display"]["claims"][0]["label"] = json!("")),
            "display.claims[0].label",
            "empty",
        );
        assert_invalid(
            &err_after(|v| v["display"]["claims"][0]["description"] = json!("x".repeat(2049))),
            "display.claims[0].description",
            "longer",
        );
        assert_invalid(
            &err_after(|v| v["display"]["card"]["logo"]["description"] = json!("x".repeat(257))),
            "display.card.logo.description",
            "longer",
        );
    }

    #[test]
    fn validity_interval_is_between_an_hour_and_ten_years() {
        for bad in [0u64, 3599, MAX_VALIDITY_SECS + 1] {
            let e = err_after(|v| v["rules"]["validityInterval"] = json!(bad));
            assert!(
                matches!(e, ContractError::ValidityOutOfRange { seconds, .. } if seconds == bad),
                "{e}"
            );
            assert_eq!(e.code(), "CONTRACT-007");
            assert_eq!(e.path(), Some("rules.validityInterval"));
        }
        for good in [MIN_VALIDITY_SECS, MAX_VALIDITY_SECS] {
            let mut v = base_contract();
            v["rules"]["validityInterval"] = json!(good);
            Contract::from_json(&v.to_string()).unwrap();
        }
    }

    #[test]
    fn vc_types_are_listed_unique_and_without_the_base_type() {
        assert_invalid(
            &err_after(|v| v["rules"]["vc"]["type"] = json!([])),
            "rules.vc.type",
            "at least one",
        );
        assert_invalid(
            &err_after(|v| v["rules"]["vc"]["type"] = json!(["A", "A"])),
            "rules.vc.type[1]",
            "already listed",
        );
        assert_invalid(
            &err_after(|v| v["rules"]["vc"]["type"] = json!(["VerifiableCredential", "A"])),
            "rules.vc.type[0]",
            "added automatically",
        );
        assert_invalid(
            &err_after(|v| v["rules"]["vc"]["type"] = json!(["Verified Employee"])),
            "rules.vc.type[0]",
            "whitespace",
        );
        for t in [
            "BitstringStatusListCredential",
            "StatusList2021Credential",
            "DomainLinkageCredential",
        ] {
            assert_invalid(
                &err_after(|v| v["rules"]["vc"]["type"] = json!(["A", t])),
                "rules.vc.type[1]",
                "not of a credential",
            );
        }
    }

    #[test]
    fn at_least_one_attestation_is_required() {
        let e = err_after(|v| v["rules"]["attestations"] = json!({}));
        assert!(matches!(e, ContractError::NoAttestations), "{e}");
        assert_eq!(e.code(), "CONTRACT-003");
        assert_eq!(e.path(), Some("rules.attestations"));
    }

    #[test]
    fn only_one_id_token_hint_with_the_self_issued_configuration() {
        let e = err_after(|v| {
            let hint = v["rules"]["attestations"]["idTokenHints"][0].clone();
            let mut second = hint.clone();
            second["mapping"] = json!([]);
            v["rules"]["attestations"]["idTokenHints"] = json!([hint, second]);
        });
        assert_invalid(&e, "rules.attestations.idTokenHints[1]", "only one");
        let e = err_after(|v| {
            v["rules"]["attestations"]["idTokenHints"][0]["configuration"] =
                json!("https://login.example.com")
        });
        assert_invalid(
            &e,
            "rules.attestations.idTokenHints[0].configuration",
            "self-issued.me",
        );
        let mut v = base_contract();
        v["rules"]["attestations"]["idTokenHints"][0]["configuration"] =
            json!(SELF_ISSUED_CONFIGURATION);
        Contract::from_json(&v.to_string()).unwrap();
    }

    #[test]
    fn trusted_issuers_must_be_dids() {
        let e = err_after(|v| {
            v["rules"]["attestations"]["idTokenHints"][0]["trustedIssuers"] =
                json!(["did:web:ok.example", "nope"])
        });
        assert_invalid(
            &e,
            "rules.attestations.idTokenHints[0].trustedIssuers[1]",
            "DID",
        );
    }

    fn with_id_token(v: &mut Value, token: Value) {
        v["rules"]["attestations"]["idTokens"] = json!([token]);
    }

    fn id_token() -> Value {
        json!({
            "configuration": "https://login.example.com/.well-known/openid-configuration",
            "clientId": "verity-wallet",
            "mapping": [{"outputClaim": "mail", "inputClaim": "email", "required": true}]
        })
    }

    #[test]
    fn id_tokens_rules() {
        let mut v = base_contract();
        with_id_token(&mut v, id_token());
        let c = Contract::from_json(&v.to_string()).unwrap();
        let t = &c.rules.attestations.id_tokens[0];
        assert_eq!(t.redirect_uri, "vcclient://openid/");
        assert_eq!(t.scope, "openid");

        let p = "rules.attestations.idTokens[0]";
        let cases: Vec<(&str, Value, String, &str)> = vec![
            (
                "configuration",
                json!("http://login.example.com/x"),
                format!("{p}.configuration"),
                "https",
            ),
            (
                "configuration",
                json!("ftp://login.example.com/x"),
                format!("{p}.configuration"),
                "https",
            ),
            (
                "configuration",
                json!("not a url"),
                format!("{p}.configuration"),
                "absolute",
            ),
            (
                "configuration",
                json!("https://u:pw@login.example.com/x"),
                format!("{p}.configuration"),
                "credentials",
            ),
            (
                "configuration",
                json!(SELF_ISSUED_CONFIGURATION),
                format!("{p}.configuration"),
                "reserved",
            ),
            ("clientId", json!(""), format!("{p}.clientId"), "empty"),
            (
                "redirectUri",
                json!("relative/path"),
                format!("{p}.redirectUri"),
                "absolute",
            ),
            (
                "scope",
                json!("profile email"),
                format!("{p}.scope"),
                "openid",
            ),
            (
                "trustedIssuers",
                json!(["x"]),
                format!("{p}.trustedIssuers[0]"),
                "DID",
            ),
        ];
        for (field, value, path, reason) in cases {
            let e = err_after(|v| {
                let mut t = id_token();
                t[field] = value.clone();
                with_id_token(v, t);
            });
            assert_invalid(&e, &path, reason);
        }
        // Plain http is fine for a provider on this machine (development).
        let mut v = base_contract();
        let mut t = id_token();
        t["configuration"] = json!("http://localhost:8080/.well-known/openid-configuration");
        with_id_token(&mut v, t);
        Contract::from_json(&v.to_string()).unwrap();
    }

    #[test]
    fn id_token_providers_are_unique() {
        let e = err_after(|v| {
            let mut second = id_token();
            second["mapping"] = json!([]);
            v["rules"]["attestations"]["idTokens"] = json!([id_token(), second]);
        });
        assert_invalid(
            &e,
            "rules.attestations.idTokens[1].configuration",
            "already configured at `rules.attestations.idTokens[0]`",
        );
    }

    fn presentation() -> Value {
        json!({"credentialType": "VerifiedEmployee", "trustedIssuers": ["did:web:hr.example.com"],
               "mapping": [{"outputClaim": "employer", "inputClaim": "$.companyName"}]})
    }

    #[test]
    fn presentations_rules() {
        let mut v = base_contract();
        v["rules"]["attestations"]["presentations"] = json!([presentation()]);
        Contract::from_json(&v.to_string()).unwrap();

        let e = err_after(|v| {
            let mut p = presentation();
            p["credentialType"] = json!("");
            v["rules"]["attestations"]["presentations"] = json!([p]);
        });
        assert_invalid(
            &e,
            "rules.attestations.presentations[0].credentialType",
            "empty",
        );
        let e = err_after(|v| {
            let mut p = presentation();
            p["trustedIssuers"] = json!(["issuer.example.com"]);
            v["rules"]["attestations"]["presentations"] = json!([p]);
        });
        assert_invalid(
            &e,
            "rules.attestations.presentations[0].trustedIssuers[0]",
            "DID",
        );
        let e = err_after(|v| {
            let mut second = presentation();
            second["mapping"] = json!([]);
            v["rules"]["attestations"]["presentations"] = json!([presentation(), second]);
        });
        assert_invalid(
            &e,
            "rules.attestations.presentations[1].credentialType",
            "already requested",
        );
    }

    fn access_token() -> Value {
        json!({"configuration": "https://auth.example.com/.well-known/openid-configuration",
               "clientId": "c1", "audience": "api://hr", "scope": "hr.read",
               "mapping": [{"outputClaim": "department", "inputClaim": "dept"}]})
    }

    #[test]
    fn access_tokens_rules() {
        let mut v = base_contract();
        v["rules"]["attestations"]["accessTokens"] = json!([access_token()]);
        Contract::from_json(&v.to_string()).unwrap();
        let p = "rules.attestations.accessTokens[0]";
        let cases: Vec<(&str, Value, String, &str)> = vec![
            (
                "configuration",
                json!("http://auth.example.com/x"),
                format!("{p}.configuration"),
                "https",
            ),
            ("clientId", json!(" "), format!("{p}.clientId"), "empty"),
            ("audience", json!(""), format!("{p}.audience"), "empty"),
            (
                "redirectUri",
                json!("::"),
                format!("{p}.redirectUri"),
                "absolute",
            ),
            ("scope", json!(" "), format!("{p}.scope"), "scope"),
        ];
        for (field, value, path, reason) in cases {
            let e = err_after(|v| {
                let mut t = access_token();
                t[field] = value.clone();
                v["rules"]["attestations"]["accessTokens"] = json!([t]);
            });
            assert_invalid(&e, &path, reason);
        }
        let e = err_after(|v| {
            let mut second = access_token();
            second["mapping"] = json!([]);
            v["rules"]["attestations"]["accessTokens"] = json!([access_token(), second]);
        });
        assert_invalid(
            &e,
            "rules.attestations.accessTokens[1].configuration",
            "already",
        );
    }

    #[test]
    fn output_claims_are_unique_across_attestations() {
        let e = err_after(|v| {
            v["rules"]["attestations"]["selfIssued"] = json!({
                "mapping": [{"outputClaim": "givenName", "inputClaim": "first"}]
            });
        });
        match &e {
            ContractError::DuplicateOutputClaim { path, claim, first } => {
                assert_eq!(path, "rules.attestations.selfIssued.mapping[0].outputClaim");
                assert_eq!(claim, "givenName");
                assert_eq!(
                    first,
                    "rules.attestations.idTokenHints[0].mapping[0].outputClaim"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.code(), "CONTRACT-004");
    }

    #[test]
    fn output_claim_names() {
        let p = "rules.attestations.idTokenHints[0].mapping[0].outputClaim";
        for (bad, reason) in [
            ("", "empty"),
            ("given name", "whitespace"),
            ("id", "holder's DID"),
            ("$.givenName", "not a path"),
            (".x", "not a path"),
        ] {
            let e = err_after(|v| {
                v["rules"]["attestations"]["idTokenHints"][0]["mapping"][0]["outputClaim"] =
                    json!(bad);
                v["display"]["claims"] = json!([]);
            });
            assert_invalid(&e, p, reason);
        }
    }

    #[test]
    fn input_claims_must_be_names_or_supported_paths() {
        let e = err_after(|v| {
            v["rules"]["attestations"]["idTokenHints"][0]["mapping"][1]["inputClaim"] =
                json!("$.items[*]")
        });
        assert_invalid(
            &e,
            "rules.attestations.idTokenHints[0].mapping[1].inputClaim",
            "wildcards",
        );
        let e = err_after(|v| {
            v["rules"]["attestations"]["idTokenHints"][0]["mapping"][1]["inputClaim"] = json!("")
        });
        assert_invalid(
            &e,
            "rules.attestations.idTokenHints[0].mapping[1].inputClaim",
            "empty",
        );
    }

    #[test]
    fn at_most_one_indexed_claim_and_not_an_image() {
        let e = err_after(|v| {
            v["rules"]["attestations"]["idTokenHints"][0]["mapping"][1]["indexed"] = json!(true)
        });
        match &e {
            ContractError::MultipleIndexedClaims { path, first } => {
                assert_eq!(
                    path,
                    "rules.attestations.idTokenHints[0].mapping[1].indexed"
                );
                assert_eq!(
                    first,
                    "rules.attestations.idTokenHints[0].mapping[0].indexed"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.code(), "CONTRACT-005");
        let e = err_after(|v| {
            let m = &mut v["rules"]["attestations"]["idTokenHints"][0]["mapping"];
            m[0]["indexed"] = json!(false);
            m[1]["indexed"] = json!(true);
            m[1]["type"] = json!("Image");
            v["display"]["claims"] = json!([]);
        });
        assert_invalid(
            &e,
            "rules.attestations.idTokenHints[0].mapping[1].indexed",
            "image",
        );
    }

    #[test]
    fn colours_are_hash_rrggbb() {
        for bad in ["#FFF", "FFAABB", "#GGAABB", "#FFAABBCC", "red"] {
            let e = err_after(|v| v["display"]["card"]["backgroundColor"] = json!(bad));
            assert_invalid(&e, "display.card.backgroundColor", "#RRGGBB");
        }
        let e = err_after(|v| v["display"]["card"]["textColor"] = json!("#12345"));
        assert_invalid(&e, "display.card.textColor", "#RRGGBB");
    }

    #[test]
    fn logo_is_https_or_a_data_image() {
        let e = err_after(|v| {
            v["display"]["card"]["logo"]["uri"] = json!("http://cdn.example.com/l.png")
        });
        assert_invalid(&e, "display.card.logo.uri", "https");
        let e = err_after(|v| {
            v["display"]["card"]["logo"]["uri"] = json!("data:text/html;base64,AA==")
        });
        assert_invalid(&e, "display.card.logo.uri", "data:image");
        let mut v = base_contract();
        v["display"]["card"]["logo"]["uri"] = json!("data:image/png;base64,iVBORw0KGgo=");
        Contract::from_json(&v.to_string()).unwrap();
        v["display"]["card"]["logo"]["uri"] = json!("http://127.0.0.1:9000/logo.png");
        Contract::from_json(&v.to_string()).unwrap();
    }

    #[test]
    fn locale_is_a_language_tag() {
        for bad in ["", "english", "en_US", "e", "en-", "en-US-"] {
            let e = err_after(|v| v["display"]["locale"] = json!(bad));
            assert_invalid(&e, "display.locale", "BCP 47");
        }
        for good in ["en", "en-US", "zh-Hant-TW", "nb-NO"] {
            let mut v = base_contract();
            v["display"]["locale"] = json!(good);
            Contract::from_json(&v.to_string()).unwrap();
        }
    }

    #[test]
    fn display_claims_refer_to_mapped_output_claims() {
        let e = err_after(|v| {
            v["display"]["claims"][0]["claim"] = json!("vc.credentialSubject.nickname")
        });
        match &e {
            ContractError::UnknownDisplayClaim { path, claim } => {
                assert_eq!(path, "display.claims[0].claim");
                assert_eq!(claim, "vc.credentialSubject.nickname");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.code(), "CONTRACT-006");
        // The JWT-VC prefix is required.
        let e = err_after(|v| v["display"]["claims"][0]["claim"] = json!("givenName"));
        assert!(
            matches!(e, ContractError::UnknownDisplayClaim { .. }),
            "{e}"
        );
    }

    #[test]
    fn display_claims_are_unique_and_type_compatible() {
        let e = err_after(|v| {
            let first = v["display"]["claims"][0].clone();
            v["display"]["claims"][1] = first;
        });
        assert_invalid(&e, "display.claims[1].claim", "already labelled");
        let e = err_after(|v| v["display"]["claims"][0]["type"] = json!("Date"));
        assert_invalid(&e, "display.claims[0].type", "does not match");
        // Image mappings may be shown with the hosted photo type.
        let mut v = base_contract();
        v["rules"]["attestations"]["idTokenHints"][0]["mapping"][1]["type"] = json!("Image");
        v["display"]["claims"][1]["type"] = json!("image/jpg;base64url");
        let c = Contract::from_json(&v.to_string()).unwrap();
        assert_eq!(c.display.claims[1].claim_type, crate::ClaimType::ImageJpg);
    }

    #[test]
    fn problems_lists_every_failure_in_order() {
        let mut v = base_contract();
        v["id"] = json!("Bad Id");
        v["display"]["card"]["textColor"] = json!("white");
        let c: Contract = serde_json::from_value(v).unwrap();
        let paths: Vec<_> = c
            .problems()
            .iter()
            .map(|e| e.path().unwrap().to_owned())
            .collect();
        assert_eq!(paths, ["id", "display.card.textColor"]);
        assert_eq!(c.validate().unwrap_err().path(), Some("id"));
    }

    #[test]
    fn contracts_round_trip_through_json() {
        let c = Contract::from_json(&base_contract().to_string()).unwrap();
        let again = Contract::from_json(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(c, again);
    }

    #[test]
    fn web_urls() {
        check_web_url("https://a.example/x").unwrap();
        check_web_url("http://localhost/x").unwrap();
        check_web_url("http://[::1]:8080/x").unwrap();
        assert!(check_web_url("http://example.com").is_err());
        assert!(check_web_url("file:///etc/passwd").is_err());
        assert!(check_web_url("https://").is_err());
        assert!(check_web_url("mailto:a@b.c").is_err());
    }
}
