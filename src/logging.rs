//! The service's log: the subscriber `orderly serve` writes with (human lines or one JSON
//! object per line), and [`clean`], through which every text that comes from outside (an order
//! number, an event name, a refusal that quotes them, an error a webhook receiver sent) goes
//! into a log record.
//!
//! A record is one line whatever a client sends: [`clean`] writes control characters
//! (newlines, carriage returns, terminal escapes, ...), Unicode line and paragraph separators and
//! bidirectional overrides as escapes (`\n`, `\u{1b}`), and a backslash as `\\`, so that no
//! text can end a line and forge the next one, or make one text look like another. JSON lines
//! carry each key once: no field is named `message`, which is the record's own text.

use crate::config::{Config, LogFormat};
use std::fmt;
use tracing_subscriber::fmt::MakeWriter;

/// Text from outside, shown in a log record with control characters escaped (see the module).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clean<'a>(&'a str);

/// `text` as a log record may hold it: [`Clean`].
pub(crate) fn clean(text: &str) -> Clean<'_> {
    Clean(text)
}

/// Whether `c` is written as an escape: control characters, line and paragraph separators,
/// and the marks that reorder text (bidirectional overrides, embeddings and isolates).
fn escaped(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl fmt::Display for Clean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(|c: char| c == '\\' || escaped(c)) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                other => write!(f, "\\u{{{:x}}}", u32::from(other))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// The subscriber for `config` (`log_format`, `log_level`; `RUST_LOG`, when set, wins over
/// `log_level`) writing to `writer`. `ansi`: colours in human lines (a terminal).
pub fn subscriber<W>(config: &Config, writer: W, ansi: bool) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match config.log_format {
        LogFormat::Json => Box::new(builder.json().finish()),
        LogFormat::Human => Box::new(builder.with_ansi(ansi).finish()),
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn control_characters_are_escaped_and_the_rest_is_kept() {
        assert_eq!(clean("ORD000042").to_string(), "ORD000042");
        assert_eq!(clean("café ☕ 注文").to_string(), "café ☕ 注文");
        assert_eq!(
            clean("void\n2026-12-06T00:00:00Z  INFO forged\r\n").to_string(),
            "void\\n2026-12-06T00:00:00Z  INFO forged\\r\\n"
        );
        assert_eq!(clean("a\tb\u{1b}[31mred\u{7f}").to_string(), "a\\tb\\u{1b}[31mred\\u{7f}");
        assert_eq!(clean("x\u{2028}y\u{202e}z\u{85}").to_string(), "x\\u{2028}y\\u{202e}z\\u{85}");
        // A backslash is doubled, so `\n` written by a client is not a newline that was escaped.
        assert_eq!(clean(r"a\nb").to_string(), r"a\\nb");
        assert!(!clean(&"\n".repeat(1000)).to_string().contains('\n'));
    }
}
