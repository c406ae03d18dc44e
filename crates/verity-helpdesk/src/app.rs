//! What the helpdesk does, apart from HTTP: start a card issuance for a signed-in employee,
//! start a verification, learn from Verity what became of a request (never from the browser),
//! decide who a verification proved, perform actions within the verification window, and
//! revoke leavers' cards.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand_core::{OsRng, RngCore};
use serde_json::{Value, json};
use uuid::Uuid;
use verity_core::{Clock, Secret};

use crate::directory::{Action, ActionOutcome, Directory, EmployeeKey, TemporaryAccessPass};
use crate::error::DirectoryError;
use crate::oidc::{OidcClient, OidcError, PendingLogin};
use crate::settings::Settings;
use crate::store::{
    AuditRecord, NewPass, NewRequest, RequestRecord, RequestUpdate, Store, VerifiedPerson, digest,
};
use crate::verity_api::{RequestKind, VerityApiError, VerityClient};
use crate::webhook::{LinkedDomain, TicketEvent, TicketKind, TicketOutcome, TicketPerson};

/// Everything a page can fail with; each says what the person can do about it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Verity(#[from] VerityApiError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The request is not this session's, or does not exist.
    #[error("no such request in this browser session")]
    NoSuchRequest,
    /// The caller may not do this (the reason is shown).
    #[error("{0}")]
    Denied(String),
    /// The form is wrong (field, reason).
    #[error("{field}: {reason}")]
    BadInput { field: &'static str, reason: String },
    /// The OpenID Connect sign-in failed (the check is named).
    #[error(transparent)]
    Oidc(#[from] OidcError),
}

/// The running helpdesk.
#[derive(Clone)]
pub struct Helpdesk {
    pub settings: Arc<Settings>,
    pub directory: Arc<dyn Directory>,
    pub verity: VerityClient,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Portal sign-in with OpenID Connect, when configured.
    pub oidc: Option<Arc<OidcClient>>,
}

impl std::fmt::Debug for Helpdesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helpdesk")
            .field("public_url", &self.settings.public_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Random bytes as URL-safe text (session ids, CSRF tokens, callback keys).
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn random_digits(n: u8) -> String {
    (0..n)
        .map(|_| char::from(b'0' + (OsRng.next_u32() % 10) as u8))
        .collect()
}

/// A temporary access pass as Entra ID shapes them: 16 characters from an alphabet without
/// look-alikes (about 90 bits).
fn new_access_pass() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!@#$%&*";
    (0..16)
        .map(|_| {
            // 64 symbols: the low six bits are uniform.
            char::from(ALPHABET[(OsRng.next_u32() & 63) as usize])
        })
        .collect()
}

/// The statuses a request has in the helpdesk.
pub mod status {
    pub const WAITING: &str = "waiting";
    pub const SCANNED: &str = "scanned";
    pub const ISSUED: &str = "issued";
    pub const ISSUE_FAILED: &str = "issue_failed";
    pub const VERIFIED: &str = "verified";
    /// Verity refused an answer; the request is still open.
    pub const REFUSED: &str = "refused";
    /// Verity verified it but the helpdesk cannot accept it (e.g. the employee has left).
    pub const REJECTED: &str = "rejected";
    pub const EXPIRED: &str = "expired";
}

impl Helpdesk {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn callback(&self, request_key: &str) -> Option<Value> {
        if !self.settings.callbacks {
            return None;
        }
        let url = format!(
            "{}/callbacks/verity",
            self.settings.public_url.as_str().trim_end_matches('/')
        );
        Some(json!({ "url": url, "state": "helpdesk", "headers": { "api-key": request_key } }))
    }

    fn manifest_url(&self) -> String {
        format!(
            "{}/v1.0/manifests/{}",
            self.verity.base().as_str().trim_end_matches('/'),
            self.settings.issuance.contract
        )
    }

    /// The portal's "Get my Verified Employee card": a card with the directory's claims and
    /// photo for the signed-in employee. Refused for a disabled employee.
    pub async fn start_issuance(&self, session_hash: &str, upn: &str) -> Result<String, AppError> {
        let employee = self
            .directory
            .find(&EmployeeKey::UserPrincipalName(upn.to_owned()))
            .await?;
        if !employee.profile.enabled {
            return Err(AppError::Denied(format!(
                "{upn} is disabled in the directory: no card is issued to a leaver"
            )));
        }
        let p = &employee.profile;
        let mut claims = json!({
            "displayName": p.display_name,
            "revocationId": p.user_principal_name,
        });
        for (name, value) in [
            ("givenName", &p.given_name),
            ("surname", &p.surname),
            ("jobTitle", &p.job_title),
            ("mail", &p.mail),
            ("preferredLanguage", &p.preferred_language),
        ] {
            if let Some(v) = value {
                claims[name] = json!(v);
            }
        }
        if let Some(photo) = self.directory.photo(&employee.id).await? {
            claims["photo"] = json!(URL_SAFE_NO_PAD.encode(photo));
        }
        let pin = (self.settings.issuance.pin_length > 0)
            .then(|| random_digits(self.settings.issuance.pin_length));
        let key = random_token(24);
        let mut body = json!({
            "authority": self.settings.issuance.authority,
            "includeQRCode": true,
            "registration": { "clientName": format!("{} employee portal", self.settings.company) },
            "type": self.settings.issuance.credential_type,
            "manifest": self.manifest_url(),
            "claims": claims,
        });
        if let Some(pin) = &pin {
            body["pin"] = json!({ "value": pin, "length": pin.len() });
        }
        if let Some(cb) = self.callback(&key) {
            body["callback"] = cb;
        }
        let created = self.verity.create_issuance_request(&body).await?;
        let now = self.now();
        self.store
            .insert_request(
                &NewRequest {
                    request_id: &created.request_id,
                    kind: RequestKind::Issuance.as_str(),
                    session_hash,
                    upn: Some(&p.user_principal_name),
                    url: &created.url,
                    qr_code: created.qr_code.as_deref(),
                    pin: pin.as_deref(),
                    callback_key_hash: &digest(&key),
                    expires_at: created.expiry,
                },
                Some(&AuditRecord {
                    request_id: Some(created.request_id.clone()),
                    ..portal_audit(now, upn, "card requested", "started")
                }),
                now,
            )
            .await?;
        Ok(created.request_id)
    }

    /// The helpdesk's "Get verified": a presentation request for the employee card with the
    /// configured issuers, linked-domain check, revocation check and face check.
    pub async fn start_verification(&self, session_hash: &str) -> Result<String, AppError> {
        let v = &self.settings.verification;
        let mut validation = json!({
            "allowRevoked": v.allow_revoked,
            "validateLinkedDomain": v.validate_linked_domain,
        });
        if v.face_check {
            validation["faceCheck"] = json!({
                "sourcePhotoClaimName": v.source_photo_claim,
                "matchConfidenceThreshold": v.match_confidence_threshold,
            });
        }
        let key = random_token(24);
        let mut body = json!({
            "authority": v.authority.clone().unwrap_or_else(|| self.settings.issuance.authority.clone()),
            "includeQRCode": true,
            "includeReceipt": false,
            "registration": {
                "clientName": format!("{} helpdesk", self.settings.company),
                "purpose": "Prove who you are to the helpdesk",
            },
            "requestedCredentials": [{
                "type": v.credential_type,
                "purpose": "The helpdesk checks that you are an employee",
                "acceptedIssuers": self.settings.accepted_issuers(),
                "configuration": { "validation": validation },
            }],
        });
        if let Some(cb) = self.callback(&key) {
            body["callback"] = cb;
        }
        let created = match self.verity.create_presentation_request(&body).await {
            Err(e) if e.inner_code() == Some("faceCheckNotConfigured") => {
                return Err(AppError::Denied(
                    "Verity has no face matcher configured, so it cannot take a verification with a face check; \
                     turn on a face matcher in Verity (docs/FACE_CHECK.md) or set verification.face_check = false"
                        .into(),
                ));
            }
            other => other?,
        };
        self.store
            .insert_request(
                &NewRequest {
                    request_id: &created.request_id,
                    kind: RequestKind::Presentation.as_str(),
                    session_hash,
                    upn: None,
                    url: &created.url,
                    qr_code: created.qr_code.as_deref(),
                    pin: None,
                    callback_key_hash: &digest(&key),
                    expires_at: created.expiry,
                },
                None,
                self.now(),
            )
            .await?;
        Ok(created.request_id)
    }

    /// This session's request.
    pub async fn owned_request(
        &self,
        session_hash: &str,
        request_id: &str,
    ) -> Result<RequestRecord, AppError> {
        match self.store.request(request_id).await? {
            Some(r) if r.session_hash == session_hash => Ok(r),
            _ => Err(AppError::NoSuchRequest),
        }
    }

    /// A callback from Verity: authenticated by the request's own key, it only makes the
    /// helpdesk ask Verity (the body is not trusted).
    pub async fn on_callback(&self, request_id: &str, api_key: &str) -> Result<bool, AppError> {
        let Some(r) = self.store.request(request_id).await? else {
            return Ok(false);
        };
        let given = digest(api_key);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            given.as_bytes(),
            r.callback_key_hash.as_bytes(),
        )) {
            return Ok(false);
        }
        self.refresh(request_id, Duration::zero()).await?;
        Ok(true)
    }

    /// Asks Verity what became of the request (at most once per `min_interval`) and records
    /// it. Returns the request as now known.
    pub async fn refresh(
        &self,
        request_id: &str,
        min_interval: Duration,
    ) -> Result<Option<RequestRecord>, AppError> {
        let Some(record) = self.store.request(request_id).await? else {
            return Ok(None);
        };
        if record.is_final {
            return Ok(Some(record));
        }
        let now = self.now();
        // An expired request is asked about once more: it may have been answered just before.
        let expired = now >= record.expires_at;
        if !expired && !self.store.claim_poll(request_id, now, min_interval).await? {
            return Ok(Some(record));
        }
        let kind = RequestKind::parse(&record.kind).unwrap_or(RequestKind::Presentation);
        match self.verity.request_state(kind, request_id).await {
            Ok(state) => {
                let (update, audit, ticket) = self.interpret(&record, kind, &state, now).await?;
                if let Some(update) = update {
                    self.store
                        .update_request(request_id, &update, audit.as_ref(), ticket.as_ref(), now)
                        .await?;
                }
            }
            // Verity forgets requests some time after they expire.
            Err(e) if expired && e.status() == Some(404) => {}
            Err(e) => return Err(e.into()),
        }
        if expired {
            let update = RequestUpdate {
                status: status::EXPIRED.into(),
                is_final: true,
                reason: Some("the request expired before it was answered; start again".into()),
                clear_pin: true,
                ..RequestUpdate::default()
            };
            self.store
                .update_request(request_id, &update, None, None, now)
                .await?;
        }
        Ok(self.store.request(request_id).await?)
    }

    async fn interpret(
        &self,
        record: &RequestRecord,
        kind: RequestKind,
        state: &Value,
        now: DateTime<Utc>,
    ) -> Result<
        (
            Option<RequestUpdate>,
            Option<AuditRecord>,
            Option<TicketEvent>,
        ),
        AppError,
    > {
        let status = state["requestStatus"].as_str().unwrap_or_default();
        let simple = |s: &str| RequestUpdate {
            status: s.into(),
            ..RequestUpdate::default()
        };
        let error_reason = || {
            let e = &state["error"];
            let message = e["message"].as_str().unwrap_or("no reason given");
            match e["innerCode"].as_str() {
                Some(code) if !message.contains(code) => format!("{message} ({code})"),
                _ => message.to_owned(),
            }
        };
        match (kind, status) {
            (_, "request_created") => Ok((None, None, None)),
            (_, "request_retrieved") if record.status == status::WAITING => {
                Ok((Some(simple(status::SCANNED)), None, None))
            }
            (RequestKind::Issuance, "issuance_successful") => {
                let upn = record.upn.clone();
                Ok((
                    Some(RequestUpdate {
                        status: status::ISSUED.into(),
                        is_final: true,
                        clear_pin: true,
                        ..RequestUpdate::default()
                    }),
                    Some(AuditRecord {
                        at: now,
                        actor: format!("portal:{}", upn.clone().unwrap_or_default()),
                        action: "card issued".into(),
                        subject: upn,
                        outcome: "issued".into(),
                        detail: None,
                        request_id: Some(record.request_id.clone()),
                    }),
                    None,
                ))
            }
            (RequestKind::Issuance, "issuance_error") => Ok((
                Some(RequestUpdate {
                    status: status::ISSUE_FAILED.into(),
                    reason: Some(error_reason()),
                    ..RequestUpdate::default()
                }),
                None,
                None,
            )),
            (RequestKind::Presentation, "presentation_error") => {
                let reason = error_reason();
                let fingerprint = digest(&state["error"].to_string());
                let ticket = self.ticket(
                    record,
                    TicketKind::Verification,
                    TicketOutcome::Refused,
                    Some(reason.clone()),
                    None,
                    None,
                    now,
                );
                Ok((
                    Some(RequestUpdate {
                        status: status::REFUSED.into(),
                        reason: Some(reason.clone()),
                        refusal: Some(fingerprint),
                        ..RequestUpdate::default()
                    }),
                    Some(AuditRecord {
                        at: now,
                        actor: "helpdesk".into(),
                        action: "verification".into(),
                        subject: None,
                        outcome: "refused".into(),
                        detail: Some(reason),
                        request_id: Some(record.request_id.clone()),
                    }),
                    Some(ticket),
                ))
            }
            (RequestKind::Presentation, "presentation_verified") => {
                let (update, person, reason) = match self.accept(state).await? {
                    Ok(person) => (
                        RequestUpdate {
                            status: status::VERIFIED.into(),
                            is_final: true,
                            result: Some(person.clone()),
                            verified_at: Some(now),
                            ..RequestUpdate::default()
                        },
                        Some(person),
                        None,
                    ),
                    Err(reason) => (
                        RequestUpdate {
                            status: status::REJECTED.into(),
                            is_final: true,
                            reason: Some(reason.clone()),
                            ..RequestUpdate::default()
                        },
                        None,
                        Some(reason),
                    ),
                };
                let outcome = if person.is_some() {
                    TicketOutcome::Verified
                } else {
                    TicketOutcome::Refused
                };
                let ticket = self.ticket(
                    record,
                    TicketKind::Verification,
                    outcome,
                    reason.clone(),
                    person.as_ref(),
                    None,
                    now,
                );
                let audit = AuditRecord {
                    at: now,
                    actor: "helpdesk".into(),
                    action: "verification".into(),
                    subject: person.as_ref().map(|p| p.user_principal_name.clone()),
                    outcome: if person.is_some() {
                        "verified"
                    } else {
                        "refused"
                    }
                    .into(),
                    detail: reason,
                    request_id: Some(record.request_id.clone()),
                };
                Ok((Some(update), Some(audit), Some(ticket)))
            }
            _ => Ok((None, None, None)),
        }
    }

    /// Decides who a verified presentation proved. Verity has checked the signatures,
    /// issuer, revocation, linked domain and face; the helpdesk checks again that the answer
    /// is what it asked for, and that the person is an enabled employee in its directory.
    ///
    /// The outer error is an outage (the directory could not be asked): nothing is decided and
    /// the next refresh asks again. The inner one is the verdict "not accepted", with why.
    async fn accept(&self, state: &Value) -> Result<Result<VerifiedPerson, String>, AppError> {
        let v = &self.settings.verification;
        let Some([card]) = state["verifiedCredentialsData"]
            .as_array()
            .map(Vec::as_slice)
        else {
            return Ok(Err("the answer does not hold exactly one card".into()));
        };
        let issuer = card["issuer"].as_str().unwrap_or_default().to_owned();
        if !self.settings.accepted_issuers().contains(&issuer) {
            return Ok(Err(format!("cards from {issuer} are not accepted here")));
        }
        let linked_domain = card["domainValidation"]["url"].as_str().map(str::to_owned);
        if v.validate_linked_domain && linked_domain.is_none() {
            return Ok(Err("the issuer's linked domain was not validated".into()));
        }
        let face_match_score = card["faceCheck"]["matchConfidenceScore"]
            .as_f64()
            .map(|s| s.clamp(0.0, 100.0).round() as u8);
        if v.face_check {
            match face_match_score {
                Some(s) if s >= v.match_confidence_threshold => {}
                Some(s) => {
                    return Ok(Err(format!(
                        "the face check scored {s}, below {}",
                        v.match_confidence_threshold
                    )));
                }
                None => return Ok(Err("the answer carries no face check".into())),
            }
        }
        let claims = &card["claims"];
        let claim = |n: &str| claims[n].as_str().map(str::to_owned);
        let keys = [
            claim("revocationId").map(EmployeeKey::UserPrincipalName),
            claim("mail").map(EmployeeKey::Mail),
        ];
        let mut found = None;
        for key in keys.into_iter().flatten() {
            match self.directory.find(&key).await {
                Ok(e) => {
                    found = Some(e);
                    break;
                }
                Err(DirectoryError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let Some(employee) = found else {
            return Ok(Err("the card's person is not in the directory".into()));
        };
        if !employee.profile.enabled {
            return Ok(Err(format!(
                "{} is disabled in the directory",
                employee.profile.user_principal_name
            )));
        }
        Ok(Ok(VerifiedPerson {
            display_name: claim("displayName").unwrap_or(employee.profile.display_name.clone()),
            user_principal_name: employee.profile.user_principal_name.clone(),
            mail: employee.profile.mail.clone(),
            job_title: claim("jobTitle").or(employee.profile.job_title.clone()),
            issuer,
            linked_domain,
            face_match_score,
            directory_id: employee.id.0.clone(),
        }))
    }

    #[allow(clippy::too_many_arguments)]
    fn ticket(
        &self,
        record: &RequestRecord,
        kind: TicketKind,
        outcome: TicketOutcome,
        reason: Option<String>,
        person: Option<&VerifiedPerson>,
        action: Option<String>,
        now: DateTime<Utc>,
    ) -> TicketEvent {
        let person = person.or(record.result.as_ref());
        TicketEvent {
            event_id: Uuid::new_v4(),
            kind,
            request_id: record.request_id.clone(),
            outcome,
            reason,
            person: person.map(|p| TicketPerson {
                display_name: p.display_name.clone(),
                user_principal_name: p.user_principal_name.clone(),
                mail: p.mail.clone(),
                job_title: p.job_title.clone(),
            }),
            issuer: person.map(|p| p.issuer.clone()),
            linked_domain: person.and_then(|p| {
                p.linked_domain.clone().map(|url| LinkedDomain {
                    url,
                    verified: self.settings.verification.validate_linked_domain,
                })
            }),
            face_match_score: person.and_then(|p| p.face_match_score),
            action,
            occurred_at: now,
            verified_at: record.verified_at,
        }
    }

    /// Performs `action` for the person verification `request_id` proved, if this session
    /// owns it and it is within the window. Every attempt is audited and ticketed.
    pub async fn perform(
        &self,
        session_hash: &str,
        request_id: &str,
        action: Action,
    ) -> Result<ActionOutcome, AppError> {
        let record = self.owned_request(session_hash, request_id).await?;
        let now = self.now();
        let name = action.name().to_owned();
        let action_name = name.clone();
        let window = Duration::minutes(self.settings.actions.window_minutes);
        let denial = match (&record.result, record.verified_at) {
            _ if record.kind != RequestKind::Presentation.as_str() => {
                Some("this is not a verification".to_owned())
            }
            (Some(_), Some(at)) if record.status == status::VERIFIED => {
                (now > at + window).then(|| {
                    format!(
                        "the verification is older than {} minutes; verify again",
                        self.settings.actions.window_minutes
                    )
                })
            }
            _ => Some("the caller has not been verified".to_owned()),
        };
        let audit = |outcome: &str, detail: Option<String>| AuditRecord {
            at: now,
            actor: "helpdesk".into(),
            action: name.clone(),
            subject: record
                .result
                .as_ref()
                .map(|p| p.user_principal_name.clone()),
            outcome: outcome.into(),
            detail,
            request_id: Some(record.request_id.clone()),
        };
        if let Some(reason) = denial {
            let ticket = self.ticket(
                &record,
                TicketKind::Action,
                TicketOutcome::Denied,
                Some(reason.clone()),
                None,
                Some(name.clone()),
                now,
            );
            self.store
                .record(&audit("denied", Some(reason.clone())), Some(&ticket))
                .await?;
            return Err(AppError::Denied(reason));
        }
        let Some(person) = record.result.clone() else {
            return Err(AppError::Denied("the caller has not been verified".into()));
        };
        // The directory decides now, not at verification time: a leaver is refused.
        let employee = self
            .directory
            .find(&EmployeeKey::UserPrincipalName(
                person.user_principal_name.clone(),
            ))
            .await?;
        let outcome = if !employee.profile.enabled {
            Err(AppError::Denied(format!(
                "{} is disabled in the directory",
                person.user_principal_name
            )))
        } else {
            match self.directory.perform(&employee.id, &action, now).await {
                Err(DirectoryError::Unsupported { .. })
                    if matches!(action, Action::TemporaryAccessPass { .. }) =>
                {
                    Ok(self.own_access_pass(now))
                }
                other => other.map_err(AppError::from),
            }
        };
        match outcome {
            Ok(done) => {
                let ticket = self.ticket(
                    &record,
                    TicketKind::Action,
                    TicketOutcome::Performed,
                    None,
                    None,
                    Some(name.clone()),
                    now,
                );
                let detail = describe(&done);
                match &done {
                    ActionOutcome::TemporaryAccessPass(tap)
                        if self.keeps_passes(&action, &employee) =>
                    {
                        self.store
                            .insert_pass(
                                &NewPass {
                                    upn: &person.user_principal_name,
                                    pass_hash: &digest(tap.pass.expose()),
                                    usable_once: tap.usable_once,
                                    expires_at: tap.expires_at,
                                },
                                &audit("performed", detail),
                                Some(&ticket),
                            )
                            .await?;
                    }
                    _ => {
                        self.store
                            .record(&audit("performed", detail), Some(&ticket))
                            .await?;
                    }
                }
                Ok(done)
            }
            Err(e) => {
                let reason = e.to_string();
                let (outcome, label) = match e {
                    AppError::Denied(_) => (TicketOutcome::Denied, "denied"),
                    _ => (TicketOutcome::Failed, "failed"),
                };
                let ticket = self.ticket(
                    &record,
                    TicketKind::Action,
                    outcome,
                    Some(reason.clone()),
                    None,
                    Some(action_name),
                    now,
                );
                self.store
                    .record(&audit(label, Some(reason)), Some(&ticket))
                    .await?;
                Err(e)
            }
        }
    }

    /// Whether the pass in an outcome was made by the helpdesk itself (so it keeps its hash).
    fn keeps_passes(&self, action: &Action, _employee: &crate::directory::Employee) -> bool {
        matches!(action, Action::TemporaryAccessPass { .. })
            && matches!(
                self.settings.directory,
                crate::config::DirectoryConfig::Ldap(_)
            )
    }

    fn own_access_pass(&self, now: DateTime<Utc>) -> ActionOutcome {
        let a = &self.settings.actions;
        ActionOutcome::TemporaryAccessPass(TemporaryAccessPass {
            pass: Secret::new(new_access_pass()),
            starts_at: now,
            expires_at: now + Duration::minutes(i64::from(a.access_pass_lifetime_minutes)),
            usable_once: a.access_pass_usable_once,
        })
    }

    /// The action the helpdesk's settings make of a form's choice.
    pub fn access_pass_action(&self) -> Action {
        Action::TemporaryAccessPass {
            lifetime_minutes: self.settings.actions.access_pass_lifetime_minutes,
            usable_once: self.settings.actions.access_pass_usable_once,
        }
    }

    /// Portal sign-in: the directory password, or a temporary access pass the helpdesk issued
    /// (then `via_pass` is true and the portal asks for a new password).
    pub async fn sign_in(
        &self,
        username: &str,
        password: &Secret,
    ) -> Result<(String, bool), AppError> {
        let username = username.trim();
        if username.is_empty() || password.expose().is_empty() {
            return Err(AppError::BadInput {
                field: "username",
                reason: "enter your user name and password".into(),
            });
        }
        let key = if username.contains('@') {
            EmployeeKey::UserPrincipalName(username.to_owned())
        } else {
            EmployeeKey::Uid(username.to_owned())
        };
        match self.directory.authenticate(&key, password).await {
            Ok(e) => return Ok((e.profile.user_principal_name, false)),
            Err(DirectoryError::SignInRefused { .. } | DirectoryError::Unsupported { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let refused = || AppError::Denied("the user name or password is wrong".into());
        let employee = match self.directory.find(&key).await {
            Ok(e) => e,
            Err(DirectoryError::NotFound { .. }) => return Err(refused()),
            Err(e) => return Err(e.into()),
        };
        let upn = employee.profile.user_principal_name;
        if employee.profile.enabled
            && self
                .store
                .use_pass(&upn, &digest(password.expose()), self.now())
                .await?
        {
            self.store
                .record(
                    &portal_audit(
                        self.now(),
                        &upn,
                        "sign-in with a temporary access pass",
                        "performed",
                    ),
                    None,
                )
                .await?;
            return Ok((upn, true));
        }
        Err(refused())
    }

    fn oidc_redirect_uri(&self) -> String {
        format!(
            "{}/portal/oidc/callback",
            self.settings.public_url.as_str().trim_end_matches('/')
        )
    }

    /// Starts an OpenID Connect sign-in for the session: the provider's URL to send the browser
    /// to. The pending login (state, nonce, PKCE verifier) stays on the server, with the session.
    pub async fn begin_oidc(&self, session_hash: &str) -> Result<url::Url, AppError> {
        let Some(client) = &self.oidc else {
            return Err(AppError::Denied(
                "sign-in with OpenID Connect is not configured".into(),
            ));
        };
        let (url, pending) = client.begin(&self.oidc_redirect_uri()).await?;
        let text = serde_json::to_string(&pending).map_err(|e| crate::store::StoreError {
            operation: "keeping a pending sign-in",
            reason: e.to_string(),
        })?;
        self.store
            .set_pending_login(session_hash, Some(&text))
            .await?;
        Ok(url)
    }

    /// Finishes it: the provider's answer (`query`) is checked against the session's pending
    /// login (used once, whatever the outcome), and the identity must be an enabled employee.
    /// Returns the user principal name.
    pub async fn finish_oidc(&self, session_hash: &str, query: &str) -> Result<String, AppError> {
        let Some(client) = &self.oidc else {
            return Err(AppError::Denied(
                "sign-in with OpenID Connect is not configured".into(),
            ));
        };
        let pending = self.store.take_pending_login(session_hash).await?;
        if let Some(e) = crate::oidc::callback_error(query) {
            return Err(e.into());
        }
        let Some(pending) = pending.and_then(|t| serde_json::from_str::<PendingLogin>(&t).ok())
        else {
            return Err(AppError::Denied(
                "no sign-in was started in this browser session (or it was already used); start again"
                    .into(),
            ));
        };
        let param = |name: &str| {
            url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let identity = client
            .finish(
                &pending,
                &self.oidc_redirect_uri(),
                &param("state"),
                &param("code"),
            )
            .await?;
        let employee = match self
            .directory
            .find(&EmployeeKey::UserPrincipalName(identity.upn.clone()))
            .await
        {
            Ok(e) => e,
            Err(DirectoryError::NotFound { .. }) => {
                return Err(AppError::Denied(format!(
                    "{} signed in, but is not an employee in the directory",
                    identity.upn
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if !employee.profile.enabled {
            return Err(AppError::Denied(format!(
                "{} is disabled in the directory",
                identity.upn
            )));
        }
        let audit = AuditRecord {
            detail: Some(format!("subject {}", identity.subject)),
            ..portal_audit(
                self.now(),
                &employee.profile.user_principal_name,
                "sign-in with OpenID Connect",
                "performed",
            )
        };
        self.store.record(&audit, None).await?;
        Ok(employee.profile.user_principal_name)
    }

    /// Sets the password an employee chose after signing in with an access pass, and audits it.
    pub async fn set_password_after_pass(
        &self,
        upn: &str,
        new_password: Secret,
    ) -> Result<(), AppError> {
        let employee = self
            .directory
            .find(&EmployeeKey::UserPrincipalName(upn.to_owned()))
            .await?;
        self.directory
            .perform(
                &employee.id,
                &Action::SetPassword { new_password },
                self.now(),
            )
            .await?;
        self.store
            .record(
                &portal_audit(self.now(), upn, "set a new password", "performed"),
                None,
            )
            .await?;
        Ok(())
    }

    /// `verity-helpdesk sync`: revokes the cards of every disabled employee. Returns
    /// (employees looked at, cards revoked).
    pub async fn revoke_leavers(&self) -> Result<(usize, usize), AppError> {
        let leavers = self.directory.disabled().await?;
        let mut revoked = 0;
        for e in &leavers {
            let upn = &e.profile.user_principal_name;
            let n = self
                .verity
                .revoke_by_claim(
                    &self.settings.issuance.contract,
                    upn,
                    "disabled in the directory (leaver)",
                )
                .await?;
            if n > 0 {
                revoked += n;
                self.store
                    .record(
                        &AuditRecord {
                            at: self.now(),
                            actor: "sync".into(),
                            action: "revoke cards of a leaver".into(),
                            subject: Some(upn.clone()),
                            outcome: "performed".into(),
                            detail: Some(format!("{n} card(s) revoked")),
                            request_id: None,
                        },
                        None,
                    )
                    .await?;
            }
        }
        Ok((leavers.len(), revoked))
    }
}

/// An audit record of something an employee did on the portal, about themselves.
fn portal_audit(at: DateTime<Utc>, upn: &str, action: &str, outcome: &str) -> AuditRecord {
    AuditRecord {
        at,
        actor: format!("portal:{upn}"),
        action: action.to_owned(),
        subject: Some(upn.to_owned()),
        outcome: outcome.to_owned(),
        detail: None,
        request_id: None,
    }
}

/// An outcome for the audit log: never the pass or password itself.
fn describe(outcome: &ActionOutcome) -> Option<String> {
    match outcome {
        ActionOutcome::TemporaryAccessPass(t) => Some(format!(
            "valid {} to {}, {}",
            t.starts_at.to_rfc3339(),
            t.expires_at.to_rfc3339(),
            if t.usable_once { "once" } else { "reusable" }
        )),
        ActionOutcome::PasswordReset { .. } => Some("new password generated".into()),
        ActionOutcome::PasswordSet => Some("password set by the employee".into()),
        ActionOutcome::MfaReregistrationRequired => Some("flagged for MFA re-registration".into()),
        ActionOutcome::ProfileUpdated { field, old, new } => Some(format!(
            "{}: {:?} -> {new:?}",
            field.name(),
            old.as_deref().unwrap_or("")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_passes_and_pins_have_their_shape() {
        let a = new_access_pass();
        assert_eq!(a.chars().count(), 16);
        assert_ne!(a, new_access_pass());
        let pin = random_digits(6);
        assert_eq!(pin.len(), 6);
        assert!(pin.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(random_token(24).len(), 32);
    }
}
