//! The functions a script calls to ask for effects (`note("...")`, `webhook("crm", #{...})`,
//! `create_related_order(#{...})`, ...) and `decimal(...)`, and the conversion of what an action
//! hook returns into the engine's [`Effect`]s.
//!
//! An effect function only builds a value: nothing happens until the hook returns it and the
//! engine applies it, in the same transaction as the event. Arguments are checked when the
//! function is called, so a wrong argument is an error at the line of the call.

use super::view::{describe, to_json};
use crate::engine::{Effect, FulfillmentActionInput, NewOrder};
use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position};
use rust_decimal::Decimal;
use std::str::FromStr;

/// An effect as a script value (type name `Effect`).
#[derive(Debug, Clone)]
pub(crate) struct EffectValue(pub(crate) Effect);

type Res<T> = Result<T, Box<EvalAltResult>>;

fn fail<T>(message: impl Into<String>) -> Res<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(Dynamic::from(message.into()), Position::NONE)))
}

fn effect(e: Effect) -> Res<EffectValue> {
    Ok(EffectValue(e))
}

fn json(what: &str, v: &Dynamic) -> Res<serde_json::Value> {
    to_json(v).or_else(|e| fail(format!("{what}: {e}")))
}

fn json_map(what: &str, m: Map) -> Res<serde_json::Map<String, serde_json::Value>> {
    match json(what, &Dynamic::from_map(m))? {
        serde_json::Value::Object(m) => Ok(m),
        _ => unreachable!("a map is a JSON object"),
    }
}

fn non_empty(what: &str, s: &str) -> Res<String> {
    if s.trim().is_empty() {
        fail(format!("{what} is empty"))
    } else {
        Ok(s.to_string())
    }
}

/// `record_action`'s options: `complete`, `notify`, `note`, `contact`, `visible`.
fn action(name: &str, options: Map) -> Res<EffectValue> {
    let mut input =
        FulfillmentActionInput { name: Some(non_empty("the action's name", name)?), ..Default::default() };
    for (key, value) in options {
        let text = || -> Res<Option<String>> {
            match value.clone().into_immutable_string() {
                Ok(s) => Ok(Some(s.to_string())),
                Err(_) => fail(format!("record_action: `{key}` must be text, not {}", describe(&value))),
            }
        };
        let flag = || -> Res<Option<bool>> {
            match value.as_bool() {
                Ok(b) => Ok(Some(b)),
                Err(_) => {
                    fail(format!("record_action: `{key}` must be true or false, not {}", describe(&value)))
                }
            }
        };
        match key.as_str() {
            "complete" => input.complete = flag()?,
            "visible" => input.visible = flag()?,
            "notify" => input.notify = text()?,
            "note" => input.note = text()?,
            "contact" => input.contact = text()?,
            other => {
                return fail(format!(
                    "record_action: unknown option `{other}`; the options are complete, notify, note, contact, visible"
                ))
            }
        }
    }
    effect(Effect::RecordAction { action: input })
}

/// `decimal(x)`: a decimal from text (`"240.00"`), an integer or a decimal.
fn decimal(v: Dynamic) -> Res<Decimal> {
    if let Ok(i) = v.as_int() {
        return Ok(Decimal::from(i));
    }
    if let Some(d) = v.read_lock::<Decimal>() {
        return Ok(*d);
    }
    if let Some(s) = v.read_lock::<ImmutableString>() {
        let t = s.trim();
        return Decimal::from_str(t).or_else(|_| fail(format!("decimal: `{t}` is not a number")));
    }
    fail(format!("decimal: expected text or a number, not {}", describe(&v)))
}

/// Registers the effect type and the API functions.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<EffectValue>("Effect");
    engine.register_fn("to_string", |e: &mut EffectValue| format!("{:?}", e.0));
    engine.register_fn("to_debug", |e: &mut EffectValue| format!("{:?}", e.0));

    engine.register_fn("set_attribute", |name: &str, value: Dynamic| {
        let name = non_empty("the attribute's name", name)?;
        effect(Effect::SetAttribute { value: json(&format!("set_attribute(\"{name}\")"), &value)?, name })
    });
    engine
        .register_fn("set_flag", |name: &str| effect(Effect::SetFlag { name: non_empty("the flag", name)? }));
    engine.register_fn("clear_flag", |name: &str| {
        effect(Effect::ClearFlag { name: non_empty("the flag", name)? })
    });
    engine.register_fn("note", |text: &str| effect(Effect::Note { text: non_empty("the note", text)? }));
    engine.register_fn("record_action", |name: &str| action(name, Map::new()));
    engine.register_fn("record_action", |name: &str, options: Map| action(name, options));
    engine.register_fn("webhook", |target: &str, payload: Map| {
        let target = non_empty("the webhook target", target)?;
        let payload = json(&format!("webhook(\"{target}\") payload"), &Dynamic::from_map(payload))?;
        effect(Effect::Webhook { target, payload })
    });
    engine.register_fn("email", |to: &str, template: &str| {
        effect(Effect::Email {
            to: non_empty("the email address", to)?,
            template: non_empty("the email template", template)?,
            subject: None,
        })
    });
    engine.register_fn("email", |to: &str, template: &str, subject: &str| {
        effect(Effect::Email {
            to: non_empty("the email address", to)?,
            template: non_empty("the email template", template)?,
            subject: Some(subject.to_string()),
        })
    });
    engine.register_fn("emit", |event: &str| {
        effect(Effect::Emit { event: non_empty("the event", event)?, data: serde_json::Map::new() })
    });
    engine.register_fn("emit", |event: &str, data: Map| {
        let event = non_empty("the event", event)?;
        let data = json_map(&format!("emit(\"{event}\") data"), data)?;
        effect(Effect::Emit { event, data })
    });
    engine.register_fn("assign_queue", |q: &str| {
        effect(Effect::AssignQueue { queue: non_empty("the queue", q)? })
    });
    engine.register_fn("assign_person", |p: &str| {
        effect(Effect::AssignPerson { person: non_empty("the person", p)? })
    });
    engine.register_fn("create_related_order", |order: Map| {
        let value = json("create_related_order", &Dynamic::from_map(order))?;
        match serde_json::from_value::<NewOrder>(value) {
            Ok(order) => effect(Effect::CreateRelatedOrder { order: Box::new(order) }),
            Err(e) => fail(format!("create_related_order: {e}")),
        }
    });
    engine.register_fn("decimal", decimal);
}

/// What an action hook returned, as effects: one effect, an array of effects (nested arrays
/// are flattened, `()` items skipped) or `()` for none.
pub(crate) fn effects(v: Dynamic) -> Result<Vec<Effect>, String> {
    let mut out = Vec::new();
    collect(v, &mut out)?;
    Ok(out)
}

fn collect(v: Dynamic, out: &mut Vec<Effect>) -> Result<(), String> {
    if v.is_unit() {
        return Ok(());
    }
    if v.is_array() {
        let items = v.into_array().unwrap_or_default();
        for item in items {
            if !(item.is::<EffectValue>() || item.is_array() || item.is_unit()) {
                return Err(format!("an array holding {}", describe(&item)));
            }
            collect(item, out)?;
        }
        return Ok(());
    }
    if !v.is::<EffectValue>() {
        return Err(describe(&v));
    }
    out.push(v.cast::<EffectValue>().0);
    Ok(())
}
