//! `GET /login`, `POST /login`, `POST /logout`: the staff login form and what it does. See
//! [`super::session`] for the sessions and form tokens.

use super::extract::PageForm;
use super::render;
use super::session::{self, Refusal, Staff, COOKIE, LOGIN_COOKIE};
use crate::config;
use crate::http::AppState;
use crate::store::StoredSession;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

/// `?next=` of the login page.
#[derive(Debug, Deserialize)]
pub(crate) struct NextParam {
    next: Option<String>,
}

/// The login form as posted.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// The logout form as posted.
#[derive(Debug, Deserialize)]
pub(crate) struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// The login form; an open service has no login, and goes where it was asked.
pub(crate) async fn form(State(state): State<Arc<AppState>>, Query(q): Query<NextParam>) -> Response {
    let next = session::local_path(q.next.as_deref());
    if state.config.open() {
        return Redirect::to(&next).into_response();
    }
    login_page(&state, StatusCode::OK, &next, "", None)
}

/// The page with a fresh form token, in its cookie too (double submit: a login posted from
/// another site carries neither).
fn login_page(
    state: &AppState,
    status: StatusCode,
    next: &str,
    name: &str,
    message: Option<&str>,
) -> Response {
    let csrf = session::random_token();
    let ctx = minijinja::context! {
        csrf => csrf, next => next, name => name, message => message,
        no_users => state.config.users.is_empty(),
    };
    let mut res = render::page(status, "login.html", ctx);
    if let Ok(v) = session::set_cookie(LOGIN_COOKIE, &csrf, 3600, state.config.secure_cookies).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// Checks the name and password; on success stores a session and sets its cookie.
pub(crate) async fn submit(
    State(state): State<Arc<AppState>>,
    client: crate::http::ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let next = session::local_path(form.next.as_deref());
    if state.config.open() {
        return Redirect::to(&next).into_response();
    }
    let expected = session::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !session::same_token(&form.csrf, expected) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            &next,
            &form.name,
            Some("The form had expired: log in again."),
        );
    }
    if state.pages.login_limiter.check_key(&client.ip()).is_err() {
        let mut res = login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            &form.name,
            Some("Too many tries from this address: wait a minute and try again."),
        );
        res.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("60"));
        return res;
    }
    let user = state.config.users.iter().find(|u| u.name == form.name.trim()).cloned();
    let hash = user.as_ref().map_or_else(|| config::decoy_hash().to_string(), |u| u.password_hash.clone());
    let password = form.password.clone();
    // argon2 takes tens of milliseconds and 19 MiB: off the async workers.
    let matches =
        tokio::task::spawn_blocking(move || config::verify_password(&hash, &password)).await.unwrap_or(false);
    let Some(user) = user.filter(|_| matches) else {
        tracing::warn!(user = %crate::logging::clean(form.name.trim()), "a login failed");
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            &next,
            &form.name,
            Some("Wrong name or password."),
        );
    };
    let secret = session::random_token();
    let now = state.service.now();
    let hours = i64::try_from(state.config.session_hours).unwrap_or(12).min(24 * 365);
    let stored = StoredSession {
        user: user.name.clone(),
        csrf: session::random_token(),
        expires_at: now + chrono::Duration::hours(hours),
    };
    if secret.is_empty() || stored.csrf.is_empty() {
        return render::page_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The system has no randomness to make a session with.",
        );
    }
    if let Err(e) = state.service.store().create_session(&session::digest(&secret), &stored, now).await {
        tracing::error!(error = %e, "cannot store a session");
        return render::page_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database does not answer; try again in a moment.",
        );
    }
    tracing::info!(user = %crate::logging::clean(&user.name), "logged in");
    let max_age = state.config.session_hours.saturating_mul(3600);
    let mut res = Redirect::to(&next).into_response();
    let cookies = [
        session::set_cookie(COOKIE, &secret, max_age, state.config.secure_cookies),
        session::set_cookie(LOGIN_COOKIE, "", 0, state.config.secure_cookies),
    ];
    for c in cookies {
        if let Ok(v) = c.parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// Ends the session and forgets its cookie.
pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    staff: Staff,
    headers: HeaderMap,
    PageForm(form): PageForm<LogoutForm>,
) -> Result<Response, Refusal> {
    staff.check_form_token(&headers, Some(&form.csrf), false)?;
    if let Some(secret) = session::cookie(&headers, COOKIE) {
        if let Err(e) = state.service.store().delete_session(&session::digest(secret)).await {
            return Err(Refusal::unavailable(false, "cannot end a session", &e));
        }
    }
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) = session::set_cookie(COOKIE, "", 0, state.config.secure_cookies).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}
