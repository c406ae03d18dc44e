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

/// RFC 7515 Appendix A.2.1: the RS256 example key (with its private members).
pub fn rfc7515_a2_private_jwk() -> Value {
    json!({
        "kty": "RSA",
        "n": concat!(
            "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs",
            "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV",
            "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
        ),
        "e": "AQAB",
        "d": concat!(
            "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0",
            "BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYT",
            "CBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ"
        ),
        "p": concat!(
            "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPG",
            "BY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc"
        ),
        "q": concat!(
            "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA",
            "-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc"
        ),
        "dp": concat!(
            "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb3",
            "4MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0"
        ),
        "dq": concat!(
            "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyN",
            "lxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU"
        ),
        "qi": concat!(
            "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW",
            "0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U"
        )
    })
}

/// RFC 7515 Appendix A.2.1: the public part of [`rfc7515_a2_private_jwk`] (`n` and `e`).
pub fn rfc7515_a2_public_jwk() -> Value {
    let v = rfc7515_a2_private_jwk();
    json!({"kty": "RSA", "n": v["n"], "e": v["e"]})
}

/// RFC 7515 Appendix A.2.1: the complete RS256 compact JWS (same payload as A.3).
pub const RFC7515_A2_JWS: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5",
    "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb",
    "1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QO",
    "YEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
);

/// RFC 7638 section 3.1: the example RSA public key and its published thumbprint.
pub fn rfc7638_example_jwk() -> Value {
    json!({
        "kty": "RSA",
        "n": concat!(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMst",
            "n64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr",
            "n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    })
}

/// RFC 7638 section 3.1: the thumbprint of [`rfc7638_example_jwk`].
pub const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/// Test-only RS256 signer (RSASSA-PKCS1-v1_5 SHA-256) over a private RSA JWK such as
/// [`rfc7515_a2_private_jwk`]; production code never signs with RSA.
pub fn rs256_sign(private_jwk: &Value, message: &[u8]) -> Vec<u8> {
    use ring::rsa::{KeyPairComponents, PublicKeyComponents};
    use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    let m = |name: &str| crate::b64d(private_jwk[name].as_str().unwrap()).unwrap();
    let pair = RsaKeyPair::from_components(&KeyPairComponents {
        public_key: PublicKeyComponents {
            n: m("n"),
            e: m("e"),
        },
        d: m("d"),
        p: m("p"),
        q: m("q"),
        dP: m("dp"),
        dQ: m("dq"),
        qInv: m("qi"),
    })
    .unwrap();
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        message,
        &mut sig,
    )
    .unwrap();
    sig
}

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
