//! Key-encryption keys: private signing keys are stored sealed with XChaCha20-Poly1305.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::JoseError;

/// Format version of [`KeyEncryptionKey::seal`] output.
const SEALED_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A 32-byte XChaCha20-Poly1305 key that seals private keys at rest.
///
/// Sealed format: `0x01 || 24-byte random nonce || ciphertext || 16-byte tag`. The caller's
/// `aad` (e.g. the key's kid) binds a sealed blob to its row, so blobs cannot be swapped.
pub struct KeyEncryptionKey {
    key: Zeroizing<[u8; 32]>,
    /// During a KEK rotation: the other KEK, which opens blobs it sealed (never seals).
    other: Option<Box<KeyEncryptionKey>>,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id())
            .field("other_id", &self.other_id())
            .field("key", &"[redacted]")
            .finish()
    }
}

impl KeyEncryptionKey {
    /// A fresh random KEK and its unpadded base64url form for configuration.
    pub fn generate() -> (KeyEncryptionKey, String) {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut_slice());
        let encoded = URL_SAFE_NO_PAD.encode(key.as_slice());
        (KeyEncryptionKey { key, other: None }, encoded)
    }

    /// Loads a KEK from standard or URL-safe base64 (padding optional, surrounding whitespace
    /// ignored); it must decode to exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<KeyEncryptionKey, JoseError> {
        let normalized: Zeroizing<String> = Zeroizing::new(
            s.trim()
                .trim_end_matches('=')
                .chars()
                .map(|c| match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                })
                .collect(),
        );
        let bytes =
            Zeroizing::new(URL_SAFE_NO_PAD.decode(normalized.as_bytes()).map_err(|_| {
                JoseError::KekInvalid {
                    reason: "not valid base64".into(),
                }
            })?);
        let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| JoseError::KekInvalid {
            reason: format!("must decode to 32 bytes, got {}", bytes.len()),
        })?;
        Ok(KeyEncryptionKey {
            key: Zeroizing::new(key),
            other: None,
        })
    }

    /// A short, non-secret fingerprint: hex of the first 8 bytes of
    /// SHA-256("verity kek id" || key). Tells KEKs apart during rotation.
    pub fn id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"verity kek id")
            .chain_update(self.key.as_slice())
            .finalize();
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// A KEK from its 32 raw bytes (e.g. a key derived for one purpose).
    pub fn from_bytes(bytes: [u8; 32]) -> KeyEncryptionKey {
        KeyEncryptionKey {
            key: Zeroizing::new(bytes),
            other: None,
        }
    }

    /// This KEK, also able to open what `other` sealed (a KEK rotation: the old KEK while
    /// keys are re-sealed under this one, or the new one while replicas still seal under
    /// this). It never seals with `other`; `other`'s own other KEK is dropped.
    pub fn with_other(self, mut other: KeyEncryptionKey) -> KeyEncryptionKey {
        other.other = None;
        KeyEncryptionKey {
            key: self.key,
            other: Some(Box::new(other)),
        }
    }

    /// The id of the other KEK, when one is set ([`KeyEncryptionKey::with_other`]).
    pub fn other_id(&self) -> Option<String> {
        self.other.as_ref().map(|o| o.id())
    }

    /// Opens a blob that the KEK with id `kek_id` sealed: this KEK or its other one. Any other
    /// id, or a blob that does not open, is [`JoseError::KeyDecryption`].
    pub fn open_sealed_by(
        &self,
        kek_id: &str,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, JoseError> {
        if kek_id == self.id() {
            return self.open(aad, sealed);
        }
        match &self.other {
            Some(other) if kek_id == other.id() => other.open(aad, sealed),
            _ => Err(JoseError::KeyDecryption),
        }
    }

    /// The root of derived secrets that an installation made before roots were stored used:
    /// this KEK's own bytes (see [`SubkeyRoot`]). Only for that migration.
    pub fn legacy_subkey_root(&self) -> SubkeyRoot {
        SubkeyRoot {
            key: self.key.clone(),
        }
    }

    /// A 32-byte subkey for another purpose (e.g. the credential-hash pepper), derived as
    /// SHA-256("verity kek subkey" || len(label) || label || key) so each label gets an
    /// independent key and the KEK itself never leaves this type.
    pub fn derive_subkey(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        derive(&self.key, label)
    }

    /// Encrypts `plaintext` bound to `aad`: version byte || nonce || ciphertext+tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, JoseError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| JoseError::KeyEncryption)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(SEALED_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Decrypts a [`KeyEncryptionKey::seal`] blob; any mismatch is [`JoseError::KeyDecryption`].
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, JoseError> {
        let Some((&SEALED_V1, rest)) = sealed.split_first() else {
            return Err(JoseError::KeyDecryption);
        };
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(JoseError::KeyDecryption);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| JoseError::KeyDecryption)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.as_slice().into())
    }
}

/// The root of the service's derived secrets (the pepper of stored client secrets and API keys,
/// the keys of OpenID4VCI codes, nonces and access tokens). Stored sealed under the KEK, so the
/// KEK can be rotated without changing anything derived from the root.
pub struct SubkeyRoot {
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for SubkeyRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubkeyRoot([redacted])")
    }
}

impl SubkeyRoot {
    /// A fresh random root.
    pub fn generate() -> SubkeyRoot {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut_slice());
        SubkeyRoot { key }
    }

    /// A 32-byte subkey for `label`: SHA-256("verity kek subkey" || len(label) || label ||
    /// root), the same derivation [`KeyEncryptionKey::derive_subkey`] makes from a KEK.
    pub fn derive_subkey(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        derive(&self.key, label)
    }

    /// The root sealed under `kek` (bound to `aad`).
    pub fn seal(&self, kek: &KeyEncryptionKey, aad: &[u8]) -> Result<Vec<u8>, JoseError> {
        kek.seal(aad, self.key.as_slice())
    }

    /// Opens a root that the KEK `kek_id` (`kek` or its other KEK) sealed.
    pub fn open(
        kek: &KeyEncryptionKey,
        kek_id: &str,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<SubkeyRoot, JoseError> {
        let bytes = kek.open_sealed_by(kek_id, aad, sealed)?;
        let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| JoseError::KeyDecryption)?;
        Ok(SubkeyRoot {
            key: Zeroizing::new(key),
        })
    }
}

fn derive(key: &[u8; 32], label: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(b"verity kek subkey");
    h.update((label.len() as u64).to_be_bytes());
    h.update(label);
    h.update(key);
    Zeroizing::new(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a private key that must never be readable at rest";

    #[test]
    fn a_kek_with_another_opens_what_either_sealed_and_seals_with_its_own() {
        let (old, _) = KeyEncryptionKey::generate();
        let (new, new_b64) = KeyEncryptionKey::generate();
        let by_old = old.seal(b"k", SECRET).unwrap();
        let old_id = old.id();
        let both = KeyEncryptionKey::from_base64(&new_b64)
            .unwrap()
            .with_other(old);
        assert_eq!(both.id(), new.id());
        assert_eq!(both.other_id(), Some(old_id.clone()));
        assert_eq!(
            both.open_sealed_by(&old_id, b"k", &by_old)
                .unwrap()
                .as_slice(),
            SECRET
        );
        let by_both = both.seal(b"k", SECRET).unwrap();
        assert_eq!(new.open(b"k", &by_both).unwrap().as_slice(), SECRET);
        assert_eq!(
            both.open_sealed_by(&new.id(), b"k", &by_both)
                .unwrap()
                .as_slice(),
            SECRET
        );
        // The id must name the KEK that sealed it; an unknown id opens nothing.
        assert!(both.open_sealed_by(&new.id(), b"k", &by_old).is_err());
        assert!(
            both.open_sealed_by("0000000000000000", b"k", &by_old)
                .is_err()
        );
        assert!(new.open_sealed_by(&old_id, b"k", &by_old).is_err());
    }

    #[test]
    fn a_subkey_root_derives_as_the_kek_it_replaces_and_survives_resealing() {
        let (kek, _) = KeyEncryptionKey::generate();
        let legacy = kek.legacy_subkey_root();
        assert_eq!(
            *legacy.derive_subkey(b"pepper"),
            *kek.derive_subkey(b"pepper"),
            "installations keep their derived secrets"
        );
        let sealed = legacy.seal(&kek, b"subkey-root").unwrap();
        let (next, _) = KeyEncryptionKey::generate();
        let resealed = SubkeyRoot::open(&kek, &kek.id(), b"subkey-root", &sealed)
            .unwrap()
            .seal(&next, b"subkey-root")
            .unwrap();
        let opened = SubkeyRoot::open(&next, &next.id(), b"subkey-root", &resealed).unwrap();
        assert_eq!(
            *opened.derive_subkey(b"pepper"),
            *kek.derive_subkey(b"pepper")
        );
        assert!(SubkeyRoot::open(&next, &next.id(), b"other-aad", &resealed).is_err());
        let fresh = SubkeyRoot::generate();
        assert_ne!(
            *fresh.derive_subkey(b"pepper"),
            *kek.derive_subkey(b"pepper")
        );
        assert_eq!(format!("{fresh:?}"), "SubkeyRoot([redacted])");
    }

    #[test]
    fn seal_open_round_trip() {
        let (kek, _) = KeyEncryptionKey::generate();
        let sealed = kek.seal(b"kid-1", SECRET).unwrap();
        assert_eq!(sealed.len(), 1 + NONCE_LEN + SECRET.len() + TAG_LEN);
        assert_eq!(sealed[0], SEALED_V1);
        assert_eq!(kek.open(b"kid-1", &sealed).unwrap().as_slice(), SECRET);
        // Fresh nonce each time.
        assert_ne!(kek.seal(b"kid-1", SECRET).unwrap(), sealed);
    }

    #[test]
    fn ciphertext_does_not_contain_the_plaintext() {
        let (kek, _) = KeyEncryptionKey::generate();
        let sealed = kek.seal(b"", SECRET).unwrap();
        assert!(!sealed.windows(8).any(|w| SECRET.windows(8).any(|s| s == w)));
    }

    #[test]
    fn wrong_kek_fails() {
        let (a, _) = KeyEncryptionKey::generate();
        let (b, _) = KeyEncryptionKey::generate();
        let sealed = a.seal(b"kid", SECRET).unwrap();
        assert_eq!(b.open(b"kid", &sealed), Err(JoseError::KeyDecryption));
    }

    #[test]
    fn wrong_aad_fails() {
        let (kek, _) = KeyEncryptionKey::generate();
        let sealed = kek.seal(b"kid-1", SECRET).unwrap();
        assert_eq!(kek.open(b"kid-2", &sealed), Err(JoseError::KeyDecryption));
    }

    #[test]
    fn any_tampering_fails() {
        let (kek, _) = KeyEncryptionKey::generate();
        let sealed = kek.seal(b"kid", SECRET).unwrap();
        // Version byte, nonce, ciphertext and tag.
        for i in [0, 1, 24, 25, 30, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                kek.open(b"kid", &bad),
                Err(JoseError::KeyDecryption),
                "byte {i}"
            );
        }
        assert_eq!(
            kek.open(b"kid", &sealed[..sealed.len() - 1]),
            Err(JoseError::KeyDecryption)
        );
        assert_eq!(
            kek.open(b"kid", &sealed[..1 + NONCE_LEN + TAG_LEN - 1]),
            Err(JoseError::KeyDecryption)
        );
        assert_eq!(kek.open(b"kid", &[]), Err(JoseError::KeyDecryption));
    }

    #[test]
    fn from_base64_accepts_both_alphabets_and_padding() {
        let (kek, url) = KeyEncryptionKey::generate();
        assert_eq!(KeyEncryptionKey::from_base64(&url).unwrap().id(), kek.id());
        let raw = URL_SAFE_NO_PAD.decode(&url).unwrap();
        let std = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert!(std.ends_with('='));
        assert_eq!(KeyEncryptionKey::from_base64(&std).unwrap().id(), kek.id());
        assert_eq!(
            KeyEncryptionKey::from_base64(&format!(" {url}\n"))
                .unwrap()
                .id(),
            kek.id()
        );
        // A key with both '+' and '/' in standard base64 decodes the same as its URL-safe form.
        let bytes = [0xfbu8; 32];
        let a =
            KeyEncryptionKey::from_base64(&base64::engine::general_purpose::STANDARD.encode(bytes))
                .unwrap();
        let b = KeyEncryptionKey::from_base64(&URL_SAFE_NO_PAD.encode(bytes)).unwrap();
        assert_eq!(a.id(), b.id());
    }

    #[test]
    fn from_base64_rejects_bad_input() {
        let short = URL_SAFE_NO_PAD.encode([1u8; 31]);
        assert!(matches!(
            KeyEncryptionKey::from_base64(&short),
            Err(JoseError::KekInvalid { reason }) if reason.contains("31")
        ));
        let long = URL_SAFE_NO_PAD.encode([1u8; 33]);
        assert!(matches!(
            KeyEncryptionKey::from_base64(&long),
            Err(JoseError::KekInvalid { .. })
        ));
        assert!(matches!(
            KeyEncryptionKey::from_base64("not*base64"),
            Err(JoseError::KekInvalid { reason }) if reason.contains("base64")
        ));
        assert!(matches!(
            KeyEncryptionKey::from_base64(""),
            Err(JoseError::KekInvalid { .. })
        ));
    }

    #[test]
    fn id_is_a_stable_fingerprint_and_debug_is_redacted() {
        let kek = KeyEncryptionKey::from_base64(&URL_SAFE_NO_PAD.encode([0u8; 32])).unwrap();
        let expected = Sha256::new()
            .chain_update(b"verity kek id")
            .chain_update([0u8; 32])
            .finalize();
        assert_eq!(kek.id(), hex::encode(&expected[..8]));
        assert_eq!(kek.id().len(), 16);
        let (other, encoded) = KeyEncryptionKey::generate();
        assert_ne!(other.id(), kek.id());
        let debug = format!("{other:?}");
        assert!(debug.contains("[redacted]") && debug.contains(&other.id()));
        assert!(!debug.contains(&encoded));
    }

    #[test]
    fn subkeys_differ_by_label_and_key() {
        let (a, _) = KeyEncryptionKey::generate();
        let (b, _) = KeyEncryptionKey::generate();
        assert_eq!(*a.derive_subkey(b"x"), *a.derive_subkey(b"x"));
        assert_ne!(*a.derive_subkey(b"x"), *a.derive_subkey(b"y"));
        assert_ne!(*a.derive_subkey(b"x"), *b.derive_subkey(b"x"));
    }
}
