//! Pest errors -> diagnostics a merchant can act on: what was expected, in words, what was
//! found, and a did-you-mean when the found word is close to an expected keyword.

use super::Rule;
use crate::diagnostics::{did_you_mean, Code, Diagnostic, Span};
use pest::error::{Error, ErrorVariant, InputLocation};

mod hints;

/// The keywords a rule starts with, when it starts with one.
fn leading_words(rule: Rule) -> &'static [&'static str] {
    match rule {
        Rule::next_item | Rule::file => super::ITEM_KEYWORDS,
        Rule::status_decl => &["status"],
        Rule::customer_label => &["customer"],
        Rule::final_mark => &["final"],
        Rule::set_flag | Rule::set_field => &["set"],
        Rule::clear_flag => &["clear"],
        Rule::record_action => &["record"],
        Rule::start_timer | Rule::start_rule => &["start"],
        Rule::cancel_timer => &["cancel"],
        Rule::send_webhook | Rule::send_email => &["send"],
        Rule::run_hook => &["run"],
        Rule::emit_event => &["emit"],
        Rule::assign => &["assign"],
        Rule::add_note | Rule::note_opt => &["note"],
        Rule::pick_lines => &["pick"],
        Rule::invoice => &["invoice"],
        Rule::require_clause => &["require"],
        Rule::refuse_rule => &["refuse"],
        Rule::state_complete => &["complete"],
        Rule::state_partial => &["partial"],
        Rule::notify_opt => &["notify"],
        Rule::contact_opt => &["contact"],
        Rule::visible_opt => &["visible"],
        Rule::hidden_opt => &["hidden"],
        Rule::guard | Rule::channel_conds => &["when"],
        Rule::target => &["go", "stay"],
        Rule::go_to => &["go"],
        Rule::stay => &["stay"],
        Rule::mode_cond => &["mode"],
        Rule::method_cond => &["paid"],
        Rule::outcome_cond => &["payment"],
        Rule::unpaid_cond => &["unpaid"],
        _ => &[],
    }
}

/// Describes a rule the parser expected, in the words of docs/language.md.
fn describe(rule: Rule) -> String {
    let name = format!("{rule:?}");
    if let Some(word) = name.strip_prefix("K_") {
        return format!("`{word}`");
    }
    match rule {
        Rule::EOI => "the end of the file".into(),
        Rule::ident | Rule::name | Rule::ident_list => "a name".into(),
        Rule::path => "a field such as `order.total`".into(),
        Rule::string => "a quoted text".into(),
        Rule::duration => "a duration such as `30m`".into(),
        Rule::number => "a number".into(),
        Rule::switch => "`on` or `off`".into(),
        Rule::type_name => "a type (`text`, `money`, `number`, `bool`, ...)".into(),
        Rule::cmp_op => "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`)".into(),
        Rule::add_op | Rule::mul_op => "an operator (`+`, `-`, `*`, `/`)".into(),
        Rule::optional_mark => "`?`".into(),
        Rule::expr
        | Rule::paren
        | Rule::code
        | Rule::bool_lit
        | Rule::aggregate
        | Rule::hook_guard
        | Rule::list
        | Rule::not_op
        | Rule::neg_op
        | Rule::agg_kind => "an expression".into(),
        Rule::in_tail => "`in [..]`".into(),
        Rule::text_tail | Rule::text_op => "`starts with`, `ends with` or `contains`".into(),
        Rule::and_op => "`and`".into(),
        Rule::or_op => "`or`".into(),
        Rule::action_block => "`{` and a list of actions".into(),
        Rule::block_end => "`}`".into(),
        Rule::next_action => "an action (`note`, `set flag`, `record`, `assign to`, ...) or `}`".into(),
        Rule::guard => "`when` and a condition".into(),
        Rule::target | Rule::go_to | Rule::stay => "`go to STATUS` or `stay`".into(),
        Rule::sources | Rule::any_status => "`any status` or a list of statuses".into(),
        Rule::customer_label => "`customer sees`".into(),
        Rule::final_mark => "`final`".into(),
        Rule::channel_conds => "`when` and a condition".into(),
        Rule::setting => "a setting such as `auto_pick = on`".into(),
        Rule::field_decl => "a field such as `amount: money`".into(),
        Rule::status_decl => "`status`".into(),
        _ => name.replace('_', " "),
    }
}

/// Punctuation worth naming when pest expected it.
const PUNCTUATION: &[&str] =
    &["{", "}", "(", ")", "[", "]", "=", ":", ",", "->", "?", "==", "!=", "<", "<=", ">", ">="];

/// A punctuation token pest expected, in backticks; whitespace, comments and characters
/// inside names are left out.
fn token_text(t: &impl std::fmt::Display) -> Option<String> {
    let text = t.to_string();
    PUNCTUATION.contains(&text.as_str()).then(|| format!("`{text}`"))
}

/// The word or character at `at`, for "found ..." and did-you-mean.
fn found_at(rest: &str, at: usize) -> (String, usize) {
    let tail = rest.get(at..).unwrap_or("");
    let word: String = tail.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    if !word.is_empty() {
        let len = word.len();
        return (word, len);
    }
    match tail.chars().next() {
        None => (String::new(), 0),
        Some(c) => (c.to_string(), c.len_utf8()),
    }
}

/// What the parser was reading when it met a mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    /// A top-level item (`status`, `on`, `channel`, ...).
    Item,
    /// One statement of an action block (`note`, `assign to`, `send email`, ...).
    Statement,
}

/// Turns a pest error on the file from byte `base` on into a diagnostic.
pub(super) fn syntax_error(error: &Error<Rule>, source: &str, base: usize, level: Level) -> Diagnostic {
    let rest = &source[base..];
    let at = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    if let Some(d) = unterminated_text(source, base + at) {
        return d;
    }
    if let ErrorVariant::CustomError { message } = &error.variant {
        // pest stops on its call or stack limit rather than overflowing the stack.
        let (_, len) = found_at(rest, at);
        let span = Span::new(base + at, base + at + len);
        let text = if message.contains("limit") { "this is nested too deeply" } else { message.as_str() };
        return Diagnostic::error(Code::TooDeep, text.to_string(), span)
            .with_label("the parser gave up here")
            .with_help("split the condition, or remove parentheses that are not needed");
    }
    let mut expected: Vec<String> = Vec::new();
    let mut keywords: Vec<&'static str> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for r in positives {
            let words = leading_words(*r);
            let mut described: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
            keywords.extend(words.iter().copied());
            if words.is_empty() {
                if let Some(word) = keyword_text(*r) {
                    keywords.push(word);
                }
                described.push(describe(*r));
            }
            for d in described {
                if !expected.contains(&d) {
                    expected.push(d);
                }
            }
        }
    }
    // Punctuation the parser would have taken at this point (`{`, `=`, `,` ...) comes from the
    // parse attempts, which pest records when error detail is on.
    if let Some(attempts) = error.parse_attempts() {
        if attempts.max_position == at {
            for t in attempts.expected_tokens() {
                if let Some(text) = token_text(&t) {
                    let is_comparison =
                        ["`==`", "`!=`", "`<`", "`<=`", "`>`", "`>=`"].contains(&text.as_str());
                    let said = is_comparison && expected.iter().any(|e| e.starts_with("a comparison"));
                    if !expected.contains(&text) && !said {
                        expected.push(text);
                    }
                }
            }
        }
    }
    collapse_operands(&mut expected);
    let (found, len) = found_at(rest, at);
    let span = Span::new(base + at, base + at + len.max(if found.is_empty() { 0 } else { 1 }));
    let found_text = match found.as_str() {
        "" => "end of file".to_string(),
        "\n" | "\r" => "end of line".to_string(),
        _ => format!("`{found}`"),
    };
    let message = format!("unexpected {found_text}");
    let expected_text = match expected.as_slice() {
        [] => "something else".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    let at_item_start = level == Level::Item && keywords.len() >= super::ITEM_KEYWORDS.len();
    if let Some(d) = hints::spaced_duration(source, base + at, &found) {
        return d;
    }
    let label = if at_item_start {
        "expected the start of an item (`status`, `event`, `on`, `channel`, ...)".to_string()
    } else {
        format!("expected {expected_text}")
    };
    let mut d = Diagnostic::error(Code::Syntax, message, span).with_label(label);
    if found.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !found.is_empty() {
        d = d.with_help_opt(
            did_you_mean(&found, keywords.iter().copied()).map(|k| format!("did you mean `{k}`?")),
        );
    }
    if found == "=" && expected.iter().any(|e| e.contains("comparison")) {
        d = d.with_help("to compare two values write `==`");
    }
    let wants_name = expected.iter().any(|e| e == "a name");
    if d.help.is_empty() && wants_name && RESERVED.contains(&found.as_str()) {
        d = d.with_help(format!(
            "`{found}` is a reserved word and cannot be a name; pick another, e.g. `{found}_status`"
        ));
    }
    let wants_duration = expected.iter().any(|e| e.starts_with("a duration"));
    if d.help.is_empty() && wants_duration && !found.is_empty() && found.chars().all(|c| c.is_ascii_digit()) {
        d = d.with_help(format!("write the number and its unit together, e.g. `{found}m` or `{found}h`"));
    }
    if d.help.is_empty() {
        d = hints::misplaced(d, source, base + at, &found);
    }
    if d.help.is_empty() && at_item_start && !found.is_empty() {
        d = d.with_help_opt(
            did_you_mean(&found, KEYWORD_WORDS.iter().copied()).map(|k| format!("did you mean `{k}`?")),
        );
    }
    if d.help.is_empty() && level == Level::Statement {
        d = d.with_help(statement_shape(rest));
    }
    if d.help.is_empty() {
        d = d.with_help(shape_of(rest, at_item_start));
    }
    d
}

/// Where any value may stand, pest lists every kind of operand: say "a value" once instead.
fn collapse_operands(expected: &mut Vec<String>) {
    const OPERANDS: &[&str] = &[
        "an expression",
        "a name",
        "a quoted text",
        "a duration such as `30m`",
        "a number",
        "a field such as `order.total`",
        "`hook`",
        "`not`",
        "`(`",
        "`-`",
        "`all`",
        "`any`",
        "`count`",
        "`sum`",
        "`true`",
        "`false`",
    ];
    let Some(first) = expected.iter_mut().find(|e| *e == "an expression") else { return };
    // Not an operand itself, so the first place stays.
    *first =
        "a value (a field such as `order.total`, a number such as `20.00`, a quoted text, a duration such as `30m`, ...)"
            .into();
    expected.retain(|e| !OPERANDS.contains(&e.as_str()));
}

/// A text whose closing quote is missing on the line of `at`: reported at its opening quote.
fn unterminated_text(source: &str, at: usize) -> Option<Diagnostic> {
    let at = at.min(source.len());
    // An error at a line's end belongs to that line.
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[at..].find('\n').map_or(source.len(), |i| at + i);
    let line = &source[line_start..line_end];
    let mut open = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (open, c) {
            (None, '#') => break,
            (None, '"') => open = Some(i),
            (Some(_), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(_), '"') if !escaped => open = None,
            _ => {}
        }
        escaped = false;
    }
    let open = line_start + open?;
    (open <= at).then(|| {
        Diagnostic::error(Code::Syntax, "this text is not closed", Span::new(open, open + 1))
            .with_label("the text starts here and runs to the end of the line")
            .with_help("end it with `\"` on the same line: a text cannot run over several lines")
    })
}

/// How a statement of an action block is written, from its first word, as a help line.
fn statement_shape(rest: &str) -> String {
    let first: String =
        rest.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let shape = match first.as_str() {
        "set" => "set flag NAME` or `set attributes.NAME = EXPRESSION",
        "clear" => "clear flag NAME",
        "record" => {
            "record \"Action\" [complete | partial] [notify EXPR] [note EXPR] [contact EXPR] \
             [visible to customer | hidden from customer]"
        }
        "start" => "start timer NAME",
        "cancel" => "cancel timer NAME",
        "send" => "send webhook NAME [with hook \"file.rhai\"]` or `send email to customer template \"NAME\" [subject \"...\"]",
        "run" => "run hook \"file.rhai\"",
        "emit" => "emit EVENT",
        "assign" => "assign to queue \"NAME\"` or `assign to EXPRESSION",
        "note" => "note EXPRESSION",
        "pick" => "pick",
        "invoice" => "invoice",
        _ => {
            let hint = did_you_mean(&first, super::ACTION_KEYWORDS.iter().copied())
                .map(|k| format!("did you mean `{k}`? "))
                .unwrap_or_default();
            return format!(
                "{hint}an action block holds actions: `set flag`, `clear flag`, `set attributes.NAME = ...`, \
                 `record`, `note`, `assign to`, `send webhook`, `send email`, `run hook`, `emit`, \
                 `start timer`, `cancel timer`, `pick` and `invoice`"
            );
        }
    };
    format!("this reads `{shape}`")
}

/// How the item being read is written, as a help line.
fn shape_of(rest: &str, at_item_start: bool) -> String {
    if at_item_start {
        return "a workflow file holds items that start with `workflow`, `phase`, `status`, `flag`, \
                `attribute`, `event`, `webhook`, `fulfillment actions`, `settings`, `channel`, `on`, \
                `automatically`, `timer` or `renamed`"
            .to_string();
    }
    let first: String =
        rest.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let shape = match first.as_str() {
        "workflow" => "workflow NAME \"Title\"",
        "phase" => "phase CODE \"Label\" { status ... }",
        "status" => "status CODE \"Staff label\" [customer sees \"Customer label\"] [final]",
        "flag" => "flag NAME \"what it means\"",
        "attribute" => "attribute NAME: text|money|number|bool|time|duration \"what it holds\"",
        "event" => {
            "event NAME [is shipment|payment|receipt] [\"description\"] [{ field: type  other: type? }]"
        }
        "webhook" => "webhook NAME \"description\"",
        "fulfillment" => "fulfillment actions { \"Payment received\" \"Picked\" ... }",
        "settings" => "settings { auto_pick = on  lock_lease = 15m }",
        "channel" => {
            "channel CODE { require FIELD, ... [when|unless mode MODE]  start in STATUS when paid by METHOD and payment is OUTCOME }"
        }
        "automatically" => "automatically from STATUS, ... when CONDITION go to STATUS [{ actions }]",
        "timer" => "timer NAME after 30m [in STATUS, ...] [go to STATUS | stay] [{ actions }]",
        "renamed" => "renamed OLD_STATUS -> NEW_STATUS",
        _ => "on EVENT from STATUS, ... [when CONDITION] go to STATUS [{ actions }]",
    };
    format!("this reads `{shape}`")
}

/// The word a keyword rule matches.
fn keyword_text(rule: Rule) -> Option<&'static str> {
    let name = format!("{rule:?}");
    let word = name.strip_prefix("K_")?;
    KEYWORD_WORDS.iter().copied().find(|w| *w == word)
}

/// Words the grammar reserves (its `reserved` rule): they cannot be names.
const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "any", "all", "count", "sum", "true", "false", "hook", "from", "to", "when",
    "go", "stay", "entering", "leaving", "created", "lines", "line",
];

/// Every keyword's text, for did-you-mean (the grammar's `K_*` rules).
const KEYWORD_WORDS: &[&str] = &[
    "workflow",
    "phase",
    "status",
    "customer",
    "sees",
    "final",
    "flag",
    "attribute",
    "event",
    "is",
    "webhook",
    "fulfillment",
    "actions",
    "settings",
    "channel",
    "require",
    "start",
    "refuse",
    "in",
    "mode",
    "paid",
    "by",
    "payment",
    "unpaid",
    "on",
    "from",
    "any",
    "when",
    "go",
    "to",
    "stay",
    "automatically",
    "timer",
    "after",
    "entering",
    "leaving",
    "created",
    "renamed",
    "set",
    "clear",
    "record",
    "complete",
    "partial",
    "notify",
    "note",
    "contact",
    "visible",
    "hidden",
    "cancel",
    "send",
    "email",
    "template",
    "subject",
    "with",
    "run",
    "hook",
    "emit",
    "assign",
    "queue",
    "pick",
    "invoice",
    "and",
    "or",
    "not",
    "all",
    "count",
    "sum",
    "lines",
    "true",
    "false",
    "starts",
    "ends",
    "contains",
    "unless",
    "invoiced",
    "full",
];
