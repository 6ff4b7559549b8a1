//! Edge routes: the path an edge takes between two placed statuses (or down from the "any
//! status" band), and where its label may go.

use super::text::{Point, Rect};
use super::{Placed, COL_GAP, PAD};
use std::cmp::Ordering;

/// How far backward edges between neighbouring columns bow below the straight line, so they
/// do not hide forward ones.
const BOW: i64 = 30;
/// Space between the lanes that carry edges spanning several columns, below the clusters.
const LANE_GAP: i64 = 22;
/// Corner radius of lane routes.
const R: i64 = 8;

/// An edge's SVG path data, points whose box holds it, and spots on it for its label, best
/// first (never empty).
pub(super) struct Route {
    pub(super) d: String,
    pub(super) extent: Vec<Point>,
    pub(super) spots: Vec<Point>,
    /// Which way the label extends from a spot: 0 centred on it, 1 to its right, -1 to its left.
    pub(super) align: i64,
}

/// The route from `a` to `b` (different statuses). Edges between neighbouring columns are
/// single curves; edges spanning several columns run along their own lane below `floor`
/// (the clusters' bottom), numbered from `lanes`, so they never cross a status. Timer edges
/// (`timer`) run a little below transitions between the same statuses, so both show.
pub(super) fn route(a: Placed, b: Placed, floor: i64, lanes: &mut i64, timer: bool) -> Route {
    let (ra, rb) = (a.rect, b.rect);
    let span = a.col.abs_diff(b.col);
    if span > 1 {
        *lanes += 1;
        return lane(a, b, floor + *lanes * LANE_GAP, *lanes);
    }
    let low = if timer { 10 } else { 0 };
    match a.col.cmp(&b.col) {
        Ordering::Less => {
            let (p0, p3) = ((ra.right(), ra.cy() - 6 + low), (rb.x, rb.cy() - 6 + low));
            let dx = (p3.0 - p0.0) / 2;
            curve([p0, (p0.0 + dx, p0.1), (p3.0 - dx, p3.1), p3])
        }
        Ordering::Greater => {
            let (p0, p3) = ((ra.x, ra.cy() + 6 + low), (rb.right(), rb.cy() + 6 + low));
            let dx = (p0.0 - p3.0) / 2;
            curve([p0, (p0.0 - dx, p0.1 + BOW), (p3.0 + dx, p3.1 + BOW), p3])
        }
        Ordering::Equal => {
            let bulge = (12 + 16 * a.row.abs_diff(b.row) as i64).min(64) + 2 * low;
            // Downward edges leave on the right, upward ones on the left.
            let (xa, xb, bulge) =
                if a.row < b.row { (ra.right(), rb.right(), bulge) } else { (ra.x, rb.x, -bulge) };
            let (p0, p3) = ((xa, ra.cy()), (xb, rb.cy()));
            let route = curve([p0, (p0.0 + bulge, p0.1), (p3.0 + bulge, p3.1), p3]);
            // The label goes outwards, clear of the column.
            Route { align: bulge.signum(), ..route }
        }
    }
}

/// A cubic curve, labelled at its point for t = 1/2, or else at points further along or back.
fn curve([p0, p1, p2, p3]: [Point; 4]) -> Route {
    // The point for t = k/20, in integers so output is exact.
    let at = |k: i64| {
        let j = 20 - k;
        let (a, b, c, d) = (j * j * j, 3 * j * j * k, 3 * j * k * k, k * k * k);
        let mix = |i: fn(Point) -> i64| (a * i(p0) + b * i(p1) + c * i(p2) + d * i(p3)) / 8000;
        (mix(|p| p.0), mix(|p| p.1))
    };
    Route {
        d: format!("M{},{} C{},{} {},{} {},{}", p0.0, p0.1, p1.0, p1.1, p2.0, p2.1, p3.0, p3.1),
        extent: vec![p0, p1, p2, p3],
        spots: [10, 9, 11, 8, 12, 7, 13, 6, 14, 5, 15, 4, 16].into_iter().map(at).collect(),
        align: 0,
    }
}

/// Out of `a`'s side into the gap, down to the lane at `y`, along it, and up into `b`'s side,
/// with rounded corners. The vertical legs are staggered by lane so they do not overlap.
fn lane(a: Placed, b: Placed, y: i64, lane: i64) -> Route {
    let (ra, rb) = (a.rect, b.rect);
    let s = if a.col < b.col { 1 } else { -1 };
    let (x0, y0) = (if s > 0 { ra.right() } else { ra.x }, ra.cy());
    let (x3, y3) = (if s > 0 { rb.x } else { rb.right() }, rb.cy());
    let step = PAD + 12 + (6 * lane) % (COL_GAP / 2 - PAD - 12);
    let (g1, g2) = (x0 + s * step, x3 - s * step);
    Route {
        d: format!(
            "M{x0},{y0} H{} Q{g1},{y0} {g1},{} V{} Q{g1},{y} {},{y} H{} Q{g2},{y} {g2},{} V{} \
             Q{g2},{y3} {},{y3} H{x3}",
            g1 - s * R,
            y0 + R,
            y - R,
            g1 + s * R,
            g2 - s * R,
            y - R,
            y3 + R,
            g2 + s * R,
        ),
        extent: vec![(x0, y0), (x3, y3), (g1, y), (g2, y)],
        spots: [0, -1, 1, -2, 2].into_iter().map(|k| ((g1 + g2) / 2 + k * (g2 - g1) / 6, y)).collect(),
        align: 0,
    }
}

/// From the "any status" band's bottom at `band`, down the lane at `x` (in the target's column,
/// right of its statuses), into the top of `to`. Labels go beside the lane, first in the strip
/// between the band and the columns (`top`), then down the lane.
pub(super) fn from_band(x: i64, band: i64, top: i64, to: Rect) -> Route {
    let (tx, ty) = ((to.right() - 14).min(x - 2 * R - 2), to.y);
    let turn = ty - 10;
    let mut spots = vec![(x, (band + top) / 2)];
    spots.extend((1..).map(|k| (x, top + 8 * k)).take_while(|&(_, y)| y < turn - 6));
    Route {
        d: format!(
            "M{x},{band} V{} Q{x},{turn} {},{turn} H{} Q{tx},{turn} {tx},{} V{ty}",
            turn - R,
            x - R,
            tx + R,
            turn + R
        ),
        extent: vec![(x, band), (tx, ty)],
        spots,
        align: -1,
    }
}
