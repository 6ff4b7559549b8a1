//! Rendering pages: the templates (`src/pages/templates/`, compiled into the binary) through
//! one minijinja environment that escapes everything it prints into HTML, and the headers every
//! page carries: a content security policy that runs only this site's own scripts, no framing,
//! no sniffing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;
use std::sync::OnceLock;

/// The templates, by name, as compiled into the binary.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("login.html", include_str!("templates/login.html")),
    ("board.html", include_str!("templates/board.html")),
    ("order.html", include_str!("templates/order.html")),
    ("track.html", include_str!("templates/track.html")),
    ("customers.html", include_str!("templates/customers.html")),
    ("customer.html", include_str!("templates/customer.html")),
    ("customer_new.html", include_str!("templates/customer_new.html")),
    ("new_order.html", include_str!("templates/new_order.html")),
    ("workflows.html", include_str!("templates/workflows.html")),
    ("outbox.html", include_str!("templates/outbox.html")),
    ("error.html", include_str!("templates/error.html")),
    ("studio_index.html", include_str!("templates/studio_index.html")),
    ("studio_edit.html", include_str!("templates/studio_edit.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_function("tracking_url", |carrier: String, number: String| {
            tracking_url(&carrier, &number).unwrap_or_default()
        });
        // `.html` templates escape for HTML (minijinja's default for the extension).
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a page template does not compile");
            }
        }
        env
    })
}

/// The carriers whose tracking pages the console and the customer's page link to: a word the
/// carrier's name contains (lowercased), and the page's address before the number.
const CARRIERS: &[(&str, &str)] = &[
    ("ups", "https://www.ups.com/track?tracknum="),
    ("fedex", "https://www.fedex.com/fedextrack/?trknbr="),
    ("usps", "https://tools.usps.com/go/TrackConfirmAction?tLabels="),
    ("dhl", "https://www.dhl.com/global-en/home/tracking.html?tracking-id="),
    ("canada post", "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor="),
    ("royal mail", "https://www.royalmail.com/track-your-item#/tracking-results/"),
];

/// The carrier's tracking page for a shipment, when the carrier is one orderly knows (the
/// number percent-encoded: it is the client's text).
pub(crate) fn tracking_url(carrier: &str, number: &str) -> Option<String> {
    let carrier = carrier.to_lowercase();
    let number = number.trim();
    if number.is_empty() {
        return None;
    }
    CARRIERS
        .iter()
        .find(|(word, _)| carrier.contains(word))
        .map(|(_, base)| format!("{base}{}", super::session::encode_component(number).replace('/', "%2F")))
}

/// The headers of every page.
pub(crate) fn secure(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A page from a template and its values; a template that fails is a plain 500 page (and a
/// log line), never a panic.
pub(crate) fn page(status: StatusCode, template: &str, ctx: impl Serialize) -> Response {
    let html = env().get_template(template).and_then(|t| t.render(ctx));
    match html {
        Ok(html) => secure((status, Html(html)).into_response()),
        Err(e) => {
            tracing::error!(template, error = %e, "a page did not render");
            secure((StatusCode::INTERNAL_SERVER_ERROR, Html("<!doctype html><title>error</title><p>This page could not be shown; the service log says why.</p>".to_string())).into_response())
        }
    }
}

/// An error page saying what went wrong.
pub(crate) fn page_error(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "error.html",
        minijinja::context! { status => status.as_u16(), message => message, title => status.canonical_reason().unwrap_or("error") },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_carriers_link_to_their_tracking_page_and_others_to_none() {
        assert_eq!(
            super::tracking_url("UPS Ground", "1Z 999/&x").as_deref(),
            Some("https://www.ups.com/track?tracknum=1Z%20999%2F%26x")
        );
        assert_eq!(super::tracking_url("Pony Express", "42"), None);
        assert_eq!(super::tracking_url("fedex", " "), None);
    }

    #[test]
    fn every_template_compiles() {
        let env = super::env();
        for (name, _) in super::TEMPLATES {
            if let Err(e) = env.get_template(name) {
                panic!("{name}: {e:#}");
            }
        }
    }
}
