//! The web dashboard, served at `/` from files compiled into the binary
//! (`crates/conexor-server/dashboard/`: plain ES modules and CSS, no build
//! step, no Node, no network at run time). The modules are type-checked,
//! not compiled: `api.d.ts` (generated from `conexor-api`, the types the
//! server answers with) and `tsconfig.json` are for `tsc --noEmit` in the
//! test command and are not served.
//!
//! Every answer carries a strict Content-Security-Policy: scripts and
//! styles only from this origin (no inline script, no eval), requests only
//! to this origin, no framing, no base or form targets elsewhere; and no
//! referrer. The page keeps the API key in memory and sends it only as a
//! bearer token; the API itself sets no cookie and answers no cross-origin
//! request permissively (no CORS headers at all).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX: &str = include_str!("../dashboard/index.html");
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../dashboard/app.js"),
    ),
    (
        "ui.js",
        "text/javascript; charset=utf-8",
        include_str!("../dashboard/ui.js"),
    ),
    (
        "client.js",
        "text/javascript; charset=utf-8",
        include_str!("../dashboard/client.js"),
    ),
    (
        "detail.js",
        "text/javascript; charset=utf-8",
        include_str!("../dashboard/detail.js"),
    ),
    (
        "queries.js",
        "text/javascript; charset=utf-8",
        include_str!("../dashboard/queries.js"),
    ),
    (
        "crypto.js",
        "text/javascript; charset=utf-8",
        include_str!("../dashboard/crypto.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../dashboard/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../dashboard/favicon.svg"),
    ),
];

/// The policy every dashboard answer carries.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route("/favicon.ico", get(|| async { asset("favicon.svg") }))
        .route(
            "/assets/{name}",
            get(|Path(name): Path<String>| async move { asset(&name) }),
        )
}

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => page(kind, body),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn page(kind: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_holds_no_inline_script_or_markup_from_data() {
        assert!(!INDEX.contains("<script>") && INDEX.contains("type=\"module\""));
        for (name, _, body) in ASSETS {
            // Text is set as text: no HTML built from strings anywhere.
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
            ] {
                assert!(!body.contains(sink), "{name} uses {sink}");
            }
            // The key is never written where it would outlive the tab.
            for store in [
                "localStorage",
                "sessionStorage",
                "document.cookie",
                "indexedDB",
            ] {
                assert!(!body.contains(store), "{name} uses {store}");
            }
        }
    }
}
