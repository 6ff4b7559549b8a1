//! Guard evaluation as a table: `guards/cases.toml` lists guards, the order each is tried on and
//! what it says (true, or false and the explanation the engine gives, or a failing hook, or the
//! checker's refusal). Each guard is compiled into the table's workflow, evaluated and explained
//! through the engine's public API, and then run for real: the event `check` must move the order
//! when the guard holds, and be refused with the same explanation when it does not.

use orderly::check::{compile, Context};
use orderly::diagnostics::Severity;
use orderly::engine::{apply, evaluate, explain, EventInput, Value};
use orderly::hooks::{HookEngine, HookLimits};
use orderly::model::Workflow;
use orderly::order::{Order, Time};
use serde::Deserialize;
use serde_json::Value as J;
use std::collections::BTreeMap;

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/guards/cases.toml");

/// The table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    now: toml::value::Datetime,
    workflow: String,
    #[serde(default)]
    hooks: BTreeMap<String, String>,
    order: toml::Table,
    case: Vec<Case>,
}

/// One row.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    guard: String,
    #[serde(default)]
    order: toml::Table,
    #[serde(default)]
    without: Vec<String>,
    #[serde(default)]
    event: toml::Table,
    #[serde(rename = "is")]
    holds: Option<bool>,
    because: Option<String>,
    error: Option<String>,
    refused: Option<String>,
}

/// What a guard says about an order.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// It holds.
    Holds,
    /// It does not, for this reason.
    False(String),
    /// It cannot be evaluated (a hook failed).
    Error(String),
    /// The checker refuses it, with these diagnostic codes.
    Refused(Vec<String>),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Holds => f.write_str("true"),
            Outcome::False(why) => write!(f, "false because '{why}'"),
            Outcome::Error(e) => write!(f, "an error '{e}'"),
            Outcome::Refused(codes) => write!(f, "refused by the checker ({})", codes.join(", ")),
        }
    }
}

/// What the table says, with its hooks compiled and its base order as JSON.
struct Table {
    file: File,
    hooks: HookEngine,
    now: Time,
    base: J,
}

fn load() -> Table {
    let text = std::fs::read_to_string(CASES).unwrap_or_else(|e| panic!("{CASES}: {e}"));
    let file: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{CASES}: {e}"));
    let hooks = HookEngine::from_sources(file.hooks.clone(), HookLimits::default())
        .unwrap_or_else(|e| panic!("{CASES}: the hooks do not compile: {e:?}"));
    let now = chrono::DateTime::parse_from_rfc3339(&file.now.to_string())
        .unwrap_or_else(|e| panic!("{CASES}: `now`: {e}"))
        .with_timezone(&chrono::Utc);
    let base = json(&toml::Value::Table(file.order.clone()));
    Table { file, hooks, now, base }
}

/// A TOML value as JSON: times as RFC 3339 text.
fn json(v: &toml::Value) -> J {
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(json).collect()),
        toml::Value::Table(t) => J::Object(t.iter().map(|(k, v)| (k.clone(), json(v))).collect()),
    }
}

/// Puts `over` onto `base`: objects field by field, lists of objects item by item (as many
/// items as `over` has), anything else replaced.
fn merge(base: &mut J, over: &J) {
    match (base, over) {
        (J::Object(b), J::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (J::Array(b), J::Array(o)) if b.iter().chain(o).all(J::is_object) => {
            b.truncate(o.len());
            for (slot, v) in b.iter_mut().zip(o) {
                merge(slot, v);
            }
            b.extend(o.iter().skip(b.len()).cloned());
        }
        (b, o) => *b = o.clone(),
    }
}

/// Takes the field at `path` (`payment`, `attributes.deposit`) away.
fn remove(order: &mut J, path: &str) -> Result<(), String> {
    let (parent, last) = match path.rsplit_once('.') {
        Some((p, l)) => (p.split('.').try_fold(&mut *order, |at, k| at.get_mut(k)), l),
        None => (Some(order), path),
    };
    match parent.and_then(J::as_object_mut).and_then(|o| o.remove(last)) {
        Some(_) => Ok(()),
        None => Err(format!("`without` names `{path}`, which the order does not have")),
    }
}

/// The order a case is tried on.
fn order_for(t: &Table, case: &Case) -> Result<Order, String> {
    let mut order = t.base.clone();
    merge(&mut order, &json(&toml::Value::Table(case.order.clone())));
    for path in &case.without {
        remove(&mut order, path)?;
    }
    serde_json::from_value(order).map_err(|e| format!("the order does not read: {e}"))
}

/// What the guard of `case` says, through `evaluate` and `explain`, and what the engine does
/// with the event `check` (which must agree).
fn outcome(t: &Table, case: &Case) -> Result<Outcome, String> {
    let source = format!("{}\non check from open when {} go to done\n", t.file.workflow, case.guard);
    let compiled = compile(&source, &Context::default());
    let Some(w) = compiled.workflow else {
        let codes = compiled
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.code.to_string())
            .collect();
        return Ok(Outcome::Refused(codes));
    };
    let guard = guard_of(&w)?;
    let order = order_for(t, case)?;
    let event = EventInput {
        name: "check".into(),
        data: json(&toml::Value::Table(case.event.clone())).as_object().cloned().unwrap_or_default(),
        actor: None,
    };
    let said = match evaluate(&w, guard, &order, Some(&event), t.now, &t.hooks) {
        Ok(Value::Bool(true)) => Outcome::Holds,
        Ok(Value::Bool(false)) => Outcome::False(explain(&w, guard, &order, Some(&event), t.now, &t.hooks)),
        Ok(other) => return Err(format!("the guard gave {other}, not true or false")),
        Err(e) => Outcome::Error(e),
    };
    // The engine, given the event, must do what the guard says.
    let done = apply(&w, &order, &event, t.now, &t.hooks);
    let agrees = match (&said, &done) {
        (Outcome::Holds, Ok(d)) => d.order.status == "done",
        (Outcome::False(why), Err(r)) => {
            r.code == "no_transition" && r.candidates.iter().map(|c| &c.failed).eq([why])
        }
        (Outcome::Error(e), Err(r)) => r.code == "hook_failed" && r.message == *e,
        _ => false,
    };
    if !agrees {
        let did = match &done {
            Ok(d) => format!("moved the order to `{}`", d.order.status),
            Err(r) => format!("refused it: {r}"),
        };
        return Err(format!("the guard says {said}, but the engine, given the event, {did}"));
    }
    Ok(said)
}

/// The guard of the transition the case added.
fn guard_of(w: &Workflow) -> Result<&orderly::model::Expr, String> {
    let check = w.event_id("check").ok_or("the workflow has no event `check`")?;
    w.transitions
        .iter()
        .find(|t| t.event == Some(check))
        .and_then(|t| t.guard.as_ref())
        .ok_or_else(|| "no guarded transition on `check`".to_string())
}

/// What the case expects, or why the row itself is wrong.
fn expected(case: &Case) -> Result<Outcome, String> {
    match (case.holds, &case.because, &case.error, &case.refused) {
        (Some(true), None, None, None) => Ok(Outcome::Holds),
        (Some(false), Some(why), None, None) => Ok(Outcome::False(why.clone())),
        (None, None, Some(e), None) => Ok(Outcome::Error(e.clone())),
        (None, None, None, Some(code)) => Ok(Outcome::Refused(vec![code.clone()])),
        (Some(false), None, None, None) => Err("says `is = false` without `because`".into()),
        _ => Err("must say one of: `is = true`; `is = false` with `because`; `error`; `refused`".into()),
    }
}

/// Checks one case: `Err` names it and says what differs.
fn check(t: &Table, case: &Case) -> Result<(), String> {
    let fail = |what: String| format!("case `{}` (guard `{}`): {what}", case.name, case.guard);
    let want = expected(case).map_err(fail)?;
    let got = outcome(t, case).map_err(fail)?;
    let same = match (&want, &got) {
        // The case names the code that matters; the checker may say more.
        (Outcome::Refused(want), Outcome::Refused(got)) => want.iter().all(|c| got.contains(c)),
        _ => want == got,
    };
    if same {
        Ok(())
    } else {
        Err(fail(format!("expected {want}, got {got}")))
    }
}

#[test]
fn every_guard_in_the_table_says_what_the_table_says() {
    let t = load();
    let mut names: Vec<&str> = t.file.case.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), t.file.case.len(), "two cases share a name");
    assert!(t.file.case.len() >= 40, "only {} cases", t.file.case.len());
    let failures: Vec<String> = t.file.case.iter().filter_map(|c| check(&t, c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} guard cases fail:\n{}",
        failures.len(),
        t.file.case.len(),
        failures.join("\n")
    );
}

/// Each case can fail: told the wrong answer (the opposite value, another explanation), the
/// check refuses it and names the case.
#[test]
fn every_guard_case_fails_when_it_expects_the_wrong_thing() {
    let t = load();
    for case in &t.file.case {
        let mut wrong = Vec::new();
        let blank = Case { holds: None, because: None, error: None, refused: None, ..case.clone() };
        if case.holds == Some(true) {
            wrong.push(Case { holds: Some(false), because: Some("it does not".into()), ..blank.clone() });
        } else {
            wrong.push(Case { holds: Some(true), ..blank.clone() });
        }
        if let Some(why) = &case.because {
            wrong.push(Case { because: Some(format!("{why}.")), ..case.clone() });
        }
        if let Some(e) = &case.error {
            wrong.push(Case { error: Some(format!("{e}.")), ..case.clone() });
        }
        if case.refused.is_some() {
            wrong.push(Case { refused: Some("no-such-code".into()), ..case.clone() });
        }
        for w in wrong {
            match check(&t, &w) {
                Ok(()) => panic!("case `{}` passes when it expects the wrong thing: {w:?}", case.name),
                Err(e) => assert!(e.contains(&format!("case `{}`", case.name)), "{e}"),
            }
        }
    }
}
