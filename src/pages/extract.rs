//! The pages' own extractors for a path and a form: what axum's would refuse (a path part
//! that is not a number, a form that does not fit, a POST that is not a form) is answered as a
//! page saying so in a sentence, with the pages' headers, never as axum's plain text.

use super::session::Refusal;
use crate::http::error::ErrorCode;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::Form;
use serde::de::DeserializeOwned;

/// A path's parts; one that does not parse is a page that does not exist (404).
pub(crate) struct PagePath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PagePath<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(PagePath(v)),
            Err(_) => Err(Refusal::new(false, ErrorCode::NotFound, "There is no such page.")),
        }
    }
}

/// A form's fields; a form that does not fit says which field and why (422), a body that is
/// not a form says so (415).
pub(crate) struct PageForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for PageForm<T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(v)) => Ok(PageForm(v)),
            Err(e) => {
                use axum::extract::rejection::FormRejection as R;
                Err(match e {
                    R::InvalidFormContentType(_) => Refusal::new(
                        false,
                        ErrorCode::UnsupportedMediaType,
                        "Send the form as a form (application/x-www-form-urlencoded).",
                    ),
                    e @ (R::FailedToDeserializeForm(_) | R::FailedToDeserializeFormBody(_)) => {
                        let why = e.body_text();
                        let why = why
                            .trim_start_matches("Failed to deserialize form body: ")
                            .trim_start_matches("Failed to deserialize form: ");
                        Refusal::new(
                            false,
                            ErrorCode::InvalidBody,
                            format!("The form does not fit this page: {}", crate::limits::shown(why, 200)),
                        )
                    }
                    other => Refusal::new(false, ErrorCode::BadBody, other.body_text()),
                })
            }
        }
    }
}
