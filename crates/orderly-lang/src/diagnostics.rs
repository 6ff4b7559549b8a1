//! Spans, diagnostics and the did-you-mean helper.
//!
//! Every finding the parser or checker makes is a [`Diagnostic`]: a severity, a stable code, a
//! lowercase message with user input in backticks, a primary span with a label, and help lines.
//! [`Report`] renders them with `codespan-reporting` (file:line:column, the source line, a caret
//! underline) or as JSON for tools.

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};
use serde::Serialize;

pub use crate::code::Code;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub(crate) fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look; the workflow still loads.
    Warning,
    /// The workflow cannot load until it is fixed.
    Error,
}

/// A secondary place in the source the diagnostic points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// Where.
    pub span: Span,
    /// What about it.
    pub label: String,
}

/// One finding about a source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable code, e.g. `unknown-status`, for documentation and tooling.
    pub code: Code,
    /// Lowercase, no final period, user input in backticks.
    pub message: String,
    /// The place the finding is about.
    pub span: Span,
    /// The label under the caret.
    pub label: String,
    /// Other places worth showing.
    pub notes: Vec<Note>,
    /// Help lines: what to do about it.
    pub help: Vec<String>,
}

impl Diagnostic {
    /// A new error at `span`.
    pub fn error(code: Code, message: impl Into<String>, span: Span) -> Self {
        Self::new(Severity::Error, code, message, span)
    }

    /// A new warning at `span`.
    pub(crate) fn warning(code: Code, message: impl Into<String>, span: Span) -> Self {
        Self::new(Severity::Warning, code, message, span)
    }

    fn new(severity: Severity, code: Code, message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            span,
            label: String::new(),
            notes: Vec::new(),
            help: Vec::new(),
        }
    }

    /// Sets the label under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// Adds a help line when there is one.
    pub fn with_help_opt(self, help: Option<String>) -> Self {
        match help {
            Some(h) => self.with_help(h),
            None => self,
        }
    }

    /// Points at another place too.
    pub(crate) fn with_note(mut self, span: Span, label: impl Into<String>) -> Self {
        self.notes.push(Note { span, label: label.into() });
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest candidate to `input`, if one is close enough to be a plausible typo.
///
/// Uses the Damerau-Levenshtein distance (a swap of two letters counts once), compared
/// case-insensitively; the cutoff grows with the length of the input, so `shiped` finds
/// `shipped` but `a` does not find `b`.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let length = input.chars().count();
    let cutoff = match length {
        0..=2 => 1,
        3..=5 => 2,
        _ => 3,
    };
    // The distance is at least the difference in length: a candidate further off than the
    // cutoff is skipped before the distance (whose table grows with both lengths) is computed,
    // so a huge input costs no more than reading it.
    let near = |c: &str| c.chars().count().abs_diff(length) <= cutoff;
    let lowered = input.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != input && near(c))
        .map(|c| (strsim::damerau_levenshtein(&lowered, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= cutoff)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c)
}

/// `did you mean `x`?` as a help line, when there is a close candidate.
pub fn suggestion<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    did_you_mean(input, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The diagnostics for one source file, ready to render.
#[derive(Debug, Clone)]
pub struct Report {
    /// The file's name as shown to the user.
    pub path: String,
    /// The file's text.
    pub source: String,
    /// Findings, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

/// A rendered diagnostic for JSON output: positions resolved to line and column (1-based).
#[derive(Debug, Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    #[serde(flatten)]
    diagnostic: &'a Diagnostic,
}

impl Report {
    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }

    /// Renders every diagnostic as a compiler would: `file:line:col`, the source line, a caret
    /// underline and help lines. With `color`, uses ANSI colours.
    pub fn render(&self, color: bool) -> String {
        let mut files = SimpleFiles::new();
        let id = files.add(self.path.as_str(), self.source.as_str());
        let mut buffer = if color { termcolor::Buffer::ansi() } else { termcolor::Buffer::no_color() };
        let config = term::Config::default();
        for d in &self.diagnostics {
            let cs_diag = to_codespan(d, id, self.source.len());
            // Writing into an in-memory buffer cannot fail for I/O reasons; a failure here would
            // be a span outside the file, which `clamp` rules out.
            if let Err(e) = term::emit(&mut buffer, &config, &files, &cs_diag) {
                buffer_fallback(&mut buffer, d, &e.to_string());
            }
        }
        String::from_utf8_lossy(buffer.as_slice()).into_owned()
    }

    /// Each diagnostic as a JSON object with file, line and column.
    pub fn to_json(&self) -> Vec<serde_json::Value> {
        self.diagnostics
            .iter()
            .map(|d| {
                let (line, column) = line_col(&self.source, d.span.start);
                let (end_line, end_column) = line_col(&self.source, d.span.end);
                serde_json::to_value(JsonDiagnostic {
                    file: &self.path,
                    line,
                    column,
                    end_line,
                    end_column,
                    diagnostic: d,
                })
                .unwrap_or(serde_json::Value::Null)
            })
            .collect()
    }
}

fn buffer_fallback(buffer: &mut termcolor::Buffer, d: &Diagnostic, why: &str) {
    use std::io::Write;
    let _ = writeln!(buffer, "{:?}: {} ({why})", d.severity, d.message);
}

fn clamp(span: Span, len: usize) -> std::ops::Range<usize> {
    let start = span.start.min(len);
    let end = span.end.clamp(start, len);
    start..end
}

fn to_codespan(d: &Diagnostic, file: usize, len: usize) -> cs::Diagnostic<usize> {
    let base = match d.severity {
        Severity::Error => cs::Diagnostic::error(),
        Severity::Warning => cs::Diagnostic::warning(),
    };
    let mut labels = vec![cs::Label::primary(file, clamp(d.span, len)).with_message(&d.label)];
    labels.extend(
        d.notes.iter().map(|n| cs::Label::secondary(file, clamp(n.span, len)).with_message(&n.label)),
    );
    base.with_code(d.code.as_str())
        .with_message(&d.message)
        .with_labels(labels)
        .with_notes(d.help.iter().map(|h| format!("help: {h}")).collect())
}

/// The 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["shipped", "voided", "in_shipping"];
        assert_eq!(did_you_mean("shiped", names), Some("shipped"));
        assert_eq!(did_you_mean("SHIPPED", names), Some("shipped"));
        assert_eq!(did_you_mean("banana", names), None);
        assert_eq!(did_you_mean("vodied", names), Some("voided"));
    }

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let src = "ab\ncé d";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 3), (2, 1));
        assert_eq!(line_col(src, src.len()), (2, 5));
    }
}
