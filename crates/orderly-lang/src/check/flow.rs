//! The shape of the status graph: statuses nothing reaches, non-final statuses nothing
//! leaves, and transitions an earlier one always takes first.

use super::decls::Decls;
use super::transitions::Broken;
use super::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::model::{Channel, Timer, Transition};
use std::collections::HashMap;

pub(super) fn check(
    ch: &mut Checker<'_>,
    d: &Decls,
    channels: &[Channel],
    transitions: &[Transition],
    timers: &[Timer],
    broken: &[Broken],
) {
    let graph = Graph::new(d.statuses.len(), transitions, timers, broken);
    reachability(ch, d, channels, &graph, timers);
    dead_ends(ch, d, &graph);
    shadowing(ch, d, transitions);
}

/// The status graph as adjacency lists, built once, indexed by status.
struct Graph {
    /// For each status, the statuses its edges lead to.
    next: Vec<Vec<usize>>,
    /// Whether some transition or timer moves orders out of each status.
    leaves: Vec<bool>,
}

impl Graph {
    fn new(statuses: usize, transitions: &[Transition], timers: &[Timer], broken: &[Broken]) -> Self {
        let mut g = Graph { next: vec![Vec::new(); statuses], leaves: vec![false; statuses] };
        // Transitions that did not compile still count as edges, and a broken one with an
        // unknown target counts as a way out, so that one mistake is reported once.
        let edges = transitions
            .iter()
            .map(|t| (t.sources.as_slice(), t.target, t.target.is_some()))
            .chain(broken.iter().map(|b| (b.sources.as_slice(), b.target, true)))
            .chain(timers.iter().map(|t| (t.statuses.as_slice(), t.target, t.target.is_some())));
        for (sources, target, moves) in edges {
            for &s in sources {
                if let (Some(t), Some(next)) = (target, g.next.get_mut(s)) {
                    next.push(t);
                }
                if moves && target != Some(s) {
                    if let Some(leaves) = g.leaves.get_mut(s) {
                        *leaves = true;
                    }
                }
            }
        }
        g
    }
}

fn reachability(ch: &mut Checker<'_>, d: &Decls, channels: &[Channel], graph: &Graph, timers: &[Timer]) {
    let mut reached = vec![false; d.statuses.len()];
    let mut stack: Vec<usize> =
        channels.iter().flat_map(|c| c.rules.iter().filter_map(|r| r.start)).collect();
    if stack.is_empty() {
        return; // no channel at all is reported on its own; every status would be noise
    }
    // Timers without statuses are started by actions: their targets count once anything runs.
    stack.extend(timers.iter().filter(|t| t.statuses.is_empty()).filter_map(|t| t.target));
    while let Some(s) = stack.pop() {
        match reached.get_mut(s) {
            Some(r) if !*r => *r = true,
            _ => continue,
        }
        let next = graph.next.get(s).into_iter().flatten().copied();
        stack.extend(next.filter(|t| reached.get(*t) == Some(&false)));
    }
    for ((status, span), reached) in d.statuses.iter().zip(&d.status_spans).zip(&reached) {
        if !reached {
            ch.report(
                Diagnostic::warning(
                    Code::UnreachableStatus,
                    format!("status `{}` can never be reached", status.code),
                    *span,
                )
                .with_label("no channel starts orders here and no transition leads here")
                .with_help(format!(
                    "add a transition such as `on EVENT from STATUS go to {}`, or remove the status",
                    status.code
                )),
            );
        }
    }
}

fn dead_ends(ch: &mut Checker<'_>, d: &Decls, graph: &Graph) {
    for ((status, span), leaves) in d.statuses.iter().zip(&d.status_spans).zip(&graph.leaves) {
        if status.is_final || *leaves {
            continue;
        }
        ch.report(
            Diagnostic::warning(
                Code::DeadEnd,
                format!("status `{}` is not final but nothing leaves it", status.code),
                *span,
            )
            .with_label("orders that get here stay forever")
            .with_help(format!(
                "mark it `final`, or add a transition such as `on EVENT from {} go to STATUS`",
                status.code
            )),
        );
    }
}

/// What earlier transitions take from one status on one event.
#[derive(Default)]
struct Slot<'t> {
    /// The first transition there with no guard.
    unguarded: Option<&'t Transition>,
    /// The first transition there with each guard.
    guarded: Guarded<'t>,
}

/// The first transition with each guard at a slot. Guards are compared by their text as
/// written (spaces collapsed), which is only built once two guarded transitions meet there.
#[derive(Default)]
enum Guarded<'t> {
    #[default]
    None,
    One(&'t Transition),
    Many(HashMap<String, &'t Transition>),
}

/// A transition's guard as written, spaces collapsed.
fn guard_text(source: &str, t: &Transition) -> String {
    let text = t.guard.as_ref().and_then(|g| source.get(g.span.start..g.span.end)).unwrap_or_default();
    let mut collapsed = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

fn shadowing(ch: &mut Checker<'_>, d: &Decls, transitions: &[Transition]) {
    // (status, event) -> what earlier transitions take there: a later one with no guard never
    // fires after one with no guard, nor a later one with the same guard, since the earlier
    // one takes every case it would.
    let mut slots: HashMap<(usize, Option<usize>), Slot<'_>> = HashMap::new();
    let source = ch.source;
    for t in transitions {
        // This transition's guard text, built when a slot needs it.
        let mut own: Option<String> = None;
        let mut text = || own.get_or_insert_with(|| guard_text(source, t)).clone();
        let mut blocked: Vec<(usize, &Transition, bool)> = Vec::new();
        // Sources are distinct, so each slot is read, then written, once per transition.
        for &s in &t.sources {
            let slot = slots.entry((s, t.event)).or_default();
            let by = match (slot.unguarded, &slot.guarded, &t.guard) {
                (Some(by), _, _) => Some((by, false)),
                (None, Guarded::One(first), Some(_)) => {
                    (guard_text(source, first) == text()).then_some((*first, true))
                }
                (None, Guarded::Many(seen), Some(_)) => seen.get(&text()).map(|by| (*by, true)),
                _ => None,
            };
            if let Some((by, same_guard)) = by {
                blocked.push((s, by, same_guard));
            }
            if t.guard.is_none() {
                slot.unguarded.get_or_insert(t);
                continue;
            }
            slot.guarded = match std::mem::take(&mut slot.guarded) {
                Guarded::None => Guarded::One(t),
                Guarded::One(first) => {
                    let first_text = guard_text(source, first);
                    let own_text = text();
                    if first_text == own_text {
                        Guarded::One(first)
                    } else {
                        Guarded::Many(HashMap::from([(first_text, first), (own_text, t)]))
                    }
                }
                Guarded::Many(mut seen) => {
                    seen.entry(text()).or_insert(t);
                    Guarded::Many(seen)
                }
            };
        }
        if let Some(&(_, by, same_guard)) = blocked.first() {
            let what = match t.event {
                Some(e) => format!("`{}`", d.events.get(e).map_or("?", |e| e.name.as_str())),
                None => "the automatic check".to_string(),
            };
            let earlier = if same_guard {
                "an earlier transition with the same guard"
            } else {
                "an earlier transition with no guard"
            };
            let diag = if blocked.len() == t.sources.len() {
                Diagnostic::warning(Code::UnreachableTransition, "this transition can never fire", t.span)
                    .with_label(format!("{earlier} always takes {what} first"))
            } else {
                let names: Vec<String> = blocked
                    .iter()
                    .map(|(s, _, _)| format!("`{}`", d.statuses.get(*s).map_or("?", |s| s.code.as_str())))
                    .collect();
                Diagnostic::warning(
                    Code::UnreachableTransition,
                    format!("this transition can never fire from {}", names.join(", ")),
                    t.span,
                )
                .with_label(format!("{earlier} always takes {what} there first"))
            };
            let takes = if same_guard {
                format!("takes {what} whenever this guard holds (line {})", by.line)
            } else {
                format!("takes every {what} (line {})", by.line)
            };
            let help = if same_guard {
                "make the guards differ, merge the two transitions' actions into the first, or remove this one"
            } else {
                "give the earlier transition a `when` guard that tells them apart, or move this one above it"
            };
            ch.report(diag.with_note(by.span, takes).with_help(help));
        }
    }
}
