//! The service-desk webhook against a loopback receiver (127.0.0.1, port 0) that records each
//! request and answers from a script, and an in-memory outbox (`MemoryOutbox`, a test double
//! for the app's SQLite store). Time is a `ManualClock`; nothing asserts on elapsed time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use uuid::Uuid;
use verity_core::{Clock, ManualClock, Secret};
use verity_helpdesk::webhook::{
    DeliveryError, DeliveryRound, EVENT_ID_HEADER, LinkedDomain, OutboxError, QueuedTicket,
    SIGNATURE_HEADER, TicketEvent, TicketKind, TicketOutbox, TicketOutcome, TicketPerson,
    WebhookConfig, WebhookError, WebhookFormat, WebhookSender, deliver_due, http_client,
    signature_header, verify_signature,
};

const SECRET: &str = "whsec-0123456789abcdef-test";
const TOLERANCE: Duration = Duration::from_secs(300);

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The receiver
// ---------------------------------------------------------------------------------------------

/// One scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: String::new(),
    }
}

fn reply_with(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
    Reply {
        status,
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        body: body.to_string(),
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {name} header"))
    }
}

#[derive(Default)]
struct ReceiverState {
    script: VecDeque<Reply>,
    received: Vec<Received>,
}

struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    /// Answers with `script` in order, then 200 to everything.
    async fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ReceiverState {
            script: script.into(),
            received: Vec::new(),
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(req, &state).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/helpdesk?token=route-secret", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}

async fn answer(req: Request<Incoming>, state: &Mutex<ReceiverState>) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
    let mut state = state.lock().unwrap();
    state.received.push(Received {
        method,
        path,
        headers,
        body,
    });
    let next = state.script.pop_front().unwrap_or_else(|| reply(200));
    let mut response = Response::builder().status(StatusCode::from_u16(next.status).unwrap());
    for (k, v) in &next.headers {
        response = response.header(*k, v);
    }
    response.body(Full::new(Bytes::from(next.body))).unwrap()
}

// ---------------------------------------------------------------------------------------------
// MemoryOutbox: test double for the app's TicketOutbox (its SQLite store)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum EntryState {
    Pending,
    Delivered(DateTime<Utc>),
    GaveUp,
}

#[derive(Clone, Debug)]
struct Entry {
    id: Uuid,
    event: TicketEvent,
    attempts: u32,
    next_at: DateTime<Utc>,
    state: EntryState,
    last_error: Option<String>,
}

/// Test double: an in-memory `TicketOutbox`. Not for production use.
#[derive(Default)]
struct MemoryOutbox {
    entries: Mutex<Vec<Entry>>,
    fail_due: Mutex<bool>,
}

impl MemoryOutbox {
    fn with(events: Vec<TicketEvent>, now: DateTime<Utc>) -> Self {
        let outbox = Self::default();
        for event in events {
            outbox.entries.lock().unwrap().push(Entry {
                id: Uuid::now_v7(),
                event,
                attempts: 0,
                next_at: now,
                state: EntryState::Pending,
                last_error: None,
            });
        }
        outbox
    }

    fn only(&self) -> Entry {
        let entries = self.entries.lock().unwrap();
        assert_eq!(entries.len(), 1);
        entries[0].clone()
    }

    fn update(&self, id: Uuid, f: impl FnOnce(&mut Entry)) -> Result<(), OutboxError> {
        let mut entries = self.entries.lock().unwrap();
        let entry = entries
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or_else(|| OutboxError::from(format!("no outbox entry {id}")))?;
        f(entry);
        Ok(())
    }
}

#[async_trait]
impl TicketOutbox for MemoryOutbox {
    async fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedTicket>, OutboxError> {
        if *self.fail_due.lock().unwrap() {
            return Err("database is locked".into());
        }
        Ok(self
            .entries
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.state == EntryState::Pending && e.next_at <= now)
            .take(limit)
            .map(|e| QueuedTicket {
                id: e.id,
                event: e.event.clone(),
                attempts: e.attempts,
            })
            .collect())
    }

    async fn delivered(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), OutboxError> {
        self.update(id, |e| {
            e.attempts += 1;
            e.state = EntryState::Delivered(now);
        })
    }

    async fn retry_later(
        &self,
        id: Uuid,
        attempts: u32,
        next_at: DateTime<Utc>,
        last_error: &str,
    ) -> Result<(), OutboxError> {
        self.update(id, |e| {
            e.attempts = attempts;
            e.next_at = next_at;
            e.last_error = Some(last_error.to_string());
        })
    }

    async fn gave_up(&self, id: Uuid, attempts: u32, last_error: &str) -> Result<(), OutboxError> {
        self.update(id, |e| {
            e.attempts = attempts;
            e.state = EntryState::GaveUp;
            e.last_error = Some(last_error.to_string());
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn person() -> TicketPerson {
    TicketPerson {
        display_name: "Adele Vance".into(),
        user_principal_name: "adele.vance@contoso.example".into(),
        mail: Some("adele.vance@contoso.example".into()),
        job_title: Some("Retail Manager".into()),
    }
}

fn verification_event() -> TicketEvent {
    TicketEvent {
        event_id: Uuid::new_v4(),
        kind: TicketKind::Verification,
        request_id: "9f1c4f1e-6a0b-4c39-9d7e-2b0b1f0c1a11".into(),
        outcome: TicketOutcome::Verified,
        reason: None,
        person: Some(person()),
        issuer: Some("did:web:verity.contoso.example".into()),
        linked_domain: Some(LinkedDomain {
            url: "https://contoso.example/".into(),
            verified: true,
        }),
        face_match_score: Some(93),
        action: None,
        occurred_at: start(),
        verified_at: Some(start()),
    }
}

fn action_event() -> TicketEvent {
    TicketEvent {
        kind: TicketKind::Action,
        outcome: TicketOutcome::Performed,
        reason: Some("employee locked out of their laptop".into()),
        action: Some("issue a temporary access pass".into()),
        occurred_at: start() + TimeDelta::seconds(95),
        ..verification_event()
    }
}

fn config(url: &str) -> WebhookConfig {
    let mut c = WebhookConfig::new(url, Secret::new(SECRET));
    c.initial_backoff_ms = 1_000;
    c.max_backoff_ms = 300_000;
    c.timeout_ms = 5_000;
    c
}

fn sender(config: WebhookConfig) -> WebhookSender {
    let http = http_client(&config).unwrap();
    WebhookSender::new(config, http).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Delivery and signatures
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delivered_json_event_is_signed_and_verifiable() {
    let receiver = Receiver::start(vec![]).await;
    let sender = sender(config(&receiver.url()));
    let event = verification_event();
    let now = start();

    sender.deliver(&event, now).await.unwrap();

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/hooks/helpdesk");
    assert_eq!(req.header("content-type"), "application/json");
    assert_eq!(req.header(EVENT_ID_HEADER), event.event_id.to_string());
    let header = req.header(SIGNATURE_HEADER);
    assert!(
        header.starts_with(&format!("t={},v1=", now.timestamp())),
        "{header}"
    );

    // The receiver's check, with its own clock a little later.
    let receiver_now = now + TimeDelta::seconds(2);
    verify_signature(
        SECRET.as_bytes(),
        header,
        &req.body,
        receiver_now,
        TOLERANCE,
    )
    .unwrap();

    // The body is the event, camelCase, RFC 3339 timestamps.
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["eventId"], json!(event.event_id.to_string()));
    assert_eq!(body["kind"], "verification");
    assert_eq!(body["requestId"], "9f1c4f1e-6a0b-4c39-9d7e-2b0b1f0c1a11");
    assert_eq!(body["outcome"], "verified");
    assert_eq!(
        body["person"]["userPrincipalName"],
        "adele.vance@contoso.example"
    );
    assert_eq!(body["person"]["jobTitle"], "Retail Manager");
    assert_eq!(body["issuer"], "did:web:verity.contoso.example");
    assert_eq!(
        body["linkedDomain"],
        json!({"url": "https://contoso.example/", "verified": true})
    );
    assert_eq!(body["faceMatchScore"], 93);
    assert_eq!(body["occurredAt"], "2027-01-15T08:00:00Z");
    assert_eq!(body["verifiedAt"], "2027-01-15T08:00:00Z");
    assert_eq!(
        serde_json::from_slice::<TicketEvent>(&req.body).unwrap(),
        event
    );

    // Tampered body.
    let mut tampered = req.body.clone();
    let at = tampered.iter().position(|b| *b == b'9').unwrap();
    tampered[at] = b'1';
    assert!(matches!(
        verify_signature(
            SECRET.as_bytes(),
            header,
            &tampered,
            receiver_now,
            TOLERANCE
        ),
        Err(WebhookError::SignatureMismatch)
    ));

    // Wrong secret.
    assert!(matches!(
        verify_signature(
            b"another-secret-0123456789",
            header,
            &req.body,
            receiver_now,
            TOLERANCE
        ),
        Err(WebhookError::SignatureMismatch)
    ));

    // Stale: the same request replayed ten minutes later.
    let late = now + TimeDelta::minutes(10);
    let err = verify_signature(SECRET.as_bytes(), header, &req.body, late, TOLERANCE).unwrap_err();
    assert!(
        matches!(
            err,
            WebhookError::StaleSignature {
                age_seconds: 600,
                tolerance_seconds: 300,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("600 s"), "{err}");

    // Malformed headers.
    let v1 = header.split_once(",v1=").unwrap().1;
    for malformed in [
        String::new(),
        format!("v1={v1}"),
        format!("t={}", now.timestamp()),
        format!("t=yesterday,v1={v1}"),
        format!("t={},v1={}", now.timestamp(), &v1[..40]),
        format!("t={} v1={v1}", now.timestamp()),
        "sha256=deadbeef".to_string(),
    ] {
        let err = verify_signature(
            SECRET.as_bytes(),
            &malformed,
            &req.body,
            receiver_now,
            TOLERANCE,
        )
        .unwrap_err();
        assert!(
            matches!(err, WebhookError::MalformedSignature { .. }),
            "{malformed:?}: {err:?}"
        );
        assert!(
            err.to_string().contains("malformed X-Verity-Signature"),
            "{err}"
        );
    }

    // No refusal names the secret.
    for err in [
        verify_signature(
            SECRET.as_bytes(),
            header,
            &tampered,
            receiver_now,
            TOLERANCE,
        ),
        verify_signature(SECRET.as_bytes(), header, &req.body, late, TOLERANCE),
        verify_signature(SECRET.as_bytes(), "t=1", &req.body, receiver_now, TOLERANCE),
    ] {
        assert!(!err.unwrap_err().to_string().contains(SECRET));
    }
}

#[tokio::test]
async fn signature_header_matches_what_deliver_sends() {
    let receiver = Receiver::start(vec![]).await;
    let sender = sender(config(&receiver.url()));
    let event = action_event();
    sender.deliver(&event, start()).await.unwrap();
    let req = &receiver.received()[0];
    let expected = signature_header(SECRET.as_bytes(), start().timestamp(), &req.body).unwrap();
    assert_eq!(req.header(SIGNATURE_HEADER), expected);
}

#[test]
fn an_action_event_carries_no_photo_and_no_pass() {
    const PASS: &str = "TAP-7hX9-q2Lm";
    const PHOTO_B64: &str = "/9j/4AAQSkZJRgABAQAAAQABAAD";

    let event = action_event();
    let value = serde_json::to_value(&event).unwrap();

    let keys: BTreeSet<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let allowed: BTreeSet<&str> = [
        "eventId",
        "kind",
        "requestId",
        "outcome",
        "reason",
        "person",
        "issuer",
        "linkedDomain",
        "faceMatchScore",
        "action",
        "occurredAt",
        "verifiedAt",
    ]
    .into();
    assert_eq!(keys, allowed);
    let person_keys: BTreeSet<&str> = value["person"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        person_keys,
        ["displayName", "userPrincipalName", "mail", "jobTitle"].into()
    );
    assert_eq!(value["action"], "issue a temporary access pass");
    assert_eq!(value["outcome"], "performed");

    // No member anywhere is named like a photo or a credential.
    fn names(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    out.push(k.to_ascii_lowercase());
                    names(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| names(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    names(&value, &mut all);
    for name in &all {
        for banned in [
            "photo", "selfie", "image", "pass", "password", "secret", "tap",
        ] {
            assert!(
                !name.contains(banned),
                "member {name:?} looks like {banned}"
            );
        }
    }

    // A stored document that somehow gained a photo and the pass loses them on the way in.
    let mut smuggled = value.clone();
    smuggled["photo"] = json!(PHOTO_B64);
    smuggled["temporaryAccessPass"] = json!({ "pass": PASS });
    smuggled["person"]["photo"] = json!(PHOTO_B64);
    let reread: TicketEvent = serde_json::from_value(smuggled).unwrap();
    let resent = serde_json::to_string(&reread).unwrap();
    assert!(!resent.contains(PASS));
    assert!(!resent.contains(PHOTO_B64));
    assert_eq!(reread, event);

    // Same for the Teams rendering.
    let teams = String::from_utf8(WebhookFormat::Teams.render(&reread).unwrap()).unwrap();
    assert!(!teams.contains(PASS) && !teams.contains(PHOTO_B64));
}

#[tokio::test]
async fn teams_format_posts_an_adaptive_card_with_the_facts() {
    let receiver = Receiver::start(vec![]).await;
    let mut cfg = config(&receiver.url());
    cfg.format = WebhookFormat::Teams;
    let sender = sender(cfg);
    let event = action_event();
    sender.deliver(&event, start()).await.unwrap();

    let req = &receiver.received()[0];
    assert_eq!(req.header("content-type"), "application/json");
    // Still signed (Teams ignores it; a proxy in front of Teams may check it).
    verify_signature(
        SECRET.as_bytes(),
        req.header(SIGNATURE_HEADER),
        &req.body,
        start(),
        TOLERANCE,
    )
    .unwrap();

    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let blocks = card["body"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "TextBlock");
    let title = blocks[0]["text"].as_str().unwrap();
    assert!(title.contains("issue a temporary access pass"), "{title}");
    assert!(
        title.contains("performed") && title.contains("Adele Vance"),
        "{title}"
    );

    let fact_set = blocks.iter().find(|b| b["type"] == "FactSet").unwrap();
    let facts: HashMap<&str, &str> = fact_set["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["title"].as_str().unwrap(), f["value"].as_str().unwrap()))
        .collect();
    assert_eq!(facts["Event"], "action");
    assert_eq!(facts["Outcome"], "performed");
    assert_eq!(facts["Action"], "issue a temporary access pass");
    assert_eq!(facts["Reason"], "employee locked out of their laptop");
    assert_eq!(facts["Person"], "Adele Vance");
    assert_eq!(facts["User principal name"], "adele.vance@contoso.example");
    assert_eq!(facts["Job title"], "Retail Manager");
    assert_eq!(facts["Face match"], "93/100");
    assert_eq!(facts["Issuer"], "did:web:verity.contoso.example");
    assert_eq!(
        facts["Linked domain"],
        "https://contoso.example/ (verified)"
    );
    assert_eq!(facts["Occurred at"], "2027-01-15T08:01:35Z");
    assert_eq!(facts["Verified at"], "2027-01-15T08:00:00Z");
    assert_eq!(facts["Request"], event.request_id);
    assert_eq!(facts["Event id"], event.event_id.to_string());
}

// ---------------------------------------------------------------------------------------------
// Retries through the outbox
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unavailable_then_ok_is_retried_then_delivered() {
    let receiver = Receiver::start(vec![reply_with(503, &[], "upstream down")]).await;
    let sender = sender(config(&receiver.url()));
    let clock = ManualClock::new(start());
    let event = verification_event();
    let outbox = MemoryOutbox::with(vec![event.clone()], clock.now());

    let round = deliver_due(&outbox, &sender, clock.now()).await;
    assert_eq!(
        round,
        DeliveryRound {
            retried: 1,
            ..Default::default()
        }
    );
    let entry = outbox.only();
    assert_eq!(entry.state, EntryState::Pending);
    assert_eq!(entry.attempts, 1);
    let wait = entry.next_at - clock.now();
    assert!(
        wait >= TimeDelta::milliseconds(500) && wait <= TimeDelta::milliseconds(1_000),
        "{wait}"
    );
    let last_error = entry.last_error.unwrap();
    assert!(
        last_error.contains("HTTP 503") && last_error.contains("upstream down"),
        "{last_error}"
    );
    assert!(!last_error.contains("route-secret") && !last_error.contains(SECRET));

    // Not yet due: nothing is sent.
    let round = deliver_due(&outbox, &sender, clock.now()).await;
    assert_eq!(round, DeliveryRound::default());
    assert_eq!(receiver.received().len(), 1);

    clock.set(entry.next_at);
    let round = deliver_due(&outbox, &sender, clock.now()).await;
    assert_eq!(
        round,
        DeliveryRound {
            delivered: 1,
            ..Default::default()
        }
    );
    let entry = outbox.only();
    assert_eq!(entry.state, EntryState::Delivered(clock.now()));
    assert_eq!(entry.attempts, 2);

    // Both attempts carried the same event id, each signed with its own time.
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    for (req, t) in got.iter().zip([start(), clock.now()]) {
        assert_eq!(req.header(EVENT_ID_HEADER), event.event_id.to_string());
        verify_signature(
            SECRET.as_bytes(),
            req.header(SIGNATURE_HEADER),
            &req.body,
            t,
            TOLERANCE,
        )
        .unwrap();
    }
    assert_eq!(got[0].body, got[1].body);

    // Delivered tickets are not due any more.
    clock.advance(TimeDelta::hours(1));
    assert_eq!(
        deliver_due(&outbox, &sender, clock.now()).await,
        DeliveryRound::default()
    );
}

#[tokio::test]
async fn bad_request_gives_up_at_once_with_the_status() {
    let long_body = format!(
        "{{\"error\":\"unknown queue\",\"detail\":\"{}\"}}",
        "x".repeat(500)
    );
    let receiver = Receiver::start(vec![
        reply_with(400, &[("content-type", "application/json")], &long_body),
        reply_with(400, &[], "bad\nrequest"),
    ])
    .await;
    let sender = sender(config(&receiver.url()));

    let outbox = MemoryOutbox::with(vec![verification_event()], start());
    let round = deliver_due(&outbox, &sender, start()).await;
    assert_eq!(
        round,
        DeliveryRound {
            gave_up: 1,
            ..Default::default()
        }
    );
    let entry = outbox.only();
    assert_eq!(entry.state, EntryState::GaveUp);
    assert_eq!(entry.attempts, 1);
    let last_error = entry.last_error.unwrap();
    assert!(last_error.contains("HTTP 400"), "{last_error}");
    assert!(last_error.contains("unknown queue"), "{last_error}");
    assert!(
        last_error.len() < 400,
        "the body excerpt is bounded: {last_error}"
    );

    // The same through deliver: a permanent error with the status and a bounded excerpt.
    let err = sender
        .deliver(&verification_event(), start())
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(400));
    match &err {
        DeliveryError::Refused { status, body, .. } => {
            assert_eq!(*status, 400);
            assert_eq!(body, "bad request");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let receiver = Receiver::start(vec![reply_with(
        429,
        &[("retry-after", "120")],
        "slow down",
    )])
    .await;
    let sender = sender(config(&receiver.url()));
    let outbox = MemoryOutbox::with(vec![verification_event()], start());

    let round = deliver_due(&outbox, &sender, start()).await;
    assert_eq!(round.retried, 1);
    let entry = outbox.only();
    assert_eq!(entry.attempts, 1);
    assert_eq!(entry.next_at, start() + TimeDelta::seconds(120));
    assert!(entry.last_error.unwrap().contains("Retry-After 120 s"));

    // Just before: not due; at the time: delivered.
    assert_eq!(
        deliver_due(&outbox, &sender, start() + TimeDelta::seconds(119)).await,
        DeliveryRound::default()
    );
    let round = deliver_due(&outbox, &sender, start() + TimeDelta::seconds(120)).await;
    assert_eq!(round.delivered, 1);
}

#[tokio::test]
async fn retry_after_as_a_date_and_beyond_the_cap() {
    let now = start();
    let date = (now + TimeDelta::seconds(90))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let receiver = Receiver::start(vec![
        reply_with(503, &[("retry-after", &date)], ""),
        reply_with(429, &[("retry-after", "86400")], ""),
    ])
    .await;
    let sender = sender(config(&receiver.url()));

    let err = sender
        .deliver(&verification_event(), now)
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(90)));
    assert_eq!(sender.retry_delay(&err, 1), Duration::from_secs(90));

    // A day-long Retry-After is cut to max_backoff_ms (300 s here).
    let err = sender
        .deliver(&verification_event(), now)
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(86_400)));
    assert_eq!(sender.retry_delay(&err, 1), Duration::from_secs(300));
}

#[tokio::test]
async fn max_attempts_reached_gives_up() {
    let receiver = Receiver::start(vec![reply(500), reply(502), reply(504), reply(500)]).await;
    let mut cfg = config(&receiver.url());
    cfg.max_attempts = 3;
    let sender = sender(cfg);
    let clock = ManualClock::new(start());
    let outbox = MemoryOutbox::with(vec![action_event()], clock.now());

    let mut rounds = Vec::new();
    for _ in 0..3 {
        rounds.push(deliver_due(&outbox, &sender, clock.now()).await);
        clock.set(outbox.only().next_at);
    }
    assert_eq!(
        rounds
            .iter()
            .map(|r| (r.retried, r.gave_up))
            .collect::<Vec<_>>(),
        vec![(1, 0), (1, 0), (0, 1)]
    );
    let entry = outbox.only();
    assert_eq!(entry.state, EntryState::GaveUp);
    assert_eq!(entry.attempts, 3);
    assert!(entry.last_error.unwrap().contains("HTTP 504"));

    // Given up: never sent again.
    clock.advance(TimeDelta::days(1));
    assert_eq!(
        deliver_due(&outbox, &sender, clock.now()).await,
        DeliveryRound::default()
    );
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn several_tickets_each_get_their_own_outcome() {
    let receiver = Receiver::start(vec![reply(200), reply(503), reply(404)]).await;
    let sender = sender(config(&receiver.url()));
    let events = vec![verification_event(), action_event(), verification_event()];
    let outbox = MemoryOutbox::with(events, start());
    let round = deliver_due(&outbox, &sender, start()).await;
    assert_eq!(
        round,
        DeliveryRound {
            delivered: 1,
            retried: 1,
            gave_up: 1,
            outbox_errors: 0
        }
    );
}

#[tokio::test]
async fn an_outbox_failure_is_counted_not_fatal() {
    let receiver = Receiver::start(vec![]).await;
    let sender = sender(config(&receiver.url()));
    let outbox = MemoryOutbox::with(vec![verification_event()], start());
    *outbox.fail_due.lock().unwrap() = true;
    let round = deliver_due(&outbox, &sender, start()).await;
    assert_eq!(
        round,
        DeliveryRound {
            outbox_errors: 1,
            ..Default::default()
        }
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn unreachable_and_timeout_are_retryable() {
    // A port nobody listens on.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let sender_closed = sender(config(&format!("http://{closed}/hook/path-token")));
    let err = sender_closed
        .deliver(&verification_event(), start())
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Unreachable { .. }), "{err:?}");
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(text.contains(&closed.to_string()), "{text}");
    assert!(!text.contains("path-token"), "{text}");

    // A receiver that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let mut cfg = config(&format!("http://{silent_addr}/hook"));
    cfg.timeout_ms = 200;
    let err = sender(cfg)
        .deliver(&verification_event(), start())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DeliveryError::Timeout {
                timeout_ms: 200,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    hold.abort();
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let receiver = Receiver::start(vec![reply_with(
        302,
        &[("location", "http://127.0.0.1:9/elsewhere")],
        "",
    )])
    .await;
    let sender = sender(config(&receiver.url()));
    let err = sender
        .deliver(&verification_event(), start())
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(302));
    assert!(
        err.to_string().contains("redirects are not followed"),
        "{err}"
    );
    assert_eq!(receiver.received().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Backoff and configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn backoff_grows_and_is_capped() {
    let mut cfg = config("https://desk.example.com/hook");
    cfg.initial_backoff_ms = 1_000;
    cfg.max_backoff_ms = 60_000;
    let sender = sender(cfg);
    for _ in 0..50 {
        let mut previous = Duration::ZERO;
        for attempts in 1..=12u32 {
            let ceiling = (1_000u64 << (attempts - 1)).min(60_000);
            let d = sender.backoff(attempts);
            assert!(
                d >= Duration::from_millis(ceiling / 2) && d <= Duration::from_millis(ceiling),
                "attempt {attempts}: {d:?}"
            );
            if (1_000u64 << (attempts - 1)) <= 60_000 {
                // Below the cap a delay is never shorter than the one before (equal jitter).
                assert!(d >= previous, "attempt {attempts}: {d:?} < {previous:?}");
            }
            previous = d;
        }
        for attempts in [20, 64, 65, 1_000, u32::MAX] {
            let d = sender.backoff(attempts);
            assert!(
                d <= Duration::from_secs(60) && d >= Duration::from_secs(30),
                "{d:?}"
            );
        }
    }
    // Jitter: a capped delay is not always the same.
    let samples: BTreeSet<Duration> = (0..32).map(|_| sender.backoff(30)).collect();
    assert!(samples.len() > 1);
}

fn config_error(toml_text: &str) -> (String, String) {
    let cfg: WebhookConfig = toml::from_str(toml_text).unwrap();
    match cfg.validate().unwrap_err() {
        WebhookError::Config { field, reason } => (field.to_string(), reason),
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_defaults_and_validation_errors_name_the_field() {
    let cfg: WebhookConfig = toml::from_str(
        r#"
        url = "https://desk.example.com/hooks/verity"
        secret = "0123456789abcdef"
        "#,
    )
    .unwrap();
    assert_eq!(cfg.format, WebhookFormat::Json);
    assert_eq!(cfg.max_attempts, 8);
    assert_eq!(cfg.initial_backoff_ms, 1_000);
    assert_eq!(cfg.max_backoff_ms, 300_000);
    assert_eq!(cfg.timeout_ms, 5_000);
    assert_eq!(cfg.validate().unwrap().host_str(), Some("desk.example.com"));
    assert!(!format!("{cfg:?}").contains("0123456789abcdef"));

    let teams: WebhookConfig = toml::from_str(
        r#"
        url = "https://contoso.webhook.office.com/webhookb2/x"
        secret = "0123456789abcdef"
        format = "teams"
        "#,
    )
    .unwrap();
    assert_eq!(teams.format, WebhookFormat::Teams);

    let unknown = toml::from_str::<WebhookConfig>(
        r#"
        url = "https://desk.example.com/"
        secret = "0123456789abcdef"
        retries = 3
        "#,
    )
    .unwrap_err();
    assert!(unknown.to_string().contains("retries"), "{unknown}");

    let bad_format = toml::from_str::<WebhookConfig>(
        r#"
        url = "https://desk.example.com/"
        secret = "0123456789abcdef"
        format = "slack"
        "#,
    );
    assert!(bad_format.is_err());

    let short = "short-secret-15b";
    let (field, reason) = config_error(&format!(
        "url = \"https://desk.example.com/\"\nsecret = \"{}\"",
        &short[..15]
    ));
    assert_eq!(field, "webhook.secret");
    assert!(
        reason.contains("16 bytes") && !reason.contains(&short[..15]),
        "{reason}"
    );

    for (toml_text, expected_field, expected) in [
        (
            "url = \"http://desk.example.com/\"\nsecret = \"0123456789abcdef\"",
            "webhook.url",
            "https",
        ),
        (
            "url = \"ftp://desk.example.com/\"\nsecret = \"0123456789abcdef\"",
            "webhook.url",
            "not https",
        ),
        (
            "url = \"desk.example.com/hook\"\nsecret = \"0123456789abcdef\"",
            "webhook.url",
            "not a URL",
        ),
        (
            "url = \"https://desk.example.com/\"\nsecret = \"0123456789abcdef\"\nmax_attempts = 0",
            "webhook.max_attempts",
            "at least 1",
        ),
        (
            "url = \"https://desk.example.com/\"\nsecret = \"0123456789abcdef\"\ninitial_backoff_ms = 0",
            "webhook.initial_backoff_ms",
            "at least 1",
        ),
        (
            "url = \"https://desk.example.com/\"\nsecret = \"0123456789abcdef\"\ninitial_backoff_ms = 5000\nmax_backoff_ms = 1000",
            "webhook.max_backoff_ms",
            "less than initial_backoff_ms",
        ),
        (
            "url = \"https://desk.example.com/\"\nsecret = \"0123456789abcdef\"\ntimeout_ms = 0",
            "webhook.timeout_ms",
            "at least 1",
        ),
    ] {
        let (field, reason) = config_error(toml_text);
        assert_eq!(field, expected_field, "{toml_text}");
        assert!(reason.contains(expected), "{toml_text}: {reason}");
    }

    // Plain HTTP is fine on loopback.
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]:9000/hook",
    ] {
        let cfg = WebhookConfig::new(url, Secret::new("0123456789abcdef"));
        assert!(cfg.validate().is_ok(), "{url}");
    }

    // WebhookSender::new validates too.
    let cfg = WebhookConfig::new("http://desk.example.com/", Secret::new("0123456789abcdef"));
    let http = http_client(&cfg).unwrap();
    assert!(matches!(
        WebhookSender::new(cfg, http),
        Err(WebhookError::Config {
            field: "webhook.url",
            ..
        })
    ));
}
