//! What a request can make the service store or send back: every bound on input, in one place,
//! so that the checks (the engine's for orders, events and fulfillment actions, the API's for
//! what it reads itself) and `docs/api.md` ("Limits") say the same numbers.
//!
//! Text: every free-text field has a length in characters ([`text_problem`]); past it the
//! request is refused (422, a problem naming the field) and nothing is stored. Answers are
//! bounded too: an error lists at most [`MAX_PROBLEMS`] problems (with `problem_count`, how many
//! there were), and text a client sent is echoed in an answer cut to [`MAX_SHOWN`] characters
//! ([`shown`]), an error's message to [`MAX_MESSAGE`].
//!
//! Money and quantities: a quantity is a whole number of units, 1 to [`MAX_QTY`]; an amount is
//! at most [`max_money`] in magnitude with at most [`MONEY_DECIMALS`] decimals, and so is every
//! total the service keeps (a line's total, the subtotal, shipping, the order's total, what was
//! paid). Every sum and product on them is checked; whatever would go past a bound is refused,
//! 422 naming the field, before anything is stored. Within these bounds no arithmetic on an
//! order can overflow (1,000 lines of totals below 10^12 stay far below `Decimal::MAX`).

use rust_decimal::Decimal;
use std::borrow::Cow;

/// An idempotency key (`idempotency_key`, the `Idempotency-Key` header), in characters.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// An order number, in characters.
pub(crate) const MAX_NUMBER: usize = 64;

/// Codes and identifiers: a channel, a workflow, a mode, a payment method, a SKU.
pub const MAX_CODE: usize = 100;

/// Names and short texts: people's and companies' names, an actor, a lock's holder, address
/// parts, a vendor, an external id, a payment's reference, whom an action notified.
pub const MAX_NAME: usize = 200;

/// An email address.
pub const MAX_EMAIL: usize = 254;

/// A phone number.
pub const MAX_PHONE: usize = 64;

/// Longer texts: a line's description, a fulfillment action's note, a text attribute, a text
/// field of an event's data.
pub(crate) const MAX_TEXT: usize = 2000;

/// The problems an error lists (the first ones; `problem_count` says how many there were).
pub const MAX_PROBLEMS: usize = 50;

/// Text a client sent, as an answer repeats it (in a message, a problem's field).
pub const MAX_SHOWN: usize = 80;

/// An error's message.
pub const MAX_MESSAGE: usize = 1000;

/// A problem's text (what is wrong with a field), as an answer shows it.
pub const MAX_PROBLEM_TEXT: usize = 300;

/// Why `text` is too long for a field of `max` characters, if it is.
pub fn text_problem(text: &str, max: usize) -> Option<String> {
    // A text of at most `max` bytes has at most `max` characters: most texts stop here.
    if text.len() <= max {
        return None;
    }
    let n = text.chars().count();
    (n > max).then(|| format!("is {n} characters long; the most is {max}"))
}

/// `text` as an answer shows it: its first `max` characters, and `…` when there were more.
pub fn shown(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
    }
}

/// The most units a line, a shipment line or a receipt line may have.
pub(crate) const MAX_QTY: u64 = 1_000_000_000;

/// The most lines an order may have.
pub(crate) const MAX_LINES: usize = 1000;

/// The most decimals an amount may have (trailing zeros do not count: `12.50000` is `12.5`).
pub(crate) const MONEY_DECIMALS: u32 = 4;

/// The largest amount in magnitude: 999,999,999,999.9999.
pub(crate) const fn max_money() -> Decimal {
    // 9_999_999_999_999_999 × 10^-4, as the 96-bit mantissa's low and middle words.
    Decimal::from_parts(1_874_919_423, 2_328_306, 0, false, MONEY_DECIMALS)
}

/// Why `q` is not a quantity of `min` (0 or 1) to [`MAX_QTY`] whole units, if it is not.
pub(crate) fn qty_problem(q: Decimal, min: u64) -> Option<String> {
    let whole = q.fract().is_zero();
    let in_range = q >= Decimal::from(min) && q <= Decimal::from(MAX_QTY);
    (!(whole && in_range))
        .then(|| format!("must be a whole number of units from {min} to {MAX_QTY}, not {q}"))
}

/// Why `amount` is not an amount (at most [`max_money`] in magnitude, at most
/// [`MONEY_DECIMALS`] decimals), if it is not.
pub(crate) fn money_problem(amount: Decimal) -> Option<String> {
    if amount.abs() > max_money() {
        return Some(format!("must be at most {} in magnitude", max_money()));
    }
    if amount.normalize().scale() > MONEY_DECIMALS {
        return Some(format!("must have at most {MONEY_DECIMALS} decimals, not {amount}"));
    }
    None
}

/// `a + b` when the result is still an amount ([`max_money`] at most in magnitude).
pub(crate) fn money_add(a: Decimal, b: Decimal) -> Option<Decimal> {
    a.checked_add(b).filter(|s| s.abs() <= max_money())
}

/// `a × b` when the result is still an amount.
pub(crate) fn money_mul(a: Decimal, b: Decimal) -> Option<Decimal> {
    a.checked_mul(b).filter(|s| s.abs() <= max_money())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn the_bounds() {
        assert_eq!(max_money(), d("999999999999.9999"));
        assert_eq!(qty_problem(d("1"), 1), None);
        assert_eq!(qty_problem(d("1.0"), 1), None, "a whole number written with a point");
        assert_eq!(qty_problem(d("1000000000"), 1), None);
        assert!(qty_problem(d("1000000001"), 1).is_some());
        assert!(qty_problem(d("0.5"), 1).is_some());
        assert!(qty_problem(d("0"), 1).is_some());
        assert_eq!(qty_problem(d("0"), 0), None);
        assert!(qty_problem(d("-1"), 0).is_some());
        assert_eq!(money_problem(d("999999999999.9999")), None);
        assert_eq!(money_problem(d("-12.50000")), None);
        assert!(money_problem(d("1000000000000")).is_some());
        assert!(money_problem(d("0.00001")).is_some());
        assert!(money_problem(Decimal::MAX).is_some());
        assert_eq!(money_add(max_money(), d("0.0001")), None);
        assert_eq!(money_add(Decimal::MAX, Decimal::MAX), None, "no panic");
        assert_eq!(money_mul(Decimal::MAX, d("2")), None, "no panic");
        assert_eq!(money_mul(d("3"), d("2.5")), Some(d("7.5")));
    }

    #[test]
    fn texts() {
        assert_eq!(text_problem("abc", 3), None);
        assert_eq!(text_problem("ééé", 3), None, "characters, not bytes");
        assert_eq!(text_problem("abcd", 3).as_deref(), Some("is 4 characters long; the most is 3"));
        assert_eq!(shown("abc", 3), "abc");
        assert_eq!(shown("abcdé", 3), "abc…");
        assert_eq!(shown("ééééé", 4), "éééé…");
        assert!(shown(&"x".repeat(1_000_000), MAX_SHOWN).len() < 100);
    }
}
