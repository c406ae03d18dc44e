//! A local multi-domain setup for domain linkage tests: three Verity deployments on loopback and
//! host overrides that stand in for DNS.
//!
//! - `issuer` serves `linked.test`, `moved.test` and `orphan.test`, with an authority on each.
//! - `successor` serves `moved.test` (an authority with a different key, as after a migration
//!   that was not finished) and `orphan.test` (no authority).
//! - `verifier` checks linkages. Its DID resolver sees `linked.test` and `orphan.test` at the
//!   issuer and `moved.test` at the successor; its fetcher (for `did-configuration.json`) sees
//!   `linked.test` and `moved.test` at the issuer and `orphan.test` at the successor.
//!
//! So `did:web:linked.test` is linked (document and configuration from the same deployment);
//! `did:web:moved.test`'s configuration is signed by a key its document does not list; and
//! `orphan.test` serves no configuration for `did:web:orphan.test`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use verity_core::SystemClock;
use verity_did::{CompositeResolver, DidResolver, FetchPolicy, HttpFetcher};

use crate::{Backend, TestApp, spawn_app_with, spawn_app_with_resolver};

/// Linked: its origin's configuration holds a credential signed by a key of its document.
pub const LINKED_DID: &str = "did:web:linked.test";
/// Not linked: the configuration's credential is signed by a key the document does not list.
pub const MOVED_DID: &str = "did:web:moved.test";
/// Not linked: the origin serves no configuration for it.
pub const ORPHAN_DID: &str = "did:web:orphan.test";

/// The three running deployments.
pub struct LinkageSetup {
    pub issuer: TestApp,
    pub successor: TestApp,
    pub verifier: TestApp,
}

async fn create_authority(app: &TestApp, name: &str, domain: &str) {
    let (status, body) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": name, "domain": domain })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Starts the three deployments of the module docs; `None` when the backend is unavailable.
pub async fn spawn_linkage_setup(backend: Backend) -> Option<LinkageSetup> {
    let issuer = spawn_app_with(backend, |c| {
        c.server.domains = vec![
            "linked.test".into(),
            "moved.test".into(),
            "orphan.test".into(),
        ];
    })
    .await?;
    create_authority(&issuer, "Linked", "linked.test").await;
    create_authority(&issuer, "Moved (old deployment)", "moved.test").await;
    create_authority(&issuer, "Orphan", "orphan.test").await;

    let successor = spawn_app_with(backend, |c| {
        c.server.domains = vec!["moved.test".into(), "orphan.test".into()];
    })
    .await?;
    create_authority(&successor, "Moved (new deployment)", "moved.test").await;

    let addr = |app: &TestApp| app.socket().parse().unwrap();
    let document_hosts: HashMap<String, std::net::SocketAddr> = HashMap::from([
        ("linked.test".to_owned(), addr(&issuer)),
        ("moved.test".to_owned(), addr(&successor)),
        ("orphan.test".to_owned(), addr(&issuer)),
    ]);
    let resolver: Arc<dyn DidResolver> = Arc::new(CompositeResolver::standard(
        HttpFetcher::new(FetchPolicy {
            allow_loopback: true,
            host_overrides: document_hosts,
            ..FetchPolicy::default()
        })
        .unwrap(),
        Arc::new(SystemClock),
        Duration::ZERO,
    ));
    let (issuer_addr, successor_addr) = (issuer.socket(), successor.socket());
    let verifier = spawn_app_with_resolver(
        backend,
        move |c| {
            c.resolver.allow_loopback = true;
            c.resolver.host_overrides = [
                ("linked.test".to_owned(), issuer_addr.clone()),
                ("moved.test".to_owned(), issuer_addr),
                ("orphan.test".to_owned(), successor_addr),
            ]
            .into_iter()
            .collect();
        },
        resolver,
    )
    .await?;
    Some(LinkageSetup {
        issuer,
        successor,
        verifier,
    })
}
