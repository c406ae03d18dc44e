//! `GET /`: what a person who opens the service's URL in a browser sees: what this server is,
//! whether it is ready, its authorities with their DID documents and linked-domain
//! configurations, and where the machine-readable entry points are. Public information only
//! (DIDs and their documents are public by design); no token, key or client id. Server-rendered,
//! no script, every stored text escaped.

use crate::openapi::{Op, Routes};
use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.get(
        "/",
        home,
        Op::new(
            "home",
            "Service",
            "The landing page: what this server is, its authorities, health",
        )
        .ok_text(200, "text/html", "An HTML page without secrets or scripts"),
    );
}

/// `text` safe inside HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The URL of a did:web DID's document, as resolvers fetch it (plain http only for the local
/// development hosts this service itself is reached on over http).
fn document_url(state: &AppState, did: &str) -> Option<String> {
    let web = verity_did::DidWeb::parse(did).ok()?;
    let public_url = state.public_url.clone();
    web.document_url(&|host| {
        crate::bootstrap::origin_for_host(host, &public_url).starts_with("http://")
    })
    .ok()
    .map(|u| u.to_string())
}

async fn home(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let ready = state.store.ping().await.is_ok();
    let authorities = if ready {
        state.store.list_authorities(None).await?
    } else {
        Vec::new()
    };
    let mut rows = String::new();
    for a in &authorities {
        let document = document_url(&state, &a.did)
            .map(|url| {
                let configuration = url::Url::parse(&url)
                    .map(|u| {
                        format!(
                            "{}/.well-known/did-configuration.json",
                            u.origin().ascii_serialization()
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "<a href=\"{doc}\">DID document</a> · <a href=\"{conf}\">linked domains</a>",
                    doc = escape(&url),
                    conf = escape(&configuration),
                )
            })
            .unwrap_or_default();
        rows.push_str(&format!(
            "<li><strong>{name}</strong><br><code>{did}</code><br>{document}</li>\n",
            name = escape(&a.name),
            did = escape(&a.did),
        ));
    }
    if rows.is_empty() {
        rows.push_str(
            "<li>No authority yet: create one with <code>verity authority create</code>.</li>\n",
        );
    }
    let public_url = escape(&state.public_url);
    let status = if ready {
        "<span class=\"ok\">ready</span>"
    } else {
        "<span class=\"bad\">not ready: the database does not answer</span>"
    };
    let body = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Verity</title>\n<style>\n\
         body {{ font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1b1b1b; }}\n\
         code {{ word-break: break-all; }}\n\
         .ok {{ color: #0a6b2b; font-weight: bold; }} .bad {{ color: #a11; font-weight: bold; }}\n\
         li {{ margin-bottom: 0.8rem; }}\n\
         </style>\n</head>\n<body>\n<main>\n\
         <h1>Verity</h1>\n\
         <p>A verifiable-credential issuer and verifier: organisations issue credentials from their \
         own <code>did:web</code> domain, and apps ask wallets to present them.</p>\n\
         <p>Service <code>{public_url}</code> is {status} (<a href=\"/health/ready\">/health/ready</a>).</p>\n\
         <h2>Authorities</h2>\n<ul>\n{rows}</ul>\n\
         <h2>For operators</h2>\n<ul>\n\
         <li><a href=\"/console\">The console</a>: authorities, contracts, API access, issued \
         credentials, live requests, and a page to try issuance and presentation with a phone wallet \
         (log in with the admin token).</li>\n\
         <li><a href=\"/docs\">API documentation</a> (<a href=\"/openapi.json\">OpenAPI 3.1</a>).</li>\n\
         </ul>\n\
         <h2>For apps</h2>\n<ul>\n\
         <li>Request Service API: <code>POST /v1.0/verifiableCredentials/createIssuanceRequest</code> and \
         <code>createPresentationRequest</code>, with an access token from \
         <a href=\"/.well-known/openid-configuration\">the token endpoint</a> (OAuth 2.0 client credentials).</li>\n\
         <li>Standard wallets: OpenID4VCI 1.0 credential offers and OpenID4VP 1.0 requests.</li>\n\
         </ul>\n</main>\n</body>\n</html>\n"
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_text_and_attributes() {
        assert_eq!(
            escape("<a href=\"x\" onclick='y'>&</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("did:web:example.com"), "did:web:example.com");
    }
}
