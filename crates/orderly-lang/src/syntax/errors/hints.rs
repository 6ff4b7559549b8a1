//! Hints for mistakes that pest alone explains badly: the obvious fix, said in the merchant's
//! words (`30 minutes` -> `30m`, `$2,000`,
//! `paid by a or b`).

use crate::diagnostics::{Code, Diagnostic, Span};

/// Words people write for a duration's unit, and the unit orderly reads.
const UNIT_WORDS: &[(&str, &str)] = &[
    ("s", "s"),
    ("sec", "s"),
    ("secs", "s"),
    ("second", "s"),
    ("seconds", "s"),
    ("m", "m"),
    ("min", "m"),
    ("mins", "m"),
    ("minute", "m"),
    ("minutes", "m"),
    ("h", "h"),
    ("hr", "h"),
    ("hrs", "h"),
    ("hour", "h"),
    ("hours", "h"),
    ("d", "d"),
    ("day", "d"),
    ("days", "d"),
    ("w", "w"),
    ("wk", "w"),
    ("wks", "w"),
    ("week", "w"),
    ("weeks", "w"),
];

/// `30 minutes`, `30 m`, `48 hours`: a number, a space and a unit, where a duration is one word.
pub(super) fn spaced_duration(source: &str, at: usize, found: &str) -> Option<Diagnostic> {
    let unit = UNIT_WORDS.iter().find(|(w, _)| w.eq_ignore_ascii_case(found)).map(|(_, u)| *u)?;
    let before = source[..at].trim_end_matches([' ', '\t']);
    if before.len() == at {
        return None;
    }
    let digits = before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let number_at = before.len() - digits;
    // `2.5 hours`: the digits belong to a decimal number.
    if before[..number_at].ends_with('.')
        || before[..number_at].ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return None;
    }
    let number = &before[number_at..];
    let written = format!("{number}{unit}");
    Some(
        Diagnostic::error(Code::Syntax, format!("a duration is one word: write `{written}`"), Span::new(number_at, at + found.len()))
            .with_label(format!("write `{written}`"))
            .with_help(format!(
                "write the number and its unit together, with no space: `{written}` (units: `s`, `m`, `h`, `d`, `w`)"
            )),
    )
}

/// Help for a word or sign that is valid elsewhere but not where it stands.
pub(super) fn misplaced(d: Diagnostic, source: &str, at: usize, found: &str) -> Diagnostic {
    let line_start = source[..at.min(source.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = source[line_start..].lines().next().unwrap_or_default().trim_start();
    let first = first_word(line);
    let before = source[..at].trim_end();
    let after = &source[(at + found.len()).min(source.len())..];
    match found {
        "or" if matches!(first, "start" | "refuse") => d
            .with_label("list the choices with commas")
            .with_help("in a channel rule, list several choices with commas: `paid by check, cash`"),
        "$" => d.with_help(
            "write amounts as plain numbers, with no currency sign or thousands separator: `2000.00`",
        ),
        "," if before.ends_with(|c: char| c.is_ascii_digit())
            && after.chars().take(3).filter(char::is_ascii_digit).count() == 3 =>
        {
            d.with_help("write amounts as plain numbers, with no thousands separator: `2000.00`")
        }
        _ => d,
    }
}

fn first_word(text: &str) -> &str {
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    &text[..end]
}
