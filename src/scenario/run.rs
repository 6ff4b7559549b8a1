//! Running one scenario: a fresh store, the workflows of its folder, a manual clock; the order
//! created, then each step taken through the [`Service`] exactly as the API would, and what
//! happened (read back from the store) compared with what the file expects.

use super::format::{self, Action, Expect, OutboxExpect, Scenario};
use super::{Failure, Found, Options, Outcome, ScenarioResult};
use crate::diagnostics::did_you_mean;
use crate::engine::{EventInput, Hooks, NewOrder, NoHooks, OutboxMessage, Rejection};
use crate::model::Workflow;
use crate::order::{Order, OrderId, Time};
use crate::registry::{Registry, RegistryError};
use crate::service::{Clock, ManualClock, Service, ServiceError};
use crate::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The workflows' own hooks (rhai), with guard answers the scenario fixes in its `hooks` table
/// taking precedence (to test both ways of a guard without changing the script).
struct ScenarioHooks {
    answers: BTreeMap<String, bool>,
    engine: Option<crate::hooks::HookEngine>,
}

impl Hooks for ScenarioHooks {
    fn guard(
        &self,
        hook: &str,
        order: &Order,
        event: Option<&EventInput>,
        now: Time,
    ) -> Result<bool, String> {
        match (self.answers.get(hook), &self.engine) {
            (Some(answer), _) => Ok(*answer),
            (None, Some(engine)) => engine.guard(hook, order, event, now),
            (None, None) => NoHooks
                .guard(hook, order, event, now)
                .map_err(|e| format!("{e} (a scenario can answer it: `hooks = {{ \"{hook}\" = true }}`)")),
        }
    }

    fn run(
        &self,
        hook: &str,
        order: &Order,
        event: Option<&EventInput>,
        now: Time,
    ) -> Result<Vec<crate::engine::Effect>, String> {
        match &self.engine {
            Some(engine) => engine.run(hook, order, event, now),
            None => NoHooks.run(hook, order, event, now),
        }
    }

    fn payload(
        &self,
        hook: &str,
        order: &Order,
        event: Option<&EventInput>,
        now: Time,
    ) -> Result<serde_json::Value, String> {
        match &self.engine {
            Some(engine) => engine.payload(hook, order, event, now),
            None => NoHooks.payload(hook, order, event, now),
        }
    }
}

/// A refusal, from the engine or from a timer that could not fire.
#[derive(Debug, Clone)]
pub(super) struct Refusal {
    pub(super) code: String,
    /// The whole refusal as printed (message, failing guards, problems).
    pub(super) text: String,
    pub(super) problems: Vec<String>,
    pub(super) allowed_events: Vec<String>,
    /// For the report: the refusal, each failing guard, each problem, the events accepted.
    lines: Vec<String>,
}

impl Refusal {
    fn from_rejection(r: &Rejection) -> Refusal {
        let mut lines = vec![format!("refused: {}: {}", r.code, r.message)];
        for c in &r.candidates {
            lines.push(format!("  guard at line {} `{}` failed: {}", c.line, c.guard, c.failed));
        }
        for p in &r.problems {
            lines.push(format!("  problem: `{}` {}", p.field, p.problem));
        }
        if let Some(status) = &r.status {
            if r.allowed_events.is_empty() {
                lines.push(format!("  in status `{status}` the order accepts no event"));
            } else {
                lines.push(format!(
                    "  in status `{status}` the order accepts: {}",
                    r.allowed_events.join(", ")
                ));
            }
        }
        Refusal {
            code: r.code.to_string(),
            text: r.to_string(),
            problems: r.problems.iter().map(|p| p.field.clone()).collect(),
            allowed_events: r.allowed_events.clone(),
            lines,
        }
    }

    fn from_timer(detail: &serde_json::Value) -> Refusal {
        let s = |k: &str| detail.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
        let text = s("message");
        Refusal {
            code: s("code"),
            lines: vec![format!("timer `{}` could not fire: {text}", s("timer"))],
            text,
            problems: Vec::new(),
            allowed_events: Vec::new(),
        }
    }
}

/// What one step did, read back from the store.
pub(super) struct Observed<'a> {
    pub(super) order: Option<&'a Order>,
    pub(super) workflow: Option<&'a Workflow>,
    pub(super) refusal: Option<Refusal>,
    pub(super) steps: Vec<String>,
    pub(super) outbox: Vec<OutboxMessage>,
    /// What the outbox messages send, built as delivery builds them (only when expected).
    pub(super) leaving: Vec<super::leaves::Leaving>,
    pub(super) notes: Vec<String>,
    pub(super) fired: Vec<String>,
    pub(super) timers: Vec<String>,
    pub(super) replayed: Option<bool>,
    pub(super) now: Time,
    /// For a refused step: what changed anyway.
    pub(super) changed: Vec<String>,
}

/// Where the store's rows were before a step.
#[derive(Default, Clone, Copy)]
struct Mark {
    history: i64,
    outbox: i64,
}

struct Runner {
    service: Service,
    clock: Arc<ManualClock>,
    orders: Vec<OrderId>,
    /// The email templates (`templates/` in the workflows folder).
    templates: PathBuf,
}

/// A problem that is not an expectation: the store failed, the input could not be sent.
type Broken = String;

fn store_failed(e: impl std::fmt::Display) -> Broken {
    format!("the step could not run: {e}")
}

pub(crate) async fn run(found: &Found, options: &Options) -> ScenarioResult {
    let path = &found.path;
    let mut result =
        ScenarioResult { path: path.clone(), name: found.name.clone(), steps: 0, outcome: Outcome::Passed };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            result.outcome = Outcome::Invalid(format!("{}: cannot read: {e}", path.display()));
            return result;
        }
    };
    let scenario = match format::parse(&text) {
        Ok(s) => s,
        Err(e) => {
            result.outcome = Outcome::Invalid(located(path, &text, e.line, e.column, &e.message));
            return result;
        }
    };
    result.steps = scenario.steps.len();
    let dir = match workflows_dir(path, &scenario) {
        Ok(d) => d,
        Err(m) => {
            result.outcome = Outcome::Invalid(format!("{}: {m}", path.display()));
            return result;
        }
    };
    let store = match options.store.open(&found.name).await {
        Ok(s) => s,
        Err(e) => {
            result.outcome = Outcome::Invalid(format!("{}: cannot open a store: {e}", path.display()));
            return result;
        }
    };
    result.outcome = play(path, &text, &scenario, &dir, store.clone()).await;
    store.close().await;
    result
}

/// `path:line:column: message`, then the line itself.
fn located(path: &Path, text: &str, line: Option<usize>, column: Option<usize>, message: &str) -> String {
    let Some(l) = line else { return format!("{}: {message}", path.display()) };
    let mut out = match column {
        Some(c) => format!("{}:{l}:{c}: {message}", path.display()),
        None => format!("{}:{l}: {message}", path.display()),
    };
    if let Some(src) = text.lines().nth(l - 1) {
        out.push_str(&format!("\n{l:>5} | {src}"));
        if let Some(c) = column {
            out.push_str(&format!("\n      | {}^", " ".repeat(c.saturating_sub(1))));
        }
    }
    out
}

/// The folder of workflow files: `workflows` relative to the scenario's folder, or the folder
/// holding the nearest `tests` folder above the scenario, or the scenario's own folder when it
/// holds workflow files.
fn workflows_dir(path: &Path, scenario: &Scenario) -> Result<PathBuf, String> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Some(w) = &scenario.workflows {
        return Ok(dir.join(w));
    }
    let absolute = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
    for a in absolute.ancestors() {
        if a.file_name().is_some_and(|n| n == "tests") {
            if let Some(parent) = a.parent() {
                return Ok(parent.to_path_buf());
            }
        }
    }
    let has_flows = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().any(|e| e.path().extension().is_some_and(|x| x == "flow")))
        .unwrap_or(false);
    if has_flows {
        return Ok(dir);
    }
    Err("cannot tell which workflows to use: put the scenario in a `tests` folder beside the workflow files, \
         or say where they are with `workflows = \"path/to/workflows\"`"
        .into())
}

async fn play(path: &Path, text: &str, scenario: &Scenario, dir: &Path, store: Store) -> Outcome {
    let registry = match Registry::load(dir, &store).await {
        Ok(r) => r,
        Err(RegistryError::Invalid(reports)) => {
            let rendered: String = reports.iter().map(|r| r.render(false)).collect();
            return Outcome::Invalid(format!(
                "{}: the workflows in `{}` have errors (run `orderly check {}`):\n{rendered}",
                path.display(),
                dir.display(),
                dir.display()
            ));
        }
        Err(e) => {
            return Outcome::Invalid(format!(
                "{}: cannot load the workflows in `{}`: {e}",
                path.display(),
                dir.display()
            ))
        }
    };
    if let Err((line, message)) = check_names(text, scenario, &registry) {
        return Outcome::Invalid(located(path, text, line, None, &message));
    }
    let start = match scenario.start {
        Some(m) => m.0,
        None => match format::parse_time(format::DEFAULT_START) {
            Ok(t) => t,
            Err(e) => return Outcome::Invalid(e),
        },
    };
    let clock = Arc::new(ManualClock::new(start));
    let hooks_dir = dir.join("hooks");
    let engine = if hooks_dir.is_dir() {
        match crate::hooks::HookEngine::load(&hooks_dir) {
            Ok(engine) => Some(engine),
            Err(found) => {
                let text: Vec<String> = found.iter().map(ToString::to_string).collect();
                return Outcome::Invalid(format!(
                    "the hooks in `{}` do not compile: {}",
                    hooks_dir.display(),
                    text.join("; ")
                ));
            }
        }
    } else {
        None
    };
    let hooks = Arc::new(ScenarioHooks { answers: scenario.hooks.clone(), engine });
    let service = Service::new(store, registry, clock.clone(), hooks);
    let mut runner = Runner { service, clock, orders: Vec::new(), templates: dir.join("templates") };
    match runner.play(text, scenario).await {
        Ok(None) => Outcome::Passed,
        Ok(Some(f)) => Outcome::Failed(f),
        Err(broken) => Outcome::Failed(Failure {
            at: "the run".into(),
            line: None,
            differences: vec![broken],
            rejection: Vec::new(),
        }),
    }
}

/// The workflow a scenario's order will run under, when it can be told before creating it.
fn workflow_of<'r>(scenario: &Scenario, registry: &'r Registry) -> Option<&'r Workflow> {
    let name = scenario.order.workflow.as_ref().or(scenario.workflow.as_ref());
    match name {
        Some(n) => registry.get(n).map(|a| &*a.workflow),
        None => match registry.with_channel(&scenario.order.channel).as_slice() {
            [one] => Some(&*one.workflow),
            _ => None,
        },
    }
}

/// Checks the names an expectation uses against the workflow, so that a misspelt status or
/// flag is reported as such rather than as a failing scenario.
fn check_names(text: &str, scenario: &Scenario, registry: &Registry) -> Result<(), (Option<usize>, String)> {
    if let Some(name) = &scenario.workflow {
        if registry.get(name).is_none() {
            let names: Vec<&str> = registry.all().map(|a| a.workflow.name.as_str()).collect();
            let hint = did_you_mean(name, names.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err((None, format!("no workflow `{name}` (there are: {}){hint}", names.join(", "))));
        }
    }
    let Some(w) = workflow_of(scenario, registry) else { return Ok(()) };
    let all_hooks: BTreeSet<&str> = w.hook_files.iter().map(String::as_str).collect();
    for hook in scenario.hooks.keys() {
        if !all_hooks.contains(hook.as_str()) {
            return Err((
                None,
                format!(
                    "`hooks`: workflow `{}` uses no hook `{hook}` (it uses: {})",
                    w.name,
                    all_hooks.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let line = |span: std::ops::Range<usize>| Some(format::line_column(text, span.start).0);
    check_expect(w, &scenario.creation_expect()).map_err(|m| {
        (scenario.creation_expect_at().map(|at| format::line_column(text, at).0), format!("[expect]: {m}"))
    })?;
    for (i, s) in scenario.steps.iter().enumerate() {
        check_expect(w, &s.get_ref().expect).map_err(|m| (line(s.span()), format!("step {}: {m}", i + 1)))?;
    }
    Ok(())
}

fn known<'a>(
    what: &str,
    w: &Workflow,
    name: &str,
    names: impl Iterator<Item = &'a str> + Clone,
) -> Result<(), String> {
    if names.clone().any(|n| n == name) {
        return Ok(());
    }
    let hint = did_you_mean(name, names).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
    Err(format!("`{name}` is not {what} of workflow `{}`{hint}", w.name))
}

fn check_expect(w: &Workflow, e: &Expect) -> Result<(), String> {
    let statuses = || w.statuses.iter().map(|s| s.code.as_str());
    for s in e.status.iter().chain(e.steps.iter().flatten()) {
        known("a status", w, s, statuses())?;
    }
    let flags = || {
        w.flags.iter().map(|f| f.name.as_str()).chain(crate::schema::BUILTIN_FLAGS.iter().map(|(n, _)| *n))
    };
    for f in [&e.flags, &e.has_flags, &e.lacks_flags].into_iter().flatten().flatten() {
        known("a flag", w, f, flags())?;
    }
    let timers = || w.timers.iter().map(|t| t.name.as_str());
    for t in [&e.timers, &e.fired].into_iter().flatten().flatten() {
        known("a timer", w, t, timers())?;
    }
    let actions = || w.fulfillment_actions.iter().map(String::as_str);
    for a in e.fulfillment_actions.iter().flatten().map(|a| &a.name).chain(e.visible_actions.iter().flatten())
    {
        known("a fulfillment action", w, a, actions())?;
    }
    let events = || w.events.iter().map(|x| x.name.as_str());
    for ev in e.allowed_events.iter().flatten() {
        known("an event", w, ev, events())?;
    }
    let attributes = || w.attributes.iter().map(|a| a.name.as_str());
    for a in e.attributes.iter().flat_map(BTreeMap::keys) {
        known("an attribute", w, a, attributes())?;
    }
    for m in e.outbox.iter().flatten() {
        if let OutboxExpect::Webhook(t) = m {
            known("a webhook target", w, t, w.webhooks.iter().map(String::as_str))?;
        }
    }
    for m in e.webhooks.iter().flatten() {
        known("a webhook target", w, &m.target, w.webhooks.iter().map(String::as_str))?;
    }
    Ok(())
}

impl Runner {
    fn store(&self) -> &Store {
        self.service.store()
    }

    async fn mark(&self, id: OrderId) -> Result<Mark, Broken> {
        let history = self.store().history(id).await.map_err(store_failed)?;
        let outbox = self.store().outbox(Some(id)).await.map_err(store_failed)?;
        Ok(Mark { history: history.last().map_or(0, |h| h.id), outbox: outbox.last().map_or(0, |m| m.id) })
    }

    /// Plays the scenario; `Ok(Some(..))` is the first step whose expectations failed.
    async fn play(&mut self, text: &str, scenario: &Scenario) -> Result<Option<Failure>, Broken> {
        let with_workflow = |o: &NewOrder| {
            let mut o = o.clone();
            if o.workflow.is_none() {
                o.workflow.clone_from(&scenario.workflow);
            }
            o
        };
        for (i, earlier) in scenario.earlier_orders.iter().enumerate() {
            match self.service.create_order(&with_workflow(earlier)).await {
                Ok(c) => self.orders.push(c.order.id),
                Err(e) => {
                    return Ok(Some(Failure {
                        at: format!("earlier order {} (channel {})", i + 1, earlier.channel),
                        line: None,
                        differences: vec![format!("the earlier order must be created, but: {e}")],
                        rejection: match &e {
                            ServiceError::Rejected(r) => Refusal::from_rejection(r).lines,
                            _ => Vec::new(),
                        },
                    }))
                }
            }
        }

        // Creation.
        let input = with_workflow(&scenario.order);
        let at = format!(
            "creation (channel {}{})",
            input.channel,
            input.mode.as_ref().map(|m| format!(", mode {m}")).unwrap_or_default()
        );
        let count_before = self.store().count_orders().await.map_err(store_failed)?;
        let expect = &scenario.creation_expect();
        let expect_line = scenario.creation_expect_at().map(|at| format::line_column(text, at).0);
        let created = match self.service.create_order(&input).await {
            Ok(c) => c,
            Err(ServiceError::Rejected(r)) => {
                let refusal = Refusal::from_rejection(&r);
                let count_after = self.store().count_orders().await.map_err(store_failed)?;
                let mut changed = Vec::new();
                if count_after != count_before {
                    changed.push("an order was stored".to_string());
                }
                let obs = Observed {
                    order: None,
                    workflow: None,
                    refusal: Some(refusal),
                    steps: Vec::new(),
                    outbox: Vec::new(),
                    leaving: Vec::new(),
                    notes: Vec::new(),
                    fired: Vec::new(),
                    timers: Vec::new(),
                    replayed: None,
                    now: self.clock.now(),
                    changed,
                };
                return Ok(failure(&at, expect_line, expect, &obs));
            }
            Err(ServiceError::Workflow(m)) => {
                return Ok(Some(Failure {
                    at,
                    line: None,
                    differences: vec![format!("the order cannot be created: {m}")],
                    rejection: Vec::new(),
                }))
            }
            Err(e) => return Err(store_failed(e)),
        };
        let id = created.order.id;
        self.orders.push(id);
        if let Some(f) =
            self.observe_and_compare(&at, expect_line, expect, id, Mark::default(), None, None, None).await?
        {
            return Ok(Some(f));
        }

        // Steps.
        for (i, spanned) in scenario.steps.iter().enumerate() {
            let step = spanned.get_ref();
            let at = step.label(i + 1);
            let line = Some(format::line_column(text, spanned.span().start).0);
            let broken =
                |e: Broken| Failure { at: at.clone(), line, differences: vec![e], rejection: Vec::new() };
            match self.step(id, step, &at, line).await {
                Ok(None) => {}
                Ok(Some(f)) => return Ok(Some(f)),
                Err(e) => return Ok(Some(broken(e))),
            }
        }
        Ok(None)
    }

    /// Takes one step and compares what it did with what it expects.
    async fn step(
        &mut self,
        id: OrderId,
        step: &format::Step,
        at: &str,
        line: Option<usize>,
    ) -> Result<Option<Failure>, Broken> {
        let action = step.action()?;
        let mark = self.mark(id).await?;
        let before = self.store().order(id).await.map_err(store_failed)?;
        let (refusal, replayed) = self.take(id, &action).await?;
        let check_unchanged = !matches!(action, Action::Advance(_));
        let before = before.filter(|_| check_unchanged && refusal.is_some());
        self.observe_and_compare(at, line, &step.expect, id, mark, refusal, replayed, before.as_ref()).await
    }

    /// Takes one step: a refusal, whether the event was replayed.
    async fn take(
        &mut self,
        id: OrderId,
        action: &Action,
    ) -> Result<(Option<Refusal>, Option<bool>), Broken> {
        let key = crate::store::OrderKey::Id(id);
        let refused = |e: ServiceError| match e {
            ServiceError::Rejected(r) => Ok(Some(Refusal::from_rejection(&r))),
            other => Err(store_failed(other)),
        };
        match action {
            Action::Event { input, idempotency_key } => {
                match self.service.apply_event(&key, input, idempotency_key.as_deref()).await {
                    Ok(applied) => Ok((None, Some(applied.replayed))),
                    Err(e) => Ok((refused(e)?, None)),
                }
            }
            Action::AddFulfillment(input) => match self.service.add_fulfillment_action(&key, input).await {
                Ok(_) => Ok((None, None)),
                Err(e) => Ok((refused(e)?, None)),
            },
            Action::EditFulfillment(n, input) => {
                match self.service.edit_fulfillment_action(&key, *n, input).await {
                    Ok(_) => Ok((None, None)),
                    Err(e) => Ok((refused(e)?, None)),
                }
            }
            Action::Lock { holder, ttl } => {
                let ttl = match ttl {
                    Some(t) => t.duration,
                    None => {
                        let order = self.service.order(&key).await.map_err(store_failed)?;
                        let lease = self
                            .service
                            .workflow_of(&order)
                            .map(|a| a.workflow.settings.lock_lease)
                            .unwrap_or(std::time::Duration::from_secs(15 * 60));
                        chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(15))
                    }
                };
                match self.service.lock(&key, holder, ttl).await {
                    Ok(_) => Ok((None, None)),
                    Err(e) => Ok((refused(e)?, None)),
                }
            }
            Action::Unlock(holder) => match self.service.unlock(&key, holder).await {
                Ok(_) => Ok((None, None)),
                Err(e) => Ok((refused(e)?, None)),
            },
            Action::Advance(wait) => {
                self.advance(wait.duration).await?;
                Ok((None, None))
            }
        }
    }

    /// Moves the clock by `by`, stopping at each timer that falls due on the way so that every
    /// timer fires at its own time, in order.
    async fn advance(&mut self, by: chrono::Duration) -> Result<(), Broken> {
        let target = self
            .clock
            .now()
            .checked_add_signed(by)
            .ok_or_else(|| format!("advancing the clock by {by} goes past the last date there is"))?;
        for _ in 0..10_000 {
            let mut next: Option<Time> = None;
            for id in &self.orders {
                for t in self.store().timers(*id).await.map_err(store_failed)? {
                    if t.due_at <= target && next.is_none_or(|n| t.due_at < n) {
                        next = Some(t.due_at);
                    }
                }
            }
            let Some(due) = next else { break };
            let now = self.clock.now();
            if due > now {
                self.clock.advance(due - now);
            }
            let fired = self.service.fire_due_timers().await.map_err(store_failed)?;
            if fired == 0 && due <= now {
                break;
            }
        }
        let now = self.clock.now();
        if target > now {
            self.clock.advance(target - now);
        }
        self.service.fire_due_timers().await.map_err(store_failed)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn observe_and_compare(
        &self,
        at: &str,
        line: Option<usize>,
        expect: &Expect,
        id: OrderId,
        mark: Mark,
        mut refusal: Option<Refusal>,
        replayed: Option<bool>,
        before: Option<&Order>,
    ) -> Result<Option<Failure>, Broken> {
        let store = self.store();
        let order =
            store.order(id).await.map_err(store_failed)?.ok_or_else(|| format!("order {id} disappeared"))?;
        let history: Vec<_> = store
            .history(id)
            .await
            .map_err(store_failed)?
            .into_iter()
            .filter(|h| h.id > mark.history)
            .collect();
        let outbox: Vec<_> = store
            .outbox(Some(id))
            .await
            .map_err(store_failed)?
            .into_iter()
            .filter(|m| m.id > mark.outbox)
            .collect();
        let timers = store.timers(id).await.map_err(store_failed)?.into_iter().map(|t| t.name).collect();
        let mut steps = Vec::new();
        let mut notes = Vec::new();
        let mut fired = Vec::new();
        for h in &history {
            let e = &h.entry;
            match e.kind.as_str() {
                "created" | "transition" => {
                    if let Some(to) = &e.to_status {
                        if e.from_status.as_ref() != Some(to) {
                            steps.push(to.clone());
                        }
                    }
                }
                "note" => notes.push(
                    e.detail.get("note").and_then(serde_json::Value::as_str).unwrap_or_default().to_string(),
                ),
                "timer" => fired.push(
                    e.detail.get("timer").and_then(serde_json::Value::as_str).unwrap_or_default().to_string(),
                ),
                "timer_failed" if refusal.is_none() => refusal = Some(Refusal::from_timer(&e.detail)),
                _ => {}
            }
        }
        let mut changed = Vec::new();
        if let Some(before) = before {
            changed = changed_fields(before, &order);
            if !history.is_empty() {
                changed.push("history".into());
            }
            if !outbox.is_empty() {
                changed.push("outbox".into());
            }
        }
        let registry = self.service.registry();
        let workflow = registry.get(&order.workflow).map(|a| &*a.workflow);
        let outbox: Vec<OutboxMessage> = outbox.into_iter().map(|m| m.message).collect();
        let leaving = if expect.webhooks.is_some() || expect.emails.is_some() {
            let hooks = self.service.hooks();
            super::leaves::build(&outbox, &order, hooks.as_ref(), &self.templates, self.clock.now())
        } else {
            Vec::new()
        };
        let obs = Observed {
            order: Some(&order),
            workflow,
            refusal,
            steps,
            leaving,
            outbox,
            notes,
            fired,
            timers,
            replayed,
            now: self.clock.now(),
            changed,
        };
        Ok(failure(at, line, expect, &obs))
    }
}

/// The top-level fields of the order that differ.
fn changed_fields(before: &Order, after: &Order) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return if before == after { Vec::new() } else { vec!["the order".into()] };
    };
    a.iter().filter(|(k, v)| b.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect()
}

/// Compares; `None` when every expectation holds.
fn failure(at: &str, line: Option<usize>, e: &Expect, obs: &Observed<'_>) -> Option<Failure> {
    let differences = super::compare::differences(e, obs);
    if differences.is_empty() {
        return None;
    }
    let rejection = obs.refusal.as_ref().map(|r| r.lines.clone()).unwrap_or_default();
    Some(Failure { at: at.to_string(), line, differences, rejection })
}
