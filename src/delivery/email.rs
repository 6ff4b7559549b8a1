//! Email delivery: an outbox message of kind `email` rendered from its template
//! ([`super::template`]), or as written when staff wrote it, and sent through the SMTP server
//! `[email]` names (lettre). Plain SMTP for a local relay (`tls = false`), STARTTLS otherwise;
//! credentials when a user is given.

use super::template;
use crate::config::EmailSettings;
use crate::engine::OutboxMessage;
use crate::order::Order;
use crate::store::StoredOutbox;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::Path;
use std::time::Duration;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Renders an email message: its template, or for a free-form email staff wrote (no template)
/// the subject and body as written. What the recipient will read.
pub(crate) fn render(templates: &Path, message: &OutboxMessage) -> Result<template::Rendered, String> {
    let Some(name) = message.template.as_deref() else {
        let body = message.payload.get("body").and_then(serde_json::Value::as_str);
        let body = body.ok_or_else(|| "the email message names no template and has no body".to_string())?;
        return Ok(template::Rendered {
            subject: message.subject.clone().unwrap_or_default(),
            text: body.to_string(),
            html: None,
        });
    };
    template::render(templates, name, message.subject.as_deref(), &message.payload)
}

/// Builds the email for `message` from its rendered template.
pub(crate) fn build_rendered(
    settings: &EmailSettings,
    message: &StoredOutbox,
    rendered: template::Rendered,
) -> Result<Message, String> {
    let from: Mailbox = settings
        .from
        .parse()
        .map_err(|e| format!("`[email] from` `{}` is not an address: {e}", settings.from))?;
    let to: Mailbox = message
        .message
        .target
        .trim()
        .parse()
        .map_err(|e| format!("`{}` is not an email address: {e}", message.message.target))?;
    let builder = Message::builder().from(from).to(to).subject(rendered.subject).message_id(Some(format!(
        "<orderly-{}@{}>",
        message.id,
        domain_of(&settings.from)
    )));
    let built = match rendered.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(rendered.text, html)),
        None => builder.singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(rendered.text)),
    };
    built.map_err(|e| format!("the email cannot be built: {e}"))
}

fn domain_of(address: &str) -> &str {
    address.rsplit('@').next().map(|d| d.trim_end_matches('>')).filter(|d| !d.is_empty()).unwrap_or("orderly")
}

/// Renders and sends an email message. `Err` says why, for the outbox and the order's history.
pub async fn send(
    settings: &EmailSettings,
    templates: &Path,
    message: &StoredOutbox,
    _order: &Order,
) -> Result<(), String> {
    send_rendered(settings, message, render(templates, &message.message)?).await
}

/// Sends an email message whose template is rendered already.
pub(crate) async fn send_rendered(
    settings: &EmailSettings,
    message: &StoredOutbox,
    rendered: template::Rendered,
) -> Result<(), String> {
    let email = build_rendered(settings, message, rendered)?;
    let mut transport = if settings.tls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.smtp_host)
            .map_err(|e| format!("SMTP server `{}`: {e}", settings.smtp_host))?
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.smtp_host)
    }
    .port(settings.smtp_port)
    .timeout(Some(SMTP_TIMEOUT));
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    transport
        .build()
        .send(email)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP `{}:{}`: {e}", settings.smtp_host, settings.smtp_port))
}
