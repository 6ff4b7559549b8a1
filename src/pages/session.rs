//! Who is at the browser: staff logins, sessions and form tokens.
//!
//! - A login (`POST /login`) checks the name and password against the `[[users]]` of the
//!   configuration (argon2; a name that is no user is checked against a decoy hash, so the answer
//!   takes as long and says the same), a few tries a minute per client address, then stores a
//!   session (`Store::create_session`, by the SHA-256 of its secret) and sets the secret in an
//!   `HttpOnly`, `SameSite=Strict` cookie (`Secure` with `secure_cookies`).
//! - [`Staff`] finds the session of a request; pages without one go to the login, the studio's
//!   JSON calls answer 401. A role without the scope a page needs is 403.
//! - Every request that changes something carries the session's form token (`csrf` in a form,
//!   `X-CSRF-Token` from the pages' script) and is refused 403 without it, or when the browser
//!   says it comes from another site (`Sec-Fetch-Site: cross-site`).
//! - With no tokens and no users (a loopback-only service, [`crate::config::Config::open`]),
//!   pages open as the local user `local`, with every scope; the form token is then one per
//!   process, so another site still cannot post to the local service.

use crate::config::{Scope, User};
use crate::http::error::ErrorCode;
use crate::http::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "orderly_session";
/// The login form's own token cookie (double submit: the form and the cookie must agree).
pub(crate) const LOGIN_COOKIE: &str = "orderly_login";
/// The name of the user pages open as on an open, loopback-only service.
pub(crate) const LOCAL_USER: &str = "local";

/// 32 random bytes from the operating system, in hex.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No randomness means no safe session: an empty token matches nothing.
        return String::new();
    }
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a cookie's secret, in hex: how sessions are stored.
pub(crate) fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares two tokens in time independent of where they differ.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A cookie's value from the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, the whole site, `Secure` if set.
pub(crate) fn set_cookie(name: &str, value: &str, max_age_seconds: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// A staff member at the browser, with what their role may do and the form token their pages
/// carry.
#[derive(Debug, Clone)]
pub(crate) struct Staff {
    /// The user's name: the actor of what they do.
    pub name: String,
    /// The role's name (`local` on an open service).
    pub role: String,
    scopes: Vec<Scope>,
    /// The form token (CSRF) of the session.
    pub csrf: String,
    /// Whether the user can log out (not the local user of an open service).
    pub logged_in: bool,
}

impl Staff {
    /// Whether the user's role has `scope` (`admin` has all).
    pub(crate) fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }

    /// Refuses (403, in the caller's kind of answer) unless the role has `scope`.
    pub(crate) fn require(&self, scope: Scope, json: bool) -> Result<(), Refusal> {
        if self.allows(scope) {
            return Ok(());
        }
        Err(Refusal {
            json,
            code: ErrorCode::Forbidden,
            message: format!(
                "`{}` (role `{}`) may not do this: it needs the `{}` scope",
                self.name,
                self.role,
                scope.code()
            ),
            login: None,
        })
    }

    /// Refuses (403) a request that changes something without the session's form token, or
    /// that the browser says comes from another site.
    pub(crate) fn check_form_token(
        &self,
        headers: &HeaderMap,
        presented: Option<&str>,
        json: bool,
    ) -> Result<(), Refusal> {
        let cross_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site");
        let presented = presented.or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()));
        if !cross_site && presented.is_some_and(|p| same_token(p, &self.csrf)) {
            return Ok(());
        }
        Err(Refusal {
            json,
            code: ErrorCode::BadFormToken,
            message: "this request lacks the page's form token (or comes from another site): reload the page and try again".into(),
            login: None,
        })
    }
}

/// Why a page or a studio call was refused: a redirect to the login for pages, a JSON error
/// for the studio's calls.
#[derive(Debug)]
pub(crate) struct Refusal {
    json: bool,
    /// The API's code (its status goes with it).
    code: ErrorCode,
    message: String,
    /// For a page without a session: the login, coming back to this path.
    login: Option<String>,
}

impl Refusal {
    /// A refusal with a stable code (the API's, with its status) and a sentence.
    pub(crate) fn new(json: bool, code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal { json, code, message: message.into(), login: None }
    }

    /// The database did not answer while `doing` (logged, never shown): try again later.
    pub(crate) fn unavailable(json: bool, doing: &str, e: &crate::store::StoreError) -> Refusal {
        tracing::error!(error = %e, "{doing}");
        let message = if json {
            "the database does not answer; try again in a moment"
        } else {
            "The database does not answer; try again in a moment."
        };
        Refusal::new(json, ErrorCode::DatabaseUnavailable, message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        if let Some(next) = self.login {
            return Redirect::to(&format!("/login?next={}", encode_component(&next))).into_response();
        }
        let status = self.code.status();
        if self.json {
            let body = serde_json::json!({ "error": self.code, "message": self.message });
            return (status, axum::Json(body)).into_response();
        }
        super::render::page_error(status, &self.message)
    }
}

/// Percent-encodes a query value.
pub fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where a login may send the browser back to: a path on this site, nothing else.
pub(crate) fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

impl FromRequestParts<Arc<AppState>> for Staff {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let json = parts.uri.path().contains("/api/");
        if state.config.open() {
            return Ok(Staff {
                name: LOCAL_USER.into(),
                role: LOCAL_USER.into(),
                scopes: vec![Scope::Admin],
                csrf: state.pages.local_csrf.clone(),
                logged_in: false,
            });
        }
        let none = || {
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
            let mut r = Refusal::new(json, ErrorCode::Unauthorized, "log in first: this page is for staff");
            if !json && parts.method == Method::GET {
                r.login = Some(path);
            }
            r
        };
        let Some(secret) = cookie(&parts.headers, COOKIE) else { return Err(none()) };
        let now = state.service.now();
        let session = match state.service.store().session(&digest(secret), now).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(none()),
            Err(e) => return Err(Refusal::unavailable(json, "cannot read a session", &e)),
        };
        // The user must still be in the configuration; their role is read from it now.
        let Some(user) = state.config.users.iter().find(|u| u.name == session.user) else {
            return Err(none());
        };
        Ok(staff_of(user, session.csrf))
    }
}

fn staff_of(user: &User, csrf: String) -> Staff {
    Staff {
        name: user.name.clone(),
        role: user.role.clone(),
        scopes: user.scopes.clone(),
        csrf,
        logged_in: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_places_to_go_back_to() {
        assert_eq!(local_path(Some("/studio/edit/retail.flow")), "/studio/edit/retail.flow");
        for bad in ["//evil.example/x", "https://evil.example", "/\\evil", "studio", "/a\nb"] {
            assert_eq!(local_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn cookies_are_read_by_name_and_tokens_compared_whole() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; orderly_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "orderly"), None);
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("", ""));
        assert_eq!(random_token().len(), 64);
        assert_ne!(random_token(), random_token());
    }
}
