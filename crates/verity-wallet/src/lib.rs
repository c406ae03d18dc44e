//! Verity's reference holder wallet: holder keys in a local file, and the two wallet flows of
//! the compatibility profile, spoken over HTTP exactly as a phone wallet would.
//!
//! **Keys and storage** — [`Wallet::create`] makes `<dir>/wallet.json` with one holder key
//! (EdDSA, ES256 or ES256K) whose DID is `did:jwk` or `did:key` ([`DidMethod`]); more keys can be
//! added ([`Wallet::add_key`]). Keys are stored as base64url secret bytes plus their algorithm;
//! received credentials live in the same file. The file is **not encrypted**: it is written
//! atomically (temporary file + rename) with mode 0600 and must be guarded like an SSH key.
//!
//! **Issuance** (docs/PROTOCOL.md "Issuance"; [`Wallet::receive`], or step by step with
//! [`IssuanceSession`]):
//! 1. Read `request_uri` from the `openid-vc://?request_uri=...` URL ([`request_uri_from`]).
//! 2. GET the request object: header `typ` `oauth-authz-req+jwt` (RFC 9101); its `kid` must be
//!    a DID URL of `client_id`, listed under authentication (or assertionMethod) of that DID's
//!    document; `iss` == `client_id`; the signature, `exp` and `iat` (with a small skew) must
//!    check out. Every token the wallet is handed (request object, manifest, id_token_hint,
//!    credential) is also checked for its kind ([`verity_jose::TokenKind`]): the authority's
//!    one key signs them all, so one must never pass for another (WALLET-028).
//! 3. GET the manifest named at `input_descriptors[0].issuance[0].manifest`: `{ token }`, signed
//!    by the same authority; `input.credentialIssuer` is where the holder request goes.
//! 4. Sign the holder request with the holder key (`iss` `https://self-issued.me`, `sub` = JWK
//!    thumbprint of `sub_jwk`, `did`, `contract`, `state`, `nonce`, fresh `jti`, PIN as
//!    `base64(sha256(salt + pin))`, attestations including the `id_token_hint`) and POST it as
//!    `text/plain`.
//! 5. Verify the returned `vc` (issuer DID's assertionMethod key, `sub` == our DID), store it,
//!    and POST `{ code: "issuance_successful", state }` to `redirect_uri`.
//!
//! **Presentation** (protocol §2 "Presentation response"; [`Wallet::present`], or step by step
//! with [`PresentationSession`]): fetch and verify the request object as above, match stored
//! credentials to each input descriptor (type = descriptor id or schema uri, the acceptedIssuers
//! `pattern` and other field filters), sign a vp_token (`iss` = holder DID, `aud` = `client_id`,
//! `nonce`, `jti`, `nbf`, `iat`, `exp`, `vp.verifiableCredential`) and an id_token (`iss`
//! `https://self-issued.me/v2/openid-vc`, `sub` = holder DID, `_vp_token.presentation_submission`
//! mapping each descriptor to `$.verifiableCredential[i]`), and form-POST `id_token`, `vp_token`
//! and `state` to `redirect_uri`.
//!
//! **OpenID4VP 1.0** (`openid4vp://`; [`Wallet::present`], or step by step with
//! [`Openid4vpSession`]): the request object signed by the verifier's DID
//! (`decentralized_identifier:` Client Identifier) or an unsigned request by value
//! (`redirect_uri:`), a DCQL query evaluated against stored JWT-VCs and SD-JWT VCs, and a
//! `vp_token` keyed by Credential Query id (SD-JWT VCs with only the requested Disclosures and
//! a KB-JWT; JWT-VCs in a VP JWT) posted `direct_post` to the `response_uri`.
//!
//! The step-by-step sessions expose every payload before it is signed and take override keys,
//! kids and claims, so tests can build the malformed or hostile messages a server must refuse.
//!
//! **Resolution and network** — [`WalletConfig`] carries the fetch policy (https only, with
//! explicit plain-http hosts and loopback for development and tests) and the clock. DIDs are
//! resolved by verity-did's resolver (did:jwk and did:key locally, did:web over the hardened
//! fetcher); [`Wallet::with_resolver`] swaps it.

#![warn(missing_docs)]

mod config;
mod error;
mod http;
mod issuance;
mod openid4vci;
mod openid4vp;
mod presentation;
mod request;
mod wallet;

pub use config::{
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_SKEW_SECS, DEFAULT_TOKEN_LIFETIME_SECS, WalletConfig,
};
pub use error::{ServerError, WalletError};
pub use issuance::{
    DETAILS_CREDENTIAL_REJECTED, IssuanceSession, PinRequirement, ReceiveOptions,
    SELF_ISSUED_ISSUER, pin_hash,
};
pub use openid4vci::{
    Answer, CREDENTIAL_OFFER_SCHEME, OfferOptions, OfferSession, OfferSource, PRE_AUTHORIZED_GRANT,
    offer_from, well_known_url,
};
pub use openid4vp::{
    OPENID4VP_SCHEME, Openid4vpAnswer, Openid4vpOptions, Openid4vpRequest, Openid4vpSession,
    QueryMatch, is_openid4vp_url, key_binding, present_sd_jwt,
};
pub use presentation::{
    CREDENTIALS_V1_CONTEXT, DescriptorMatch, FieldConstraint, InputDescriptor, PresentationOptions,
    PresentationResponse, PresentationSession, Presented, SIOP_V2_ISSUER, json_path,
    schema_accepts,
};
pub use request::{REQUEST_OBJECT_MEDIA_TYPE, RequestObject, request_uri_from};
pub use wallet::{
    CredentialFormat, DidMethod, HolderInfo, StoredCredential, WALLET_FILE, Wallet, holder_did_for,
};

// Re-exported so callers can name key algorithms and swap resolvers without extra imports.
pub use verity_did::{DidResolver, FetchPolicy};
pub use verity_jose::{Algorithm, SigningKey};
pub use verity_sd_jwt::{ClaimPath, KeyBindingClaims};
