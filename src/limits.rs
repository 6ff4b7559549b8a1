//! What a request can make the service store: every bound on input, in one place, so that the
//! checks (the engine's for orders and events, the API's for what it reads itself) and
//! `docs/api.md` ("Limits") say the same numbers.
//!
//! Money and quantities: a quantity is a whole number of units, 1 to [`MAX_QTY`]; an amount is
//! at most [`max_money`] in magnitude with at most [`MONEY_DECIMALS`] decimals, and so is every
//! total the service keeps (a line's total, the subtotal, shipping, the order's total, what was
//! paid). Every sum and product on them is checked; whatever would go past a bound is refused,
//! 422 naming the field, before anything is stored. Within these bounds no arithmetic on an
//! order can overflow (1,000 lines of totals below 10^12 stay far below `Decimal::MAX`).

use rust_decimal::Decimal;

/// The most units a line, a shipment line or a receipt line may have.
pub const MAX_QTY: u64 = 1_000_000_000;

/// The most lines an order may have.
pub const MAX_LINES: usize = 1000;

/// The most decimals an amount may have (trailing zeros do not count: `12.50000` is `12.5`).
pub const MONEY_DECIMALS: u32 = 4;

/// The largest amount in magnitude: 999,999,999,999.9999.
pub const fn max_money() -> Decimal {
    // 9_999_999_999_999_999 × 10^-4, as the 96-bit mantissa's low and middle words.
    Decimal::from_parts(1_874_919_423, 2_328_306, 0, false, MONEY_DECIMALS)
}

/// Why `q` is not a quantity of `min` (0 or 1) to [`MAX_QTY`] whole units, if it is not.
pub fn qty_problem(q: Decimal, min: u64) -> Option<String> {
    let whole = q.fract().is_zero();
    let in_range = q >= Decimal::from(min) && q <= Decimal::from(MAX_QTY);
    (!(whole && in_range))
        .then(|| format!("must be a whole number of units from {min} to {MAX_QTY}, not {q}"))
}

/// Why `amount` is not an amount (at most [`max_money`] in magnitude, at most
/// [`MONEY_DECIMALS`] decimals), if it is not.
pub fn money_problem(amount: Decimal) -> Option<String> {
    if amount.abs() > max_money() {
        return Some(format!("must be at most {} in magnitude", max_money()));
    }
    if amount.normalize().scale() > MONEY_DECIMALS {
        return Some(format!("must have at most {MONEY_DECIMALS} decimals, not {amount}"));
    }
    None
}

/// `a + b` when the result is still an amount ([`max_money`] at most in magnitude).
pub fn money_add(a: Decimal, b: Decimal) -> Option<Decimal> {
    a.checked_add(b).filter(|s| s.abs() <= max_money())
}

/// `a × b` when the result is still an amount.
pub fn money_mul(a: Decimal, b: Decimal) -> Option<Decimal> {
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
}
