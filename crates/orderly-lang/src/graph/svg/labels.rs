//! Edge labels placed where nothing else is: no status, title or other label under them.
//!
//! A label tries its route's spots, best first; when every spot is taken it is moved down
//! (then up) from them a few pixels at a time until it fits, and drawn with a dotted leader
//! back to its edge; as a last resort it goes below everything drawn so far, which is always free.

use super::text::{Point, Rect};

/// Room around a label's text, in its box.
pub(super) const LABEL_PAD: i64 = 4;
/// A label's line height (10 px text).
pub(super) const LINE_H: i64 = 13;
/// How far a label is moved at each step when its spots are taken.
const STEP: i64 = 6;
/// How many steps it is moved at most before it goes below everything.
const MAX_STEPS: i64 = 60;

/// Where a label goes: its box, and the spot on its edge a leader line joins when it had to
/// move away from its route.
pub(super) struct Placed {
    pub(super) rect: Rect,
    pub(super) leader: Option<Point>,
}

/// Places a `w` × `h` label at the first free one of `spots`. `align` says which way it extends
/// from a spot: 0 centred on it, 1 to its right, -1 to its left. `taken` holds every box
/// already drawn; the label's box is added to it.
pub(super) fn place(taken: &mut Vec<Rect>, spots: &[Point], align: i64, w: i64, h: i64) -> Placed {
    let at = |(x, y): Point, dy: i64| {
        let x = match align {
            0 => x - w / 2,
            a if a > 0 => x + 3,
            _ => x - 3 - w,
        };
        Rect { x, y: y - h / 2 + dy, w, h }
    };
    let free = |taken: &[Rect], r: Rect| !taken.iter().any(|t| t.overlaps(r));
    let found = spots
        .iter()
        .find_map(|&s| Some(at(s, 0)).filter(|r| free(taken, *r)))
        .map(|rect| Placed { rect, leader: None });
    let found = found.or_else(|| {
        (1..=MAX_STEPS).find_map(|step| {
            spots.iter().take(3).find_map(|&s| {
                [step * STEP, -step * STEP]
                    .into_iter()
                    .map(|dy| at(s, dy))
                    .find(|r| free(taken, *r))
                    .map(|rect| Placed { rect, leader: Some(s) })
            })
        })
    });
    let placed = found.unwrap_or_else(|| {
        let spot = spots.first().copied().unwrap_or_default();
        let below = taken.iter().map(|r| r.bottom()).max().unwrap_or(0) + STEP;
        let x = at(spot, 0).x;
        Placed { rect: Rect { x, y: below, w, h }, leader: Some(spot) }
    });
    taken.push(placed.rect);
    placed
}
