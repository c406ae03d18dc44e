//! Private PKI: extra trust anchors (PEM CA certificates) for every outbound HTTPS client, and
//! certificate errors told by their cause (unknown issuer, expired, name mismatch).

use std::error::Error as StdError;
use std::path::Path;

/// Parses every `CERTIFICATE` block of a PEM text into DER; refuses a text without one.
pub fn parse_pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut reader = pem;
    let mut out = Vec::new();
    for cert in rustls_pemfile::certs(&mut reader) {
        let cert = cert.map_err(|e| format!("not a PEM certificate: {e}"))?;
        out.push(cert.as_ref().to_vec());
    }
    if out.is_empty() {
        return Err("holds no PEM CERTIFICATE block".into());
    }
    Ok(out)
}

/// Reads PEM CA certificates from files; the error names the file.
pub fn load_trust_anchors<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read CA certificate `{}`: {e}", path.display()))?;
        let certs = parse_pem_certificates(&pem)
            .map_err(|e| format!("CA certificate file `{}` {e}", path.display()))?;
        out.extend(certs);
    }
    Ok(out)
}

/// Applies trust anchors to a client: `anchors` (DER) are trusted in addition to the public
/// (webpki) roots, or instead of them when `public_roots` is false.
pub fn apply_trust(
    mut builder: reqwest::ClientBuilder,
    anchors: &[Vec<u8>],
    public_roots: bool,
) -> Result<reqwest::ClientBuilder, String> {
    if !public_roots && anchors.is_empty() {
        return Err("public roots are turned off and no trust anchor is configured".into());
    }
    for der in anchors {
        let cert = reqwest::Certificate::from_der(der)
            .map_err(|e| format!("unusable CA certificate: {e}"))?;
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder.tls_built_in_root_certs(public_roots))
}

/// The cause of a refused server certificate in words, when `err` (or one of its sources) is
/// a certificate error of the TLS layer.
pub fn certificate_cause(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut source = Some(err);
    while let Some(s) = source {
        if let Some(rustls::Error::InvalidCertificate(cert)) = s.downcast_ref::<rustls::Error>() {
            return Some(describe(cert));
        }
        // An io::Error's `source()` skips the error it wraps (the TLS layer's, here).
        if let Some(inner) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && let Some(cause) = certificate_cause(inner)
        {
            return Some(cause);
        }
        source = s.source();
    }
    None
}

fn describe(cert: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match cert {
        C::UnknownIssuer => "unknown issuer: the certificate is not signed by a trusted CA \
                             (add the CA to the trust anchors)"
            .into(),
        C::Expired | C::ExpiredContext { .. } => "expired certificate".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "certificate not valid yet".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "name mismatch: the certificate is not valid for this host name".into()
        }
        C::Revoked => "revoked certificate".into(),
        C::BadSignature => "bad certificate signature".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "certificate not valid for server authentication".into()
        }
        other => format!("invalid certificate ({other:?})"),
    }
}
