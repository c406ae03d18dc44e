//! DID syntax (DID Core §3.1) and the did:web method's identifier rules.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::error::DidError;

/// A syntactically valid DID (no path, query or fragment): `did:<method>:<method-specific-id>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Did {
    value: String,
    method_end: usize,
}

impl Did {
    /// Parses and validates a DID against the DID Core §3.1 ABNF.
    pub fn parse(s: &str) -> Result<Self, DidError> {
        let bad = |reason: &str| DidError::InvalidDid {
            did: s.to_owned(),
            reason: reason.into(),
        };
        let rest = s
            .strip_prefix("did:")
            .ok_or_else(|| bad("must start with `did:`"))?;
        let (method, id) = rest
            .split_once(':')
            .ok_or_else(|| bad("missing `:` between method name and method-specific id"))?;
        if method.is_empty() {
            return Err(bad("method name is empty"));
        }
        if !method
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(bad(
                "method name may contain only lowercase letters and digits",
            ));
        }
        if id.is_empty() {
            return Err(bad("method-specific id is empty"));
        }
        if id.ends_with(':') {
            return Err(bad("method-specific id may not end with `:`"));
        }
        if let Some(c) = id.chars().find(|c| matches!(c, '/' | '?' | '#')) {
            return Err(bad(&format!(
                "`{c}` starts a DID URL part (path, query or fragment); a bare DID was expected"
            )));
        }
        check_idchars(id).map_err(|r| bad(&r))?;
        Ok(Self {
            value: s.to_owned(),
            method_end: 4 + method.len(),
        })
    }

    /// The method name, e.g. `web`.
    pub fn method(&self) -> &str {
        &self.value[4..self.method_end]
    }

    /// The method-specific identifier (everything after the second `:`).
    pub fn method_specific_id(&self) -> &str {
        &self.value[self.method_end + 1..]
    }

    /// The DID as a string.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// Checks `*( *idchar ":" ) 1*idchar` minus the final-segment rule handled by the caller.
fn check_idchars(id: &str) -> Result<(), String> {
    let bytes = id.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b':' => i += 1,
            b'%' => {
                let hex = |j: usize| bytes.get(j).is_some_and(|c| c.is_ascii_hexdigit());
                if !(hex(i + 1) && hex(i + 2)) {
                    return Err(format!(
                        "`%` at byte {i} is not followed by two hex digits (pct-encoded)"
                    ));
                }
                i += 3;
            }
            _ => {
                let c = id[i..].chars().next().unwrap_or('?');
                return Err(format!(
                    "character `{c}` is not allowed in a method-specific id (allowed: \
                     ALPHA / DIGIT / `.` / `-` / `_` / `:` / pct-encoded)"
                ));
            }
        }
    }
    Ok(())
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl fmt::Debug for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Did({})", self.value)
    }
}

impl FromStr for Did {
    type Err = DidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Did {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl Serialize for Did {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for Did {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Splits a key reference into `(did, fragment)`: `did:x:y#frag` gives `(Some(did), frag)`,
/// `#frag` gives `(None, frag)`. Paths and queries in DID URLs are not supported for keys.
pub fn split_key_id(kid: &str) -> Result<(Option<Did>, &str), DidError> {
    let bad = |reason: &str| DidError::InvalidKeyId {
        kid: kid.to_owned(),
        reason: reason.into(),
    };
    let (did_part, fragment) = kid
        .split_once('#')
        .ok_or_else(|| bad("has no `#fragment` naming the key"))?;
    if fragment.is_empty() {
        return Err(bad("the fragment after `#` is empty"));
    }
    if did_part.is_empty() {
        return Ok((None, fragment));
    }
    let did = Did::parse(did_part).map_err(|e| bad(&format!("the part before `#`: {e}")))?;
    Ok((Some(did), fragment))
}

/// A parsed `did:web` identifier (W3C CCG did:web Method Specification).
#[derive(Clone, PartialEq, Eq)]
pub struct DidWeb {
    did: Did,
    domain: String,
    port: Option<u16>,
    path: Vec<String>,
}

impl fmt::Debug for DidWeb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DidWeb({})", self.did)
    }
}

impl DidWeb {
    /// Parses a `did:web` DID: domain (with an optional `%3A`-encoded port) and optional path
    /// segments separated by `:`.
    pub fn parse(s: &str) -> Result<Self, DidError> {
        let did = Did::parse(s)?;
        let bad = |reason: String| DidError::InvalidDidWeb {
            did: s.to_owned(),
            reason,
        };
        if did.method() != "web" {
            return Err(bad(format!("method is `{}`, expected `web`", did.method())));
        }
        let mut parts = did.method_specific_id().split(':');
        let host_enc = parts.next().unwrap_or_default();
        let host = percent_decode_str(host_enc)
            .decode_utf8()
            .map_err(|_| bad("the host is not valid UTF-8 after percent-decoding".into()))?
            .into_owned();
        if host.starts_with('[') {
            return Err(bad(format!(
                "`{host}` is an IP address; did:web requires a domain name"
            )));
        }
        let (domain, port) = match host.rsplit_once(':') {
            Some((d, p)) => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad(format!("port `{p}` is not a number in 1..=65535")))?;
                (d.to_owned(), Some(port))
            }
            None => (host, None),
        };
        if domain.is_empty() {
            return Err(bad("the domain is empty".into()));
        }
        // Let the URL parser apply IDNA and hostname rules, then insist on a DNS name: the
        // method spec forbids IP addresses (they cannot match a TLS certificate's name).
        let parsed = url::Host::parse(&domain)
            .map_err(|e| bad(format!("`{domain}` is not a valid host name: {e}")))?;
        let domain = match parsed {
            url::Host::Domain(d) => d,
            url::Host::Ipv4(_) | url::Host::Ipv6(_) => {
                return Err(bad(format!(
                    "`{domain}` is an IP address; did:web requires a domain name"
                )));
            }
        };
        let mut path = Vec::new();
        for seg in parts {
            if seg.is_empty() {
                return Err(bad("empty path segment (`::`)".into()));
            }
            let decoded = percent_decode_str(seg).decode_utf8_lossy();
            if decoded == "." || decoded == ".." || decoded.contains('/') || decoded.contains('\\')
            {
                return Err(bad(format!(
                    "path segment `{seg}` would escape or split the document path"
                )));
            }
            path.push(seg.to_owned());
        }
        Ok(Self {
            did,
            domain,
            port,
            path,
        })
    }

    /// The DID.
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// The domain name, without port.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The port, when the DID encodes one (`%3A8080`).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host[:port]` with the port decoded, e.g. `localhost:8080`.
    pub fn host(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.domain),
            None => self.domain.clone(),
        }
    }

    /// The path segments after the host, still percent-encoded as in the DID.
    pub fn path_segments(&self) -> &[String] {
        &self.path
    }

    /// The DID document URL: `https://host[:port]/.well-known/did.json` without a path,
    /// `https://host[:port]/a/b/did.json` with one. `use_http` is asked with `host[:port]` and
    /// switches to plain http for development hosts it approves.
    pub fn document_url(&self, use_http: &dyn Fn(&str) -> bool) -> Result<Url, DidError> {
        let host = self.host();
        let scheme = if use_http(&host) { "http" } else { "https" };
        let path = if self.path.is_empty() {
            "/.well-known/did.json".to_owned()
        } else {
            format!("/{}/did.json", self.path.join("/"))
        };
        Url::parse(&format!("{scheme}://{host}{path}")).map_err(|e| DidError::InvalidDidWeb {
            did: self.did.to_string(),
            reason: format!("does not form a valid document URL: {e}"),
        })
    }

    /// The origin the DID lives at, e.g. `https://example.com` or `https://localhost:8080`.
    pub fn origin(&self) -> String {
        format!("https://{}", self.host())
    }
}

/// Characters kept as-is in a did:web part: DID Core `idchar` minus `%` (always encoded).
const DID_WEB_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_');

/// Builds a `did:web` DID from `host[:port]` and path segments, percent-encoding the port's `:`
/// (`localhost:8080` gives `did:web:localhost%3A8080`) and any non-idchar characters.
pub fn did_web_from_parts(host_with_port: &str, path: &[&str]) -> String {
    let mut did = String::from("did:web:");
    did.extend(utf8_percent_encode(host_with_port, DID_WEB_ENCODE));
    for seg in path {
        did.push(':');
        did.extend(utf8_percent_encode(seg, DID_WEB_ENCODE));
    }
    did
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_http(_: &str) -> bool {
        false
    }

    #[test]
    fn parses_did_core_examples() {
        // DID Core §3.1, Example 1 (`did:example:123456789abcdefghi`).
        let d = Did::parse("did:example:123456789abcdefghi").unwrap();
        assert_eq!(d.method(), "example");
        assert_eq!(d.method_specific_id(), "123456789abcdefghi");
        assert_eq!(d.to_string(), "did:example:123456789abcdefghi");
        // Empty inner segments are allowed by the ABNF; pct-encoding too.
        assert!(Did::parse("did:example:a::b").is_ok());
        assert!(Did::parse("did:web:localhost%3A8080").is_ok());
        assert!(Did::parse("did:m2:x").is_ok());
    }

    #[test]
    fn rejects_malformed_dids_with_reasons() {
        let cases = [
            ("dud:web:x", "must start with `did:`"),
            ("did:web", "missing `:`"),
            ("did::x", "method name is empty"),
            ("did:Web:x", "lowercase"),
            ("did:we-b:x", "lowercase"),
            ("did:web:", "method-specific id is empty"),
            ("did:web:x:", "may not end with `:`"),
            ("did:web:x#key-1", "DID URL"),
            ("did:web:x/path", "DID URL"),
            ("did:web:x?q", "DID URL"),
            ("did:web:a b", "not allowed"),
            ("did:web:a%4", "two hex digits"),
            ("did:web:a%zz", "two hex digits"),
            ("did:web:é", "not allowed"),
        ];
        for (input, why) in cases {
            let err = Did::parse(input).unwrap_err();
            assert!(matches!(err, DidError::InvalidDid { .. }), "{input}");
            assert!(err.to_string().contains(why), "{input}: {err}");
        }
    }

    #[test]
    fn did_serde_validates() {
        let d: Did = serde_json::from_str("\"did:key:z6Mk\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"did:key:z6Mk\"");
        assert!(serde_json::from_str::<Did>("\"not-a-did\"").is_err());
    }

    #[test]
    fn splits_key_ids() {
        let (did, frag) = split_key_id("did:web:example.com#key-1").unwrap();
        assert_eq!(did.unwrap().as_str(), "did:web:example.com");
        assert_eq!(frag, "key-1");
        let (did, frag) = split_key_id("#key-2").unwrap();
        assert!(did.is_none());
        assert_eq!(frag, "key-2");
        for bad in ["did:web:example.com", "did:web:example.com#", "nodid#x"] {
            assert!(
                matches!(split_key_id(bad), Err(DidError::InvalidKeyId { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn did_web_spec_examples() {
        // W3C CCG did:web Method Specification, "Create (Register)", example "Creating the
        // Root JSON DID".
        let w = DidWeb::parse("did:web:w3c-ccg.github.io").unwrap();
        assert_eq!(
            w.document_url(&no_http).unwrap().as_str(),
            "https://w3c-ccg.github.io/.well-known/did.json"
        );
        // Same section, example "Creating the JSON DID with optional path".
        let w = DidWeb::parse("did:web:w3c-ccg.github.io:user:alice").unwrap();
        assert_eq!(
            w.document_url(&no_http).unwrap().as_str(),
            "https://w3c-ccg.github.io/user/alice/did.json"
        );
        assert_eq!(w.path_segments(), ["user", "alice"]);
        // Same section, example "Creating the JSON DID with optional path and port".
        let w = DidWeb::parse("did:web:example.com%3A3000:user:alice").unwrap();
        assert_eq!(
            w.document_url(&no_http).unwrap().as_str(),
            "https://example.com:3000/user/alice/did.json"
        );
        // "Method-specific identifier", example "Example Web Method DIDs": did:web:example.com%3A3000.
        let w = DidWeb::parse("did:web:example.com%3A3000").unwrap();
        assert_eq!(w.host(), "example.com:3000");
        assert_eq!(w.port(), Some(3000));
        assert_eq!(w.domain(), "example.com");
        assert_eq!(
            w.document_url(&no_http).unwrap().as_str(),
            "https://example.com:3000/.well-known/did.json"
        );
        assert_eq!(w.origin(), "https://example.com:3000");
    }

    #[test]
    fn did_web_http_only_when_allowed() {
        let w = DidWeb::parse("did:web:localhost%3A8080:issuer").unwrap();
        let url = w.document_url(&|h| h == "localhost:8080").unwrap();
        assert_eq!(url.as_str(), "http://localhost:8080/issuer/did.json");
        let url = w.document_url(&|h| h == "localhost").unwrap();
        assert_eq!(url.scheme(), "https");
    }

    #[test]
    fn did_web_rejections() {
        let cases = [
            ("did:key:z6Mk", "expected `web`"),
            ("did:web:example.com%3Aabc", "port"),
            ("did:web:example.com%3A0", "port"),
            ("did:web:example.com%3A70000", "port"),
            ("did:web:%3A8080", "domain is empty"),
            ("did:web:127.0.0.1", "IP address"),
            ("did:web:127.0.0.1%3A8080", "IP address"),
            ("did:web:%5B%3A%3A1%5D", "IP address"),
            ("did:web:example.com::a", "empty path segment"),
            ("did:web:example.com:..", "escape"),
            ("did:web:example.com:a%2Fb", "escape"),
            ("did:web:exa%25mple.com", "not a valid host"),
        ];
        for (input, why) in cases {
            let err = DidWeb::parse(input).unwrap_err();
            assert!(
                matches!(err, DidError::InvalidDidWeb { .. }),
                "{input}: {err}"
            );
            assert!(err.to_string().contains(why), "{input}: {err}");
        }
    }

    #[test]
    fn did_web_from_parts_encodes_port_and_path() {
        assert_eq!(
            did_web_from_parts("localhost:8080", &[]),
            "did:web:localhost%3A8080"
        );
        assert_eq!(
            did_web_from_parts("example.com", &[]),
            "did:web:example.com"
        );
        assert_eq!(
            did_web_from_parts("example.com", &["user", "alice"]),
            "did:web:example.com:user:alice"
        );
        assert_eq!(
            did_web_from_parts("example.com", &["a b"]),
            "did:web:example.com:a%20b"
        );
        // Round trip through the parser.
        let did = did_web_from_parts("localhost:8443", &["tenants", "t-1"]);
        let w = DidWeb::parse(&did).unwrap();
        assert_eq!(w.host(), "localhost:8443");
        assert_eq!(
            w.document_url(&no_http).unwrap().as_str(),
            "https://localhost:8443/tenants/t-1/did.json"
        );
    }
}
