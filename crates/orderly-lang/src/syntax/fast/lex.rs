//! The fast path's cursor: tokens read byte by byte exactly as the grammar reads them.
//!
//! Whitespace is pest's `WHITESPACE` (space, tab, carriage return, newline, nothing else) and a
//! comment runs from `#` to the end of its line, as `COMMENT` does. A keyword is a whole word
//! (`K_on = "on" ~ !ident_char`), so reading words and comparing them is the same test. After
//! every token the cursor skips what pest's implicit whitespace would, and remembers where the
//! token ended: spans end at the last token, as `build::span` trims them.

use crate::diagnostics::Span;
use crate::syntax::ast::{Name, Str};

/// Words that are never bare names: the grammar's `reserved`.
const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "any", "all", "count", "sum", "true", "false", "hook", "from", "to", "when",
    "go", "stay", "entering", "leaving", "created", "lines", "line",
];

/// A position in the source, always just after pest's implicit whitespace.
pub(super) struct Cursor<'s> {
    src: &'s str,
    /// The next token's first byte.
    pub(super) pos: usize,
    /// One past the last byte of the last token read.
    pub(super) last: usize,
    /// The end of the word at `pos` (`pos` when none is there), found once per token.
    word_end: usize,
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

impl<'s> Cursor<'s> {
    /// A cursor at `pos`, past the whitespace and comments there.
    pub(super) fn new(src: &'s str, pos: usize) -> Self {
        let mut c = Cursor { src, pos, last: pos, word_end: pos };
        c.skip();
        c
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.src.as_bytes().get(at).copied()
    }

    /// The next byte.
    pub(super) fn peek(&self) -> Option<u8> {
        self.byte(self.pos)
    }

    /// Whether the next byte is `b`.
    pub(super) fn at(&self, b: u8) -> bool {
        self.peek() == Some(b)
    }

    fn skip(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'#' => {
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        self.word_end = self.find_word_end(self.pos);
    }

    /// Ends a token at `end`: remembers it and skips the whitespace after it.
    fn take(&mut self, end: usize) -> Span {
        let span = Span::new(self.pos, end);
        self.pos = end;
        self.last = end;
        self.skip();
        span
    }

    fn text(&self, span: Span) -> &'s str {
        self.src.get(span.start..span.end).unwrap_or_default()
    }

    /// The end of the run of identifier characters at `from`.
    fn find_word_end(&self, from: usize) -> usize {
        let mut end = from;
        while self.byte(end).is_some_and(is_ident_char) {
            end += 1;
        }
        end
    }

    /// The word at the cursor (identifier characters; empty when there is none).
    pub(super) fn word(&self) -> &'s str {
        self.src.get(self.pos..self.word_end).unwrap_or_default()
    }

    /// The word after the next one.
    pub(super) fn second_word(&self) -> &'s str {
        let mut c = Cursor { src: self.src, pos: self.pos, last: self.last, word_end: self.word_end };
        c.take(c.word_end);
        c.word()
    }

    /// Reads the keyword `kw` when it is the next word.
    pub(super) fn keyword(&mut self, kw: &str) -> bool {
        if self.word() == kw {
            self.take(self.pos + kw.len());
            true
        } else {
            false
        }
    }

    /// Reads the single byte `b` when it is next.
    pub(super) fn punct(&mut self, b: u8) -> bool {
        if self.at(b) {
            self.take(self.pos + 1);
            true
        } else {
            false
        }
    }

    /// Whether the characters `s` are next.
    pub(super) fn looking_at(&self, s: &str) -> bool {
        self.src.as_bytes().get(self.pos..).is_some_and(|rest| rest.starts_with(s.as_bytes()))
    }

    /// Reads the next `len` bytes as one token (an operator [`Cursor::looking_at`] found).
    pub(super) fn symbol_len(&mut self, len: usize) {
        self.take(self.pos + len);
    }

    /// The grammar's `name`: a letter or `_`, then identifier characters.
    pub(super) fn name(&mut self) -> Option<Name> {
        if !self.peek().is_some_and(is_name_start) {
            return None;
        }
        let span = self.take(self.word_end);
        Some(Name { text: self.text(span).to_string(), span })
    }

    /// The grammar's `ident`: a name that is not a reserved word.
    pub(super) fn ident(&mut self) -> Option<Name> {
        if RESERVED.contains(&self.word()) {
            return None;
        }
        self.name()
    }

    /// Where the grammar's `path` (`name.name...`, no spaces) at the cursor ends, when a path
    /// is there.
    fn path_end(&self) -> Option<usize> {
        if !self.peek().is_some_and(is_name_start) {
            return None;
        }
        let mut end = self.word_end;
        let mut parts = 1;
        while self.byte(end) == Some(b'.') && self.byte(end + 1).is_some_and(is_name_start) {
            end = self.find_word_end(end + 1);
            parts += 1;
        }
        (parts > 1).then_some(end)
    }

    /// The grammar's `path`, as one name (`attributes.reason`).
    pub(super) fn path_name(&mut self) -> Option<Name> {
        let end = self.path_end()?;
        let span = self.take(end);
        Some(Name { text: self.text(span).to_string(), span })
    }

    /// Whether the word at the cursor is followed at once by `b`.
    pub(super) fn word_followed_by(&self, b: u8) -> bool {
        self.byte(self.word_end) == Some(b)
    }

    /// The grammar's `string`, unescaped, its span holding the quotes.
    pub(super) fn string(&mut self) -> Option<Str> {
        if !self.at(b'"') {
            return None;
        }
        let mut end = self.pos + 1;
        let mut plain = true;
        loop {
            match self.byte(end)? {
                b'\\' => {
                    plain = false;
                    // `"\\" ~ ANY`: the escaped character is one character, maybe several bytes.
                    let c = self.src.get(end + 1..)?.chars().next()?;
                    end += 1 + c.len_utf8();
                }
                b'"' => break,
                b'\n' => return None,
                _ => end += 1,
            }
        }
        let inner = self.src.get(self.pos + 1..end)?;
        let text = if plain { inner.to_string() } else { crate::syntax::build::unescape(inner) };
        let span = self.take(end + 1);
        Some(Str { text, span })
    }

    /// A `number` or a `duration`, as the grammar's ordered choice reads them: the number
    /// first, unless a letter or `_` follows it.
    pub(super) fn number_or_duration(&mut self) -> Option<(bool, Span, &'s str)> {
        let digits = |from: usize| {
            let mut end = from;
            while self.byte(end).is_some_and(|b| b.is_ascii_digit()) {
                end += 1;
            }
            end
        };
        let int_end = digits(self.pos);
        if int_end == self.pos {
            return None;
        }
        let mut end = int_end;
        if self.byte(end) == Some(b'.') && self.byte(end + 1).is_some_and(|b| b.is_ascii_digit()) {
            end = digits(end + 1);
        }
        if !self.byte(end).is_some_and(is_name_start) {
            let span = self.take(end);
            return Some((true, span, self.text(span)));
        }
        // `duration = ASCII_DIGIT+ ~ ASCII_ALPHA+ ~ ident_char*`
        if !self.byte(int_end).is_some_and(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let span = self.take(self.find_word_end(int_end));
        Some((false, span, self.text(span)))
    }

    /// The span of a word read as it is (a keyword whose text matters, e.g. `any`).
    pub(super) fn word_span(&mut self) -> Span {
        self.take(self.word_end)
    }
}
