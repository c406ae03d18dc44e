//! `/openapi.json` (the OpenAPI 3.1 document of every route, see [`crate::openapi`]) and `/docs`,
//! an interactive page over it (Swagger UI, embedded in the binary: it works offline).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::openapi::{Op, Routes};

const PAGE: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>Verity API</title>\n\
<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">\n\
</head>\n<body>\n\
<noscript><p>This page needs JavaScript. The API description itself is at \
<a href=\"/openapi.json\">/openapi.json</a>.</p></noscript>\n\
<div id=\"swagger-ui\"></div>\n\
<script src=\"/docs/swagger-ui-bundle.js\"></script>\n\
<script src=\"/docs/init.js\"></script>\n\
</body>\n</html>\n";

/// Starts Swagger UI on our document; no inline script, so the CSP can forbid inline scripts.
const INIT: &str = "window.addEventListener('load', function () {\n\
  window.ui = SwaggerUIBundle({\n\
    url: '/openapi.json',\n\
    dom_id: '#swagger-ui',\n\
    deepLinking: true,\n\
    tryItOutEnabled: false,\n\
    validatorUrl: null\n\
  });\n\
});\n";

const BUNDLE: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");
const LICENSE: &[u8] = include_bytes!("../../assets/swagger-ui/LICENSE");

/// The page's policy: scripts and styles from here only (Swagger UI sets inline styles),
/// requests only to this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

pub fn routes(r: &mut Routes) {
    const S: &str = "Service";
    r.get(
        "/openapi.json",
        openapi,
        Op::new("openapi", S, "This OpenAPI 3.1 document").ok_any(200, "The document"),
    )
    .get(
        "/docs",
        page,
        Op::new(
            "docs",
            S,
            "The interactive API documentation (works offline)",
        )
        .ok_text(200, "text/html", "The page"),
    )
    .get(
        "/docs/{asset}",
        asset,
        Op::new(
            "docsAsset",
            S,
            "The documentation page's scripts and stylesheet",
        )
        .ok_binary("application/javascript", "The file")
        .not_found(),
    );
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(crate::openapi::document())
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(PAGE)
}

async fn asset(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (body, media): (&'static [u8], &str) = match name.as_str() {
        "swagger-ui-bundle.js" => (BUNDLE, "application/javascript; charset=utf-8"),
        "swagger-ui.css" => (CSS, "text/css; charset=utf-8"),
        "init.js" => (INIT.as_bytes(), "application/javascript; charset=utf-8"),
        "LICENSE" => (LICENSE, "text/plain; charset=utf-8"),
        other => {
            return Err(ApiError::not_found(format!(
                "no documentation asset `{other}`"
            )));
        }
    };
    // The assets change only with the binary: its version is the validator.
    let etag = format!("\"{}-{}\"", env!("CARGO_PKG_VERSION"), body.len());
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut resp = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if fresh {
        return Ok(resp.finish());
    }
    Ok(resp.content_type(media).body(body))
}
