//! How values are written to and read from columns, the same way in SQLite and PostgreSQL:
//! decimals as text (`Decimal::to_string`, exact, scale kept), times as fixed-width UTC text
//! (`2024-05-01T09:30:00.000000Z`, microseconds, sorts as text), booleans as 0/1, JSON as
//! text, flags as ` a b ` (space-separated and space-surrounded, for `LIKE '% a %'`).
//!
//! Every reader returns [`StoreError::Corrupt`] naming the column instead of panicking.

use super::StoreError;
use crate::order::{OrderId, Time};
use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeSet;

/// The text form of times: fixed width, UTC, microseconds.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// A time as stored (sub-microsecond digits are dropped). Written by position (every change
/// stores several, and chrono's formatter reads its format string each time); a year outside
/// 0-9999 or a leap second goes through chrono's [`TIME_FORMAT`], which the result matches.
pub(crate) fn time(t: Time) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return t.format(TIME_FORMAT).to_string();
    }
    let mut s = String::with_capacity(27);
    let _ = write!(
        s,
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        nanos / 1_000
    );
    s
}

/// A stored time, read back.
pub(crate) fn parse_time(s: &str) -> Option<Time> {
    if s.len() != 27 {
        return None;
    }
    fixed_width(s).or_else(|| NaiveDateTime::parse_from_str(s, TIME_FORMAT).ok().map(|t| t.and_utc()))
}

/// [`TIME_FORMAT`] read by position, without going through chrono's format parser (reads of
/// many rows, such as a replay's, parse one per row): `None` for anything else, which
/// [`parse_time`] then gives to chrono.
fn fixed_width(s: &str) -> Option<Time> {
    let b = s.as_bytes();
    let number = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?
            .iter()
            .try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (26, b'Z')];
    if !separators.iter().all(|(i, c)| b.get(*i) == Some(c)) {
        return None;
    }
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::try_from(number(0, 4)?).ok()?, number(5, 7)?, number(8, 10)?)?;
    let time = chrono::NaiveTime::from_hms_micro_opt(
        number(11, 13)?,
        number(14, 16)?,
        number(17, 19)?,
        number(20, 26)?,
    )?;
    Some(date.and_time(time).and_utc())
}

/// A decimal as stored.
pub(crate) fn decimal(d: Decimal) -> String {
    d.to_string()
}

/// A boolean as stored.
pub(crate) fn boolean(b: bool) -> i64 {
    i64::from(b)
}

/// Flags as stored: ` a b ` (empty for no flags).
pub(crate) fn flags(flags: &BTreeSet<String>) -> String {
    if flags.is_empty() {
        return String::new();
    }
    let mut out = String::from(" ");
    for flag in flags {
        out.push_str(flag);
        out.push(' ');
    }
    out
}

/// A value as JSON text.
pub(crate) fn json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode {what}: {e}")))
}

fn corrupt(col: &str, problem: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column `{col}`: {problem}"))
}

/// A non-null integer column.
pub(crate) fn get_i64(row: &AnyRow, col: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(col).map_err(|e| corrupt(col, e))
}

/// A non-null text column.
pub(crate) fn get_str(row: &AnyRow, col: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(col).map_err(|e| corrupt(col, e))
}

/// A nullable integer column.
pub(crate) fn get_opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>, StoreError> {
    row.try_get::<Option<i64>, _>(col).map_err(|e| corrupt(col, e))
}

/// A nullable text column.
pub(crate) fn get_opt_str(row: &AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>, _>(col).map_err(|e| corrupt(col, e))
}

/// A stored boolean (0 or 1) read back; `None` for any other number.
pub(crate) fn boolean_of(n: i64) -> Option<bool> {
    match n {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// A 0/1 column.
pub(crate) fn get_bool(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    let n = get_i64(row, col)?;
    boolean_of(n).ok_or_else(|| corrupt(col, format!("`{n}` is not a boolean (0 or 1)")))
}

/// A line or action number (1, 2, ...).
pub(crate) fn get_u32(row: &AnyRow, col: &str) -> Result<u32, StoreError> {
    let n = get_i64(row, col)?;
    u32::try_from(n).map_err(|_| corrupt(col, format!("`{n}` is out of range")))
}

/// A stored time inside one of an order's JSON columns (`orders.rs`, a whole order read in one
/// statement): `what` says which, for the error.
pub(crate) fn json_time(order: OrderId, what: &str, text: &str) -> Result<Time, StoreError> {
    parse_time(text)
        .ok_or_else(|| StoreError::Corrupt(format!("order {order}: {what} `{text}` is not a stored time")))
}

/// A non-null time column.
pub(crate) fn get_time(row: &AnyRow, col: &str) -> Result<Time, StoreError> {
    let s = get_str(row, col)?;
    parse_time(&s).ok_or_else(|| corrupt(col, format!("`{s}` is not a stored time")))
}

/// A nullable time column.
pub(crate) fn get_opt_time(row: &AnyRow, col: &str) -> Result<Option<Time>, StoreError> {
    match get_opt_str(row, col)? {
        None => Ok(None),
        Some(s) => {
            parse_time(&s).map(Some).ok_or_else(|| corrupt(col, format!("`{s}` is not a stored time")))
        }
    }
}

/// A decimal column.
pub(crate) fn get_decimal(row: &AnyRow, col: &str) -> Result<Decimal, StoreError> {
    let s = get_str(row, col)?;
    Decimal::from_str_exact(&s).map_err(|e| corrupt(col, format!("`{s}` is not a decimal: {e}")))
}

/// A JSON column, decoded into `T`.
pub(crate) fn get_json<T: DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T, StoreError> {
    let s = get_str(row, col)?;
    serde_json::from_str(&s).map_err(|e| corrupt(col, format!("bad JSON: {e}")))
}

/// The flags column.
pub(crate) fn get_flags(row: &AnyRow, col: &str) -> Result<BTreeSet<String>, StoreError> {
    Ok(get_str(row, col)?.split_whitespace().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The positional writer gives what chrono's format gives, over times from year 0 to
    /// 9999 (sub-microsecond digits included) and at a leap second.
    #[test]
    fn times_are_written_as_chronos_format_writes_them() {
        let start = chrono::Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).single().unwrap();
        let end = chrono::Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single().unwrap();
        let step = chrono::Duration::nanoseconds(3_155_760_000_000_123_457 / 20_011);
        let mut t = start;
        let mut seen = 0;
        while t <= end {
            assert_eq!(time(t), t.format(TIME_FORMAT).to_string());
            t += step;
            seen += 1;
        }
        assert!(seen > 20_000, "{seen} times");
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        assert_eq!(time(leap), leap.format(TIME_FORMAT).to_string());
        let far = chrono::Utc.with_ymd_and_hms(12_345, 1, 1, 0, 0, 0).single().unwrap();
        assert_eq!(time(far), far.format(TIME_FORMAT).to_string());
    }

    #[test]
    fn times_are_fixed_width_and_round_trip() {
        let t = chrono::Utc.with_ymd_and_hms(2024, 5, 1, 9, 30, 0).single().unwrap()
            + chrono::Duration::microseconds(123_456);
        let s = time(t);
        assert_eq!(s, "2024-05-01T09:30:00.123456Z");
        assert_eq!(parse_time(&s), Some(t));
        let whole = chrono::Utc.with_ymd_and_hms(2024, 5, 1, 9, 30, 0).single().unwrap();
        assert_eq!(time(whole), "2024-05-01T09:30:00.000000Z");
        assert_eq!(parse_time("2024-05-01T09:30:00Z"), None);
        assert_eq!(parse_time("garbage"), None);
    }

    /// The fast reading agrees with chrono's on every stored form, and refuses what it refuses.
    #[test]
    fn fixed_width_reading_agrees_with_chrono() {
        let mut t = chrono::Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).single().unwrap();
        for i in 0..5000 {
            t += chrono::Duration::seconds(37_123) + chrono::Duration::microseconds(i * 7919);
            let s = time(t);
            assert_eq!(fixed_width(&s), Some(t), "{s}");
            assert_eq!(NaiveDateTime::parse_from_str(&s, TIME_FORMAT).ok().map(|n| n.and_utc()), Some(t));
        }
        for bad in [
            "2024-02-30T09:30:00.000000Z",
            "2024-05-01 09:30:00.000000Z",
            "2024-05-01T24:00:00.000000Z",
            "2024-05-01T09:30:00,000000Z",
            "2024-05-01T09:3a:00.000000Z",
            "+024-05-01T09:30:00.000000Z",
        ] {
            assert_eq!(fixed_width(bad), None, "{bad}");
            let chrono = NaiveDateTime::parse_from_str(bad, TIME_FORMAT).ok().map(|n| n.and_utc());
            assert_eq!(parse_time(bad), chrono, "{bad}");
        }
    }

    #[test]
    fn flags_are_space_surrounded() {
        let set: BTreeSet<String> = ["rush", "vip"].iter().map(|s| s.to_string()).collect();
        assert_eq!(flags(&set), " rush vip ");
        assert_eq!(flags(&BTreeSet::new()), "");
    }
}
