//! Published test vectors shared by the unit tests; each cites its source.

use serde_json::{Value, json};

/// RFC 7515 Appendix A.3.1: the ES256 example key (with private `d`).
pub fn rfc7515_a3_private_jwk() -> Value {
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
    })
}

/// RFC 7515 Appendix A.3.1: the public part of [`rfc7515_a3_private_jwk`].
pub fn rfc7515_a3_public_jwk() -> Value {
    let mut v = rfc7515_a3_private_jwk();
    v.as_object_mut().unwrap().remove("d");
    v
}

/// RFC 7515 Appendix A.3.1: the complete ES256 compact JWS.
pub const RFC7515_A3_JWS: &str = concat!(
    "eyJhbGciOiJFUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
);

/// RFC 8037 Appendix A.1: the Ed25519 private key.
pub fn rfc8037_a1_private_jwk() -> Value {
    json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    })
}

/// RFC 8037 Appendix A.2: the Ed25519 public key.
pub fn rfc8037_a2_public_jwk() -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
}

/// RFC 8037 Appendix A.4: the payload that is signed.
pub const RFC8037_A4_PAYLOAD: &[u8] = b"Example of Ed25519 signing";

/// RFC 8037 Appendix A.4: the resulting JWS (Ed25519 is deterministic, so this is exact).
pub const RFC8037_A4_JWS: &str = concat!(
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.",
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
);

/// One ES256K verify vector from web5-spec `test-vectors/crypto_es256k/verify.json`
/// (repository TBD54566975/web5-spec): raw data, public JWK, raw `r || s` signature.
pub struct Es256kVector {
    pub description: &'static str,
    pub data_hex: &'static str,
    pub x: &'static str,
    pub y: &'static str,
    pub signature_hex: &'static str,
    pub valid: bool,
}

/// web5-spec `test-vectors/crypto_es256k/verify.json`, vectors 1-6 (the private-key and
/// off-curve vectors are covered by the JWK tests).
pub const WEB5_ES256K_VERIFY: [Es256kVector; 6] = [
    Es256kVector {
        description: "verifies the signature from Wycheproof test case 3",
        data_hex: "313233343030",
        x: "uDj_ROW8F3vyEYnQdmCC_J2EMiaIf8l2A3EQC37iCm8",
        y: "8MnXW_unsxpryhl0SW7rVt41cHGVXYPEsbraoLIYMuk",
        signature_hex: "813ef79ccefa9a56f7ba805f0e478584fe5f0dd5f567bc09b5123ccbc98323656ff18a52dcc0336f7af62400a6dd9b810732baf1ff758000d6f613a556eb31ba",
        valid: true,
    },
    Es256kVector {
        description: "verifies low-S form signatures",
        data_hex: "333435",
        x: "A2ZbCLhod3ltBQ4Mw0zjkcQZ7h7B1FQ3s56ZtWavonQ",
        y: "JBerPwkut8tONfAfcXhNEBERj7jejohqMfbbs2aMMZA",
        signature_hex: "351757c538d0a13fa9473dabc259be82dba1bd8f44dcba71a7f222655429b4700608736ab97d0b31bae1a0c2cac4b35eeaf35f767f5ebdafdff042a68739dfb4",
        valid: true,
    },
    Es256kVector {
        description: "verifies high-S form signatures",
        data_hex: "333435",
        x: "A2ZbCLhod3ltBQ4Mw0zjkcQZ7h7B1FQ3s56ZtWavonQ",
        y: "JBerPwkut8tONfAfcXhNEBERj7jejohqMfbbs2aMMZA",
        signature_hex: "351757c538d0a13fa9473dabc259be82dba1bd8f44dcba71a7f222655429b470f9f78c954682f4ce451e5f3d353b4c9fcfbb7d702fe9e28bdfe21be648fc618d",
        valid: true,
    },
    Es256kVector {
        description: "verification fails if the data was tampered with",
        data_hex: "0002030405060708",
        x: "fmCdLkmSfkAW0sKwrDegDsCcIKVUC_S6RBSGqrqNDzw",
        y: "qG4iddPl2ddQS4QRGloxXJDMwqT6cwHEFr9o0_aXp0s",
        signature_hex: "efcd2eb0df4137bf3993149b8dc0956aea9858c83c270ea0fcbf6fb8da77573d1e49798da017740b5e948a099cdc2abcda43421bc872c4ae1370de4661f9d879",
        valid: false,
    },
    Es256kVector {
        description: "verification fails if the signature was tampered with",
        data_hex: "0102030405060708",
        x: "oFYWfw35gaUsuUKXTEfq9i0Rg8bJI8aautX7uUy-BlI",
        y: "CXnzACqBqCFvP5zEmolhFiuQJ7MFY6yiMDHKxiLv8SM",
        signature_hex: "3ce28829b29db2fce5ab3fbc1dd6822dc29787e806573ded683003a80e4bca85221b4c5e39c43117bbadb63dccd3649223729c5b5847f74935cfd6d810584de6",
        valid: false,
    },
    Es256kVector {
        description: "verification fails if the public key is not associated with the signing key",
        data_hex: "0102030405060708",
        x: "rZumJRfoU39x5arLh3g6geDFnikLRpCsTneNOvWeAXw",
        y: "ACJk2iPQZinwFT6MeGEwu29jFxuvqjlEXA7jbaSYNx8",
        signature_hex: "006b365af98e60c9dd89884391bc2d41aa078586a899e7fff07104683a3195ec323589cf5050a4d485a2e6c281561f378dd0a9663954236b5d20fd64519bcbe7",
        valid: false,
    },
];

/// web5-spec `test-vectors/crypto_es256k/verify.json`, "error when given a private key".
pub fn web5_es256k_private_jwk() -> Value {
    json!({
        "crv": "secp256k1",
        "d": "lZqISvM7R1S7zBgZ5JjUuOppZuYKXuCbYWBkqgwX88c",
        "kid": "JOeO0oJDLMaXibhJBpsHVvskK47qq0k8uaLozxTtNhk",
        "kty": "EC",
        "x": "npaD6WyM4AZIxwPmieND_gdnYuROitnyDfskXwpv-J0",
        "y": "y5_uOFRRNOCWAJPD-Ly1ENJd908lWJ0-0KGnTwxWzNM"
    })
}
