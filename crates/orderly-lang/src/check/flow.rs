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

fn shadowing(ch: &mut Checker<'_>, d: &Decls, transitions: &[Transition]) {
    // (status, event) -> the first unguarded transition that takes it.
    let mut taken: HashMap<(usize, Option<usize>), &Transition> = HashMap::new();
    // (status, event, guard as written) -> the first transition with that guard: a later one
    // with the same guard never fires, since the earlier one takes every case it would. Guards
    // are numbered by their text (spaces collapsed), so each is hashed once.
    let mut same: HashMap<(usize, Option<usize>, usize), &Transition> = HashMap::new();
    let mut guards: HashMap<String, usize> = HashMap::new();
    for t in transitions {
        let guard_text = t.guard.as_ref().map(|g| {
            let text = ch.source.get(g.span.start..g.span.end).unwrap_or_default();
            let mut collapsed = String::with_capacity(text.len());
            for word in text.split_whitespace() {
                if !collapsed.is_empty() {
                    collapsed.push(' ');
                }
                collapsed.push_str(word);
            }
            let next = guards.len();
            *guards.entry(collapsed).or_insert(next)
        });
        let blocked: Vec<(usize, &Transition, bool)> = t
            .sources
            .iter()
            .filter_map(|s| {
                let by_unguarded = taken.get(&(*s, t.event)).map(|by| (*s, *by, false));
                by_unguarded.or_else(|| {
                    let g = guard_text?;
                    same.get(&(*s, t.event, g)).map(|by| (*s, *by, true))
                })
            })
            .collect();
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
        match guard_text {
            None => {
                for s in &t.sources {
                    taken.entry((*s, t.event)).or_insert(t);
                }
            }
            Some(g) => {
                for s in &t.sources {
                    same.entry((*s, t.event, g)).or_insert(t);
                }
            }
        }
    }
}
