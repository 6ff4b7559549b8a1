//! Durations as written in workflows: a whole number and a unit (`90s`, `15m`, `48h`, `7d`, `2w`).

use std::time::Duration;

/// Units a duration may use, with their length in seconds.
pub(crate) const UNITS: &[(&str, u64)] = &[("s", 1), ("m", 60), ("h", 3600), ("d", 86_400), ("w", 604_800)];

/// Why a duration is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// The unit is not one of `s m h d w`.
    Unit(String),
    /// Zero length.
    Zero,
    /// Longer than any order will live (over 100 years).
    TooLong,
}

/// `90s`, `15m`, `48h`, `7d`, `2w`: the largest unit that divides the duration.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, size) in UNITS.iter().rev().filter(|(u, _)| *u != "s") {
        if s >= *size && s % size == 0 {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

/// Parses `15m` and friends.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let seconds_per = UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, s)| *s)
        .ok_or_else(|| DurationError::Unit(unit.to_string()))?;
    let n: u64 = number.parse().map_err(|_| DurationError::TooLong)?;
    let seconds = n.checked_mul(seconds_per).ok_or(DurationError::TooLong)?;
    if seconds == 0 {
        return Err(DurationError::Zero);
    }
    if seconds > 100 * 366 * 86_400 {
        return Err(DurationError::TooLong);
    }
    Ok(Duration::from_secs(seconds))
}
