//! Webhooks: one POST of a message's JSON body to its target's `url`, signed so the receiver
//! can tell it comes from this service and is fresh.
//!
//! Headers (docs/integrations.md shows how to verify them):
//! - `Content-Type: application/json`
//! - `X-Orderly-Timestamp: <unix seconds>` when the attempt was made
//! - `X-Orderly-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`
//! - `Idempotency-Key: orderly-<message id>`, the same on every attempt of one message
//! - `X-Orderly-Message`, `X-Orderly-Attempt`, `X-Orderly-Order` (the order number) and, when
//!   an event queued the message, `X-Orderly-Event`
//!
//! A 2xx answer delivers the message. Network errors, timeouts, 5xx, 408 and 429 are worth
//! another attempt; any other answer (4xx, a redirect) is final.

use crate::config::WebhookSettings;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

/// How many characters of an error answer's body are kept for the outbox and the history.
const BODY_EXCERPT: usize = 300;

/// Why an attempt did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The HTTP status, when the target answered.
    pub status: Option<i64>,
    /// What went wrong, in words.
    pub error: String,
    /// True when trying again cannot help (a 4xx answer): the message is dead at once.
    pub permanent: bool,
}

impl Failure {
    /// A failure worth another attempt.
    pub(crate) fn transient(error: impl Into<String>) -> Self {
        Failure { status: None, error: error.into(), permanent: false }
    }

    /// A failure no retry can fix.
    pub(crate) fn permanent(error: impl Into<String>) -> Self {
        Failure { status: None, error: error.into(), permanent: true }
    }
}

/// What one webhook attempt sends besides the body.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    /// The outbox message's id (the idempotency key is made from it).
    pub message_id: i64,
    /// This attempt's number, from 1.
    pub attempt: i64,
    /// The order's number.
    pub order_number: &'a str,
    /// The event that queued the message, if one did.
    pub event: Option<&'a str>,
    /// Unix seconds, signed with the body.
    pub timestamp: i64,
}

/// `sha256=<hex>`: the signature of `body` made at `timestamp` with `secret`.
pub(crate) fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// POSTs `body` to the target. `Ok(status)` when it answered 2xx.
pub(crate) async fn send(
    client: &reqwest::Client,
    target: &WebhookSettings,
    request: &Request<'_>,
    body: Vec<u8>,
) -> Result<u16, Failure> {
    let sig = signature(&target.secret, request.timestamp, &body);
    let mut builder = client
        .post(&target.url)
        .timeout(Duration::from_millis(target.timeout_ms))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Orderly-Timestamp", request.timestamp.to_string())
        .header("X-Orderly-Signature", sig)
        .header("Idempotency-Key", format!("orderly-{}", request.message_id))
        .header("X-Orderly-Message", request.message_id.to_string())
        .header("X-Orderly-Attempt", request.attempt.to_string())
        .header("X-Orderly-Order", request.order_number);
    if let Some(event) = request.event {
        builder = builder.header("X-Orderly-Event", event);
    }
    let answer = match builder.body(body).send().await {
        Ok(answer) => answer,
        Err(e) if e.is_timeout() => {
            return Err(Failure::transient(format!("no answer within {} ms", target.timeout_ms)))
        }
        Err(e) => return Err(Failure::transient(describe(&e))),
    };
    let status = answer.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let text = answer.text().await.unwrap_or_default();
    let excerpt: String = text.chars().take(BODY_EXCERPT).collect();
    let code = status.as_u16();
    let retry = status.is_server_error() || code == 408 || code == 429;
    Err(Failure {
        status: Some(i64::from(code)),
        error: if excerpt.trim().is_empty() {
            format!("answered {status}")
        } else {
            format!("answered {status}: {}", excerpt.trim())
        },
        permanent: !retry,
    })
}

/// A reqwest error with its causes, in one line (no URL credentials: targets hold none).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex() {
        // `printf %s '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key`
        let sig = signature("key", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03");
        assert_ne!(sig, signature("key", 1_700_000_001, br#"{"a":1}"#));
        assert_ne!(sig, signature("other", 1_700_000_000, br#"{"a":1}"#));
    }
}
