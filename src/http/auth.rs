//! Bearer tokens and scopes. With no token configured every caller may do everything (the
//! service then binds to loopback only, see `serve`); otherwise a request needs
//! `Authorization: Bearer <secret>` of a token with the route's scope: 401 without a valid
//! token, 403 without the scope. [`Authorized`] checks the scope from the request's head, before
//! anything reads the path, query or body: a caller without the scope is told so, not about
//! its body.

use super::error::{ApiError, ErrorCode};
use super::AppState;
use crate::config::{Scope, Token};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use std::marker::PhantomData;
use std::sync::Arc;

/// A scope a route needs, as a type: `Authorized<scope::OrdersWrite>`.
pub(crate) trait RequiredScope {
    /// The scope.
    const SCOPE: Scope;
}

/// The scopes as types, for [`Authorized`].
pub(crate) mod scope {
    use super::{RequiredScope, Scope};

    macro_rules! scopes {
        ($($name:ident),*) => {$(
            #[doc = concat!("`", stringify!($name), "`, as a type.")]
            #[derive(Debug, Clone, Copy)]
            pub(crate) struct $name;
            impl RequiredScope for $name {
                const SCOPE: Scope = Scope::$name;
            }
        )*};
    }
    scopes!(OrdersRead, OrdersWrite, EventsWrite, WorkflowsRead, MetricsRead, Admin);
}

/// A caller with scope `S`, checked from the request's head: put it before the path, query and
/// body extractors, so that 401 and 403 come before anything about what was sent.
#[derive(Debug, Clone)]
pub(crate) struct Authorized<S>(pub Caller, pub PhantomData<S>);

impl<S: RequiredScope + Send + Sync> FromRequestParts<Arc<AppState>> for Authorized<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(S::SCOPE)?;
        Ok(Authorized(caller, PhantomData))
    }
}

/// Who is calling: a token, or anyone when the service has no tokens.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// No tokens are configured: every request may do everything.
    Open,
    /// The token the request presented.
    Token(Token),
}

impl Caller {
    /// Refuses with 403 unless the caller has `scope`.
    pub(crate) fn require(&self, scope: Scope) -> Result<(), ApiError> {
        match self {
            Caller::Open => Ok(()),
            Caller::Token(t) if t.allows(scope) => Ok(()),
            Caller::Token(t) => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("token `{}` does not have the `{}` scope this needs", t.name, scope.code()),
            )
            .with("required_scope", scope.code())),
        }
    }

    /// Refuses with 403 unless the caller may post `event`.
    pub(crate) fn require_event(&self, event: &str) -> Result<(), ApiError> {
        self.require(Scope::EventsWrite)?;
        match self {
            Caller::Token(t) if !t.allows_event(event) => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("token `{}` may not post `{event}` events", t.name),
            )
            .with("allowed", t.events.clone().unwrap_or_default())),
            _ => Ok(()),
        }
    }

    /// The token's name, to record as the actor when a request names none.
    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            Caller::Open => None,
            Caller::Token(t) => Some(&t.name),
        }
    }

    /// Who acts (an event's `actor`, a lock's `holder`). Without tokens, whoever the request
    /// names. With tokens, the token itself, or an actor it may act for (`acts_for`, e.g. the
    /// clerks of a shared terminal): naming anyone else is refused (403), so no token can pass
    /// another holder's lock or write another name into the history.
    pub(crate) fn actor(&self, named: Option<String>) -> Result<Option<String>, ApiError> {
        match (self, named) {
            (Caller::Open, named) => Ok(named),
            (Caller::Token(t), None) => Ok(Some(t.name.clone())),
            (Caller::Token(t), Some(a)) if a == t.name || t.acts_for.contains(&a) => Ok(Some(a)),
            (Caller::Token(t), Some(a)) => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "token `{}` may not act for `{a}`: it acts as itself or for the names in its `acts_for`",
                    t.name
                ),
            )
            .with(
                "allowed",
                std::iter::once(t.name.clone()).chain(t.acts_for.iter().cloned()).collect::<Vec<_>>(),
            )),
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
        .header(header::WWW_AUTHENTICATE, "Bearer realm=\"orderly\"")
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        if state.config.open() {
            return Ok(Caller::Open);
        }
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized("this needs a token: send `Authorization: Bearer <secret>`"));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <secret>`"))?;
        state
            .config
            .authenticate(presented)
            .map(|t| Caller::Token(t.clone()))
            .ok_or_else(|| unauthorized("the token is not valid"))
    }
}
