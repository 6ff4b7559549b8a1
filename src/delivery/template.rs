//! Email templates: `workflows/templates/NAME.txt` (the text body, required) and, beside it,
//! `NAME.html` (an HTML alternative, optional), written in Jinja syntax (minijinja). A template
//! sees what the message carries: `order` (the order after the event: number, customer,
//! addresses, lines, shipments, fulfillment actions, totals, attributes), `event` (its name),
//! `data` (its data) and `subject`. The subject is a template too.

use minijinja::Environment;
use serde_json::Value;
use std::path::Path;

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The text body.
    pub text: String,
    /// The HTML body, when the template has one.
    pub html: Option<String>,
}

/// A template name is a plain file stem: no path separators, no dots, so a workflow cannot
/// make the service read files outside the templates folder.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Renders template `name` from `dir` for a message with this `payload` (the outbox payload:
/// `{"event", "data", "order"}`) and `subject` (`None`: "Your order NUMBER").
pub fn render(dir: &Path, name: &str, subject: Option<&str>, payload: &Value) -> Result<Rendered, String> {
    if !valid_name(name) {
        return Err(format!("`{name}` is not a template name (letters, digits, `_` and `-` only)"));
    }
    let text_path = dir.join(format!("{name}.txt"));
    let text_source = std::fs::read_to_string(&text_path)
        .map_err(|e| format!("email template `{}` cannot be read: {e}", text_path.display()))?;
    let html_path = dir.join(format!("{name}.html"));
    let html_source = match std::fs::read_to_string(&html_path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("email template `{}` cannot be read: {e}", html_path.display())),
    };
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    let subject_source = subject.unwrap_or("Your order {{ order.number }}");
    let context = minijinja::context! {
        order => payload.get("order").cloned().unwrap_or(Value::Null),
        event => payload.get("event").cloned().unwrap_or(Value::Null),
        data => payload.get("data").cloned().unwrap_or(Value::Null),
    };
    let subject = env
        .render_str(subject_source, &context)
        .map_err(|e| format!("the subject `{subject_source}` does not render: {e}"))?;
    let context = minijinja::context! { subject => subject.clone(), ..context };
    let render = |file: &Path, source: &str| {
        env.render_str(source, &context).map_err(|e| {
            let line = e.line().map(|l| format!(":{l}")).unwrap_or_default();
            format!("email template `{}{line}` does not render: {e}", file.display())
        })
    };
    let text = render(&text_path, &text_source)?;
    let html = html_source.map(|s| render(&html_path, &s)).transpose()?;
    Ok(Rendered { subject: subject.trim().to_string(), text, html })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload() -> Value {
        json!({
            "event": "shipment",
            "data": {"tracking_number": "1Z999"},
            "order": {"number": "ORD000007", "customer": {"first_name": "Ann"}, "lines": [{"sku": "GTR-1", "qty": "1"}]}
        })
    }

    #[test]
    fn text_html_and_subject_render_from_the_payload() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("shipped.txt"),
            "Hi {{ order.customer.first_name }},\n{% for l in order.lines %}{{ l.sku }} x{{ l.qty }}\n{% endfor %}Tracking: {{ data.tracking_number }}\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("shipped.html"), "<p>{{ subject }}</p>").expect("write");
        let r = render(dir.path(), "shipped", Some("Order {{ order.number }} shipped"), &payload())
            .expect("renders");
        assert_eq!(r.subject, "Order ORD000007 shipped");
        assert_eq!(r.text, "Hi Ann,\nGTR-1 x1\nTracking: 1Z999\n");
        assert_eq!(r.html.as_deref(), Some("<p>Order ORD000007 shipped</p>"));
        let r = render(dir.path(), "shipped", None, &payload()).expect("renders");
        assert_eq!(r.subject, "Your order ORD000007");
    }

    #[test]
    fn missing_templates_broken_syntax_and_path_tricks_are_errors() {
        let dir = tempfile::tempdir().expect("dir");
        let e = render(dir.path(), "nope", None, &payload()).expect_err("missing");
        assert!(e.contains("nope.txt"), "{e}");
        std::fs::write(dir.path().join("bad.txt"), "line one\n{% for x in %}\n").expect("write");
        let e = render(dir.path(), "bad", None, &payload()).expect_err("broken");
        assert!(e.contains("bad.txt:2"), "{e}");
        let e = render(dir.path(), "../etc/passwd", None, &payload()).expect_err("not a name");
        assert!(e.contains("not a template name"), "{e}");
    }
}
