//! Delivery: the worker in `orderly serve` that sends the outbox's messages to other systems
//! after the transactions that queued them commit (never before; never lost after).
//!
//! Each tick ([`Worker::run`], every `[delivery] interval_ms`) the worker claims a few due
//! messages ([`crate::store::Store::claim_outbox`]: the attempt is counted and the message is
//! leased to this process for `lease_seconds`, with `SKIP LOCKED` on PostgreSQL, so with several
//! processes on one database each message is sent by one of them), sends them concurrently and
//! records each outcome, with a `delivery` row in the order's history:
//! - **sent**: a webhook answered 2xx, or the email was handed to the SMTP server;
//! - **retry**: a network error, a timeout, a 5xx (or 408, 429) answer, a failed payload hook:
//!   due again after a backoff with full jitter, a random delay in `[0, min(backoff_max_ms,
//!   backoff_base_ms * 2^(attempt-1))]`;
//! - **dead**: any other answer (4xx), or `max_attempts` attempts: the message is `dead` and, in
//!   the same transaction, the order gets the built-in flag `integration_failed`
//!   ([`Service::outbox_dead`]) so its workflow can react.
//!
//! A process that dies while sending leaves its messages `pending`; they are due again when the
//! lease runs out, and the next attempt carries the same `Idempotency-Key` (delivery is at least
//! once: receivers drop repeats by that key).
//!
//! What is not taken stays `pending`, visible in `GET /v1/outbox`, and keeps its attempts:
//! webhooks to a target missing from `[webhooks]` (the service warns at start), and emails while
//! `[email]` is not configured. Webhooks: [`webhook`]; emails: [`email`] (SMTP) and
//! [`template`]. The time comes from the service's clock ([`Service::now`]), so tests move it.

pub mod email;
pub mod template;
pub(crate) mod webhook;

use crate::config::{Config, DeliverySettings, EmailSettings, WebhookSettings};
use crate::engine::{EventInput, Hooks, MessageKind, OutboxMessage};
use crate::metrics::Metrics;
use crate::order::{Order, Time};
use crate::service::{Service, ServiceError};
use crate::store::{Deliverable, StoredOutbox};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use webhook::Failure;

/// Messages claimed per round.
const BATCH: i64 = 16;

/// Attempts an email gets before it is dead.
pub(crate) const EMAIL_MAX_ATTEMPTS: i64 = 8;

/// The delivery worker. Cheap to clone (the state is shared).
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    service: Arc<Service>,
    webhooks: BTreeMap<String, WebhookSettings>,
    settings: DeliverySettings,
    email: Option<(EmailSettings, PathBuf)>,
    client: reqwest::Client,
    metrics: Option<Arc<Metrics>>,
    deliverable: Deliverable,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("webhooks", &self.inner.webhooks.keys().collect::<Vec<_>>())
            .field("email", &self.inner.email.is_some())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// How one message ended this round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Delivered.
    Sent,
    /// To be tried again.
    Retry,
    /// Given up on; the order is flagged.
    Dead,
    /// Nothing recorded: the message changed meanwhile (reset by the API, taken by another
    /// process after this one's lease ran out).
    Stale,
}

impl Worker {
    /// A worker for the configuration's `[webhooks]`, `[delivery]` and `[email]`.
    pub(crate) fn new(service: Arc<Service>, config: &Config, metrics: Option<Arc<Metrics>>) -> Worker {
        let email = config.email.clone().map(|e| {
            let dir = e.templates_dir(&config.workflows);
            (e, dir)
        });
        Self::with(service, config.webhooks.clone(), config.delivery, email, metrics)
    }

    /// A worker from its parts: webhook targets, pacing, and the email settings with the
    /// templates folder.
    pub fn with(
        service: Arc<Service>,
        webhooks: BTreeMap<String, WebhookSettings>,
        settings: DeliverySettings,
        email: Option<(EmailSettings, PathBuf)>,
        metrics: Option<Arc<Metrics>>,
    ) -> Worker {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("orderly/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let deliverable =
            Deliverable { webhooks: webhooks.keys().cloned().collect(), email: email.is_some() };
        Worker { inner: Arc::new(Inner { service, webhooks, settings, email, client, metrics, deliverable }) }
    }

    /// Webhook targets the active workflows declare but the configuration lacks: their messages
    /// wait in the outbox. Logged as a warning at start.
    pub(crate) fn missing_targets(&self) -> Vec<String> {
        let registry = self.inner.service.registry();
        let mut missing: Vec<String> = registry
            .all()
            .flat_map(|a| a.workflow.webhooks.iter().cloned())
            .filter(|w| !self.inner.webhooks.contains_key(w))
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    /// Claims the messages due now and delivers them, round after round while rounds come back
    /// full; returns how many were handled.
    pub async fn run_once(&self) -> Result<usize, ServiceError> {
        let mut handled = 0;
        loop {
            let now = self.inner.service.now();
            let lease =
                chrono::Duration::seconds(i64::try_from(self.inner.settings.lease_seconds).unwrap_or(60));
            let claimed = self.inner.service.claim_outbox(&self.inner.deliverable, now, lease, BATCH).await?;
            let n = claimed.len();
            let mut tasks = tokio::task::JoinSet::new();
            for message in claimed {
                let worker = self.clone();
                tasks.spawn(async move {
                    let id = message.id;
                    if let Err(e) = worker.deliver(message).await {
                        tracing::error!(message_id = id, error = %crate::logging::clean(&e.to_string()), "recording a delivery failed; the message is due again when its lease runs out");
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
            handled += n;
            if n < BATCH as usize {
                return Ok(handled);
            }
        }
    }

    /// Runs [`Worker::run_once`] every `every` until told to stop (a round in progress finishes).
    pub(crate) async fn run(self, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if let Err(e) = self.run_once().await {
                tracing::error!(error = %e, "delivering outbox messages failed; trying again next tick");
            }
        }
    }

    /// Sends one claimed message and records how it went.
    pub(crate) async fn deliver(&self, message: StoredOutbox) -> Result<Outcome, ServiceError> {
        let service = &self.inner.service;
        let kind = message.message.kind.as_str();
        let target = message.message.target.clone();
        // Metrics label emails by template: addresses would be personal data, and unbounded.
        let label = match message.message.kind {
            MessageKind::Email => message.message.template.clone().unwrap_or_else(|| "email".into()),
            MessageKind::Webhook => target.clone(),
        };
        let started = Instant::now();
        // What this attempt sends, recorded with its outcome (`None` when it got that far).
        let mut sent = None;
        let (result, max_attempts) = match service.store().order(message.order_id).await? {
            None => (Err(Failure::permanent("the order no longer exists")), 1),
            Some(order) => match message.message.kind {
                MessageKind::Webhook => match self.inner.webhooks.get(&target) {
                    Some(settings) => {
                        let hooks = service.hooks();
                        let result =
                            match webhook_body(hooks.as_ref(), &message.message, &order, service.now()) {
                                Ok(body) => {
                                    let result = self.send_webhook(&message, &order, settings, &body).await;
                                    sent = Some(serde_json::json!({ "body": body }));
                                    result
                                }
                                Err(e) => Err(Failure::transient(e)),
                            };
                        (result, i64::from(settings.max_attempts))
                    }
                    None => {
                        (Err(Failure::transient(format!("no `[webhooks.{target}]` is configured"))), i64::MAX)
                    }
                },
                MessageKind::Email => match &self.inner.email {
                    Some((settings, templates)) => {
                        let result = match email::render(templates, &message.message) {
                            Ok(rendered) => {
                                sent = Some(email_sent(&message.message, &rendered));
                                email::send_rendered(settings, &message, rendered).await.map(|()| 0)
                            }
                            Err(e) => Err(e),
                        };
                        (result.map_err(Failure::transient), EMAIL_MAX_ATTEMPTS)
                    }
                    None => (Err(Failure::transient("no `[email]` is configured")), i64::MAX),
                },
            },
        };
        let sent = sent.as_ref();
        let attempt_seconds = started.elapsed().as_secs_f64();
        let now = service.now();
        let metrics = self.inner.metrics.as_deref();
        match result {
            Ok(status) => {
                let status = (status != 0).then_some(i64::from(status));
                if !service.outbox_sent(&message, status, sent, now).await? {
                    return Ok(Outcome::Stale);
                }
                tracing::info!(message_id = message.id, order = message.order_id, kind = %kind, target = %label, attempt = message.attempts, "message delivered");
                if let Some(m) = metrics {
                    let queued = (now - message.created_at).to_std().map_or(0.0, |d| d.as_secs_f64());
                    m.delivery_sent(kind, &label, queued, attempt_seconds);
                }
                Ok(Outcome::Sent)
            }
            Err(f) if f.permanent || message.attempts >= max_attempts => {
                let why = if f.permanent {
                    f.error.clone()
                } else {
                    format!("{} (attempt {} of {max_attempts})", f.error, message.attempts)
                };
                if !service.outbox_dead(&message, f.status, &why, sent).await? {
                    return Ok(Outcome::Stale);
                }
                tracing::warn!(message_id = message.id, order = message.order_id, kind = %kind, target = %label, attempt = message.attempts, error = %crate::logging::clean(&why.to_string()), "message dead: delivery gave up; the order is flagged integration_failed");
                if let Some(m) = metrics {
                    m.delivery_failed(kind, &label, attempt_seconds);
                    m.delivery_dead(kind, &label);
                }
                Ok(Outcome::Dead)
            }
            Err(f) => {
                let delay = backoff(message.attempts, &self.inner.settings);
                let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
                if !service.outbox_retry(&message, f.status, &f.error, sent, next, now).await? {
                    return Ok(Outcome::Stale);
                }
                tracing::info!(message_id = message.id, order = message.order_id, kind = %kind, target = %label, attempt = message.attempts, error = %crate::logging::clean(&f.error), retry_in_ms = delay.as_millis() as u64, "delivery failed; will retry");
                if let Some(m) = metrics {
                    m.delivery_failed(kind, &label, attempt_seconds);
                    m.delivery_retried(kind, &label);
                }
                Ok(Outcome::Retry)
            }
        }
    }

    async fn send_webhook(
        &self,
        message: &StoredOutbox,
        order: &crate::order::Order,
        settings: &WebhookSettings,
        body: &serde_json::Value,
    ) -> Result<u16, Failure> {
        let body = serde_json::to_vec(body)
            .map_err(|e| Failure::permanent(format!("the payload is not JSON: {e}")))?;
        let event = event_name(&message.message);
        let request = webhook::Request {
            message_id: message.id,
            attempt: message.attempts,
            order_number: &order.number,
            event: event.as_deref(),
            timestamp: chrono::Utc::now().timestamp(),
        };
        webhook::send(&self.inner.client, settings, &request, body).await
    }
}

/// The body a webhook message sends: its payload, or, when it names a payload hook, what the
/// hook builds on the order as it is now, seeing the event (name and data) that queued the
/// message. Delivery and `orderly test` both build bodies here.
pub fn webhook_body(
    hooks: &dyn Hooks,
    message: &OutboxMessage,
    order: &Order,
    now: Time,
) -> Result<serde_json::Value, String> {
    let Some(hook) = &message.hook else { return Ok(message.payload.clone()) };
    let input = event_name(message).map(|name| EventInput {
        name,
        data: message.payload.get("data").and_then(|d| d.as_object()).cloned().unwrap_or_default(),
        actor: None,
    });
    crate::service::off_async_workers(|| hooks.payload(hook, order, input.as_ref(), now))
        .map_err(|e| format!("the payload hook failed: {e}"))
}

/// The event that queued a message (messages queued before the `event` column read it from
/// their `{event, data, order}` payload).
pub(crate) fn event_name(message: &OutboxMessage) -> Option<String> {
    message.event.clone().or_else(|| {
        let standard = message.payload.get("order").is_some();
        standard.then(|| message.payload.get("event")?.as_str().map(str::to_string)).flatten()
    })
}

/// What an email attempt sends, for the outbox and the history: recipient, subject and text.
pub(crate) fn email_sent(message: &OutboxMessage, rendered: &template::Rendered) -> serde_json::Value {
    serde_json::json!({
        "to": message.target,
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html.is_some(),
    })
}

/// The delay before attempt `attempt + 1`: full jitter, a random duration in
/// `[0, min(backoff_max_ms, backoff_base_ms * 2^(attempt-1))]`.
pub(crate) fn backoff(attempt: i64, settings: &DeliverySettings) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 62)).unwrap_or(62);
    let ceiling =
        settings.backoff_base_ms.saturating_mul(1u64 << exponent.min(40)).min(settings.backoff_max_ms);
    Duration::from_millis(fastrand::u64(0..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_full_jitter() {
        let s =
            DeliverySettings { interval_ms: 1, backoff_base_ms: 100, backoff_max_ms: 1000, lease_seconds: 1 };
        for _ in 0..200 {
            assert!(backoff(1, &s) <= Duration::from_millis(100));
            assert!(backoff(3, &s) <= Duration::from_millis(400));
            assert!(backoff(30, &s) <= Duration::from_millis(1000));
            assert!(backoff(i64::MAX, &s) <= Duration::from_millis(1000));
        }
        let spread: std::collections::BTreeSet<_> = (0..50).map(|_| backoff(5, &s)).collect();
        assert!(spread.len() > 1, "jitter: {spread:?}");
        let zero = DeliverySettings { backoff_base_ms: 0, ..s };
        assert_eq!(backoff(4, &zero), Duration::ZERO);
    }
}
