//! Durations, the one notation workflows, scenarios and pictures share: a whole number and a unit
//! (`90s`, `15m`, `48h`, `7d`, `2w`), or several from the largest unit to the smallest
//! (`1d12h`). [`parse_duration`] reads them; [`format_duration`] writes the shortest form.

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
    /// Several parts whose units do not go from the largest to the smallest, each once
    /// (`12h1d`, `1h1h`).
    Order,
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

/// Parses `15m` and friends, and several together from the largest unit down (`1d12h`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let mut rest = text;
    let mut seconds: u64 = 0;
    let mut previous: Option<u64> = None;
    loop {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let (number, after) = rest.split_at(digits);
        let letters = after.chars().take_while(char::is_ascii_alphabetic).count();
        let (unit, next) = after.split_at(letters);
        if number.is_empty() {
            return Err(DurationError::Unit(rest.to_string()));
        }
        if unit.is_empty() {
            return Err(DurationError::Unit(after.to_string()));
        }
        let size = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, s)| *s)
            .ok_or_else(|| DurationError::Unit(unit.to_string()))?;
        if previous.is_some_and(|p| size >= p) {
            return Err(DurationError::Order);
        }
        previous = Some(size);
        let n: u64 = number.parse().map_err(|_| DurationError::TooLong)?;
        seconds = n.checked_mul(size).and_then(|s| seconds.checked_add(s)).ok_or(DurationError::TooLong)?;
        rest = next;
        if rest.is_empty() {
            break;
        }
    }
    if seconds == 0 {
        return Err(DurationError::Zero);
    }
    if seconds > 100 * 366 * 86_400 {
        return Err(DurationError::TooLong);
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_several_parts_from_the_largest_unit_down() {
        let secs = |t: &str| parse_duration(t).map(|d| d.as_secs());
        assert_eq!(secs("15m"), Ok(900));
        assert_eq!(secs("1d12h"), Ok(129_600));
        assert_eq!(secs("2w3d"), Ok(1_468_800));
        assert_eq!(secs("12h1d"), Err(DurationError::Order));
        assert_eq!(secs("1h1h"), Err(DurationError::Order));
        assert_eq!(secs("15 minutes"), Err(DurationError::Unit(" minutes".into())));
        assert_eq!(secs("15minutes"), Err(DurationError::Unit("minutes".into())));
        assert_eq!(secs("0m"), Err(DurationError::Zero));
        assert_eq!(secs("0d0h"), Err(DurationError::Zero));
        assert_eq!(secs("99999999999999999999d"), Err(DurationError::TooLong));
        assert_eq!(secs("5300w"), Err(DurationError::TooLong));
    }

    #[test]
    fn the_shortest_form_reads_back() {
        for secs in [90, 900, 36 * 3_600, 14 * 86_400, 1_468_800] {
            let text = format_duration(Duration::from_secs(secs));
            assert_eq!(parse_duration(&text).map(|d| d.as_secs()), Ok(secs), "{text}");
        }
        assert_eq!(format_duration(Duration::from_secs(14 * 86_400)), "2w");
    }
}
