//! Boxes, and how much room a text takes: the picture is laid out without measuring fonts, so
//! a text's width is estimated as its characters × the font's average width (7 px at 12 px,
//! 6 px at 10 px, 8 px in bold; a wide symbol such as `⏱` counts twice), a little more than
//! Helvetica or Arial need. Its height runs from 0.8 of the font size above the baseline to
//! 0.2 below. The tests measure the rendered pictures with the same functions.

/// A point, in pixels.
pub(crate) type Point = (i64, i64);

/// An upright box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rect {
    pub(crate) x: i64,
    pub(crate) y: i64,
    pub(crate) w: i64,
    pub(crate) h: i64,
}

impl Rect {
    pub(crate) fn right(self) -> i64 {
        self.x + self.w
    }
    pub(crate) fn bottom(self) -> i64 {
        self.y + self.h
    }
    pub(crate) fn cx(self) -> i64 {
        self.x + self.w / 2
    }
    pub(crate) fn cy(self) -> i64 {
        self.y + self.h / 2
    }
    /// Whether the two boxes share some area (touching edges do not count).
    pub(crate) fn overlaps(self, o: Rect) -> bool {
        self.x < o.right() && o.x < self.right() && self.y < o.bottom() && o.y < self.bottom()
    }
}

/// Where a text's `x` is: its start or its middle (SVG's `text-anchor`; the picture uses no other).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
}

/// The font's average character width at `size` px.
fn char_width(size: i64, bold: bool) -> i64 {
    match (size, bold) {
        (12, false) => 7,
        (12, true) => 8,
        (10, _) => 6,
        _ => (size * 6 + 9) / 10 + i64::from(bold),
    }
}

/// Symbols drawn about twice as wide as a letter.
fn is_wide(c: char) -> bool {
    matches!(c, '\u{2300}'..='\u{23ff}' | '\u{2600}'..='\u{27bf}' | '\u{1f000}'..)
}

/// The estimated width of `text` at `size` px.
pub(crate) fn width(text: &str, size: i64, bold: bool) -> i64 {
    let chars: i64 = text.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum();
    chars * char_width(size, bold)
}

/// The box `text` takes when drawn at (`x`, `baseline`).
pub(crate) fn text_box(text: &str, x: i64, baseline: i64, anchor: Anchor, size: i64, bold: bool) -> Rect {
    let w = width(text, size, bold);
    let left = match anchor {
        Anchor::Start => x,
        Anchor::Middle => x - w / 2,
    };
    let (above, below) = ((size * 8 + 9) / 10, (size * 2 + 9) / 10);
    Rect { x: left, y: baseline - above, w, h: above + below }
}
