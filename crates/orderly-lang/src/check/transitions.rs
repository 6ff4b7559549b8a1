//! Second pass: channels, transitions, status hooks, timers and renames, compiled against the
//! declarations; then the flow checks; then the [`Workflow`] is assembled.

use super::actions::actions;
use super::decls::Decls;
use super::exprs::{self, Scope};
use super::{channels, flow, parse_duration, Checker};
use crate::diagnostics::{Code, Diagnostic};
use crate::model::{self, StatusId, Workflow};
use crate::syntax::ast::{self, HookMoment, Item, Name, Sources, Target};

pub(super) fn compile(ch: &mut Checker<'_>, file: &ast::File, d: Decls) -> Workflow {
    let mut channels_out = Vec::new();
    let mut transitions = Vec::new();
    let mut timers = Vec::new();
    let mut on_enter = vec![Vec::new(); d.statuses.len()];
    let mut on_leave = vec![Vec::new(); d.statuses.len()];
    let mut on_create = Vec::new();
    let mut on_create_from = Vec::new();
    let mut on_invoiced = Vec::new();
    let mut on_paid_in_full = Vec::new();
    let mut renamed = Vec::new();
    let mut broken = Vec::new();

    // The channels `on created from` may name.
    let channel_names: Vec<&str> = file
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Channel(x) => Some(x.code.text.as_str()),
            _ => None,
        })
        .collect();
    for item in &file.items {
        match item {
            Item::Channel(c) => channels_out.push(channels::compile(ch, &d, c)),
            Item::Transition(t) => {
                if let Some(t) = transition(ch, &d, t, &mut broken) {
                    transitions.push(t);
                }
            }
            Item::StatusHook(h) => {
                let place = match h.moment {
                    HookMoment::Entering => "`on entering` actions",
                    HookMoment::Leaving => "`on leaving` actions",
                    HookMoment::Created => "`on created` actions",
                    HookMoment::Invoiced => "`on invoiced` actions",
                    HookMoment::PaidInFull => "`on paid in full` actions",
                };
                let acts = actions(ch, &d, &h.actions, Scope::new(None, place));
                match h.moment {
                    HookMoment::Created if h.statuses.is_empty() => {
                        on_create.extend(acts);
                        continue;
                    }
                    HookMoment::Created => {
                        for c in &h.statuses {
                            if channel_names.contains(&c.text.as_str()) {
                                on_create_from.push((c.text.clone(), acts.clone()));
                            } else {
                                ch.unknown(
                                    Code::UnknownCode,
                                    "channel",
                                    c,
                                    channel_names.iter().copied(),
                                    || format!("declare it: `channel {} {{ start in STATUS }}`", c.text),
                                );
                            }
                        }
                        continue;
                    }
                    HookMoment::Invoiced => {
                        on_invoiced.extend(acts);
                        continue;
                    }
                    HookMoment::PaidInFull => {
                        on_paid_in_full.extend(acts);
                        continue;
                    }
                    HookMoment::Entering | HookMoment::Leaving => {}
                }
                let lists = if h.moment == HookMoment::Entering { &mut on_enter } else { &mut on_leave };
                for s in &h.statuses {
                    if let Some(id) = status(ch, &d, s) {
                        #[expect(
                            clippy::indexing_slicing,
                            reason = "status() gives an index into d.statuses; on_enter and on_leave were made with d.statuses.len() entries above"
                        )]
                        lists[id].extend(acts.iter().cloned());
                    }
                }
            }
            Item::Timer(t) => {
                if let Some(t) = timer(ch, &d, t) {
                    timers.push(t);
                }
            }
            Item::Renamed(r) => {
                if d.status(&r.old.text).is_some() {
                    ch.report(
                        Diagnostic::error(
                            Code::InvalidRename,
                            format!("`{}` is still a status", r.old.text),
                            r.old.span,
                        )
                        .with_label("a renamed status must be gone")
                        .with_help("remove the old status, or this `renamed` line"),
                    );
                } else if let Some(id) = status(ch, &d, &r.new) {
                    if renamed.iter().any(|(old, _): &(String, StatusId)| *old == r.old.text) {
                        ch.report(
                            Diagnostic::error(
                                Code::Duplicate,
                                format!("`{}` is renamed twice", r.old.text),
                                r.old.span,
                            )
                            .with_label("renamed again here")
                            .with_help("keep one `renamed` line per old status"),
                        );
                    } else {
                        renamed.push((r.old.text.clone(), id));
                    }
                }
            }
            _ => {}
        }
    }
    // A channel the parser had to skip is a syntax error already: not a second finding.
    if d.channels.is_empty() && d.workflow.is_some() && !ch.skipped_words.iter().any(|w| w == "channel") {
        let span = file
            .items
            .iter()
            .find_map(|i| if let Item::Workflow(w) = i { Some(w.name.span) } else { None })
            .unwrap_or_default();
        ch.report(
            Diagnostic::error(Code::NoChannel, "the workflow has no channel, so no order can enter it", span)
                .with_label("orders are created through a channel")
                .with_help("add one, e.g. `channel website \"Website\" { start in ready_to_process }`"),
        );
    }
    for t in &timers {
        for (s, status) in t.statuses.iter().filter_map(|s| Some((*s, d.statuses.get(*s)?))) {
            if status.is_final && t.target.is_some_and(|x| x != s) {
                ch.report(
                    Diagnostic::error(
                        Code::LeavesFinal,
                        format!("timer `{}` moves orders out of final status `{}`", t.name, status.code),
                        t.span,
                    )
                    .with_label("final statuses are never left")
                    .with_help("use `stay` with actions, or make the status non-final"),
                );
            }
        }
    }
    if ch.flow {
        flow::check(ch, &d, &channels_out, &transitions, &timers, &broken);
    }

    let (name, title) = d.workflow.clone().unwrap_or_default();
    Workflow {
        name,
        title,
        phases: d.phases,
        statuses: d.statuses,
        events: d.events,
        flags: d.flags,
        attributes: d.attributes,
        webhooks: d.webhooks,
        fulfillment_actions: d.fulfillment_actions,
        hidden_actions: d.hidden_actions,
        settings: d.settings,
        channels: channels_out,
        transitions,
        timers,
        on_enter,
        on_leave,
        on_create,
        on_create_from,
        on_invoiced,
        on_paid_in_full,
        renamed,
        hook_files: std::mem::take(&mut ch.hooks_used),
        hook_refs: std::mem::take(&mut ch.hook_refs),
    }
}

fn status(ch: &mut Checker<'_>, d: &Decls, name: &Name) -> Option<StatusId> {
    let id = d.status(&name.text);
    if id.is_none() {
        ch.unknown(Code::UnknownStatus, "status", name, d.status_names(), || {
            format!("declare it: `status {} \"Label\"`", name.text)
        });
    }
    id
}

fn target(ch: &mut Checker<'_>, d: &Decls, t: &Target) -> Result<Option<StatusId>, ()> {
    match t {
        Target::Stay(_) => Ok(None),
        Target::GoTo(n) => status(ch, d, n).map(Some).ok_or(()),
    }
}

/// A transition that did not compile, kept for the flow checks so that one mistake does not
/// also make its statuses look unreachable or stuck.
pub(super) struct Broken {
    pub(super) sources: Vec<StatusId>,
    pub(super) target: Option<StatusId>,
}

fn transition(
    ch: &mut Checker<'_>,
    d: &Decls,
    t: &ast::TransitionDecl,
    broken: &mut Vec<Broken>,
) -> Option<model::Transition> {
    let mut ok = true;
    let event = match &t.event {
        None => None,
        Some(e) => match d.event(&e.text) {
            Some(id) => Some(id),
            None => {
                ch.unknown(Code::UnknownEvent, "event", e, d.events.iter().map(|e| e.name.as_str()), || {
                    format!("declare it: `event {}`", e.text)
                });
                ok = false;
                None
            }
        },
    };
    let place = if t.event.is_some() { "this transition" } else { "automatic transitions" };
    let scope = Scope::new(event.and_then(|e| d.events.get(e)), place);
    let target = target(ch, d, &t.target);
    let leaves = matches!(t.target, Target::GoTo(_));
    let mut sources = Vec::new();
    match &t.sources {
        Sources::Any(_) => {
            sources.extend(d.statuses.iter().enumerate().filter(|(_, s)| !s.is_final).map(|(id, _)| id))
        }
        Sources::List(names) => {
            for n in names {
                let Some(id) = status(ch, d, n) else {
                    ok = false;
                    continue;
                };
                if leaves && d.statuses.get(id).is_some_and(|s| s.is_final) {
                    ch.report(
                        Diagnostic::error(
                            Code::LeavesFinal,
                            format!("transition out of final status `{}`", n.text),
                            n.span,
                        )
                        .with_label("final statuses are never left")
                        .with_help(format!("remove `{}` from the sources, or make it non-final", n.text)),
                    );
                    ok = false;
                } else if sources.contains(&id) {
                    ch.report(
                        Diagnostic::warning(Code::Duplicate, format!("`{}` is listed twice", n.text), n.span)
                            .with_label("listed again here")
                            .with_help("list each status once"),
                    );
                } else {
                    sources.push(id);
                }
            }
        }
    }
    let guard = match &t.guard {
        Some(g) => match exprs::guard(ch, d, g, scope) {
            Some(g) => Some(g),
            None => {
                ok = false;
                None
            }
        },
        None => None,
    };
    let errors_before = ch.diagnostics.iter().filter(|x| x.is_error()).count();
    let acts = actions(ch, d, &t.actions, scope);
    ok &= ch.diagnostics.iter().filter(|x| x.is_error()).count() == errors_before;
    match (ok, target) {
        (true, Ok(target)) => Some(model::Transition {
            event,
            sources,
            guard,
            target,
            actions: acts,
            span: t.span,
            line: ch.line_of(t.span),
        }),
        (_, target) => {
            // An unknown target is most likely a typo: count the status it was suggested to be
            // as reached, so that the typo is not reported a second time as an unreachable status.
            let guess = match &t.target {
                Target::GoTo(n) => {
                    crate::diagnostics::did_you_mean(&n.text, d.status_names()).and_then(|g| d.status(g))
                }
                Target::Stay(_) => None,
            };
            broken.push(Broken { sources, target: target.ok().flatten().or(guess) });
            None
        }
    }
}

fn timer(ch: &mut Checker<'_>, d: &Decls, t: &ast::TimerDecl) -> Option<model::Timer> {
    let after = match parse_duration(&t.after.text) {
        Ok(dur) => Some(dur),
        Err(e) => {
            ch.report(exprs::duration_error(&t.after.text, &e, t.after.span));
            None
        }
    };
    let statuses: Vec<Option<StatusId>> = t.statuses.iter().map(|s| status(ch, d, s)).collect();
    let target = match &t.target {
        Some(x) => target(ch, d, x),
        None => Ok(None),
    };
    let acts = actions(ch, d, &t.actions, Scope::new(None, "timers"));
    let guard = match &t.guard {
        Some(g) => Some(exprs::guard(ch, d, g, Scope::new(None, "timers"))?),
        None => None,
    };
    Some(model::Timer {
        name: t.name.text.clone(),
        after: after?,
        statuses: statuses.into_iter().collect::<Option<Vec<_>>>()?,
        guard,
        target: target.ok()?,
        actions: acts,
        span: t.span,
    })
}
