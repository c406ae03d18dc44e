//! Test doubles for the crate's seams (feature `test-util`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use serde_json::{Map, Value};
use verity_contracts::{AccessTokenAttestation, ContractError, IdTokenAttestation};

use crate::TokenValidator;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A scripted answer: the token's claims, or the reason it is rejected.
type Answer = Result<Map<String, Value>, String>;

/// Test double of [`TokenValidator`]: a token is valid for one provider configuration when it
/// was registered with [`TestTokenValidator::accept`] for it, and carries the registered
/// claims; a registered rejection fails with `BadSignature`; anything else is malformed.
/// Records every call (configuration, time).
#[derive(Debug, Default)]
pub struct TestTokenValidator {
    tokens: Mutex<HashMap<(String, String), Answer>>,
    calls: Mutex<Vec<(String, i64)>>,
}

impl TestTokenValidator {
    /// A validator that knows no token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` from the provider at `configuration` with `claims`.
    pub fn accept(&self, configuration: &str, token: &str, claims: Map<String, Value>) {
        lock(&self.tokens).insert((configuration.into(), token.into()), Ok(claims));
    }

    /// Rejects `token` from `configuration` as badly signed, with `reason`.
    pub fn reject(&self, configuration: &str, token: &str, reason: &str) {
        lock(&self.tokens).insert((configuration.into(), token.into()), Err(reason.into()));
    }

    /// The (configuration, now) of every validation asked for.
    pub fn calls(&self) -> Vec<(String, i64)> {
        lock(&self.calls).clone()
    }

    fn answer(
        &self,
        configuration: &str,
        token: &str,
        now: i64,
    ) -> Result<Map<String, Value>, ContractError> {
        lock(&self.calls).push((configuration.to_owned(), now));
        match lock(&self.tokens).get(&(configuration.to_owned(), token.to_owned())) {
            Some(Ok(claims)) => Ok(claims.clone()),
            Some(Err(reason)) => Err(ContractError::BadSignature {
                reason: reason.clone(),
            }),
            None => Err(ContractError::MalformedToken {
                reason: "not a token of this provider".into(),
            }),
        }
    }
}

#[async_trait]
impl TokenValidator for TestTokenValidator {
    async fn validate_id_token(
        &self,
        token: &str,
        attestation: &IdTokenAttestation,
        now: i64,
    ) -> Result<Map<String, Value>, ContractError> {
        self.answer(&attestation.configuration, token, now)
    }

    async fn validate_access_token(
        &self,
        token: &str,
        attestation: &AccessTokenAttestation,
        now: i64,
    ) -> Result<Map<String, Value>, ContractError> {
        self.answer(&attestation.configuration, token, now)
    }
}
