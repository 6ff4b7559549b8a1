//! Money and quantities as a request sends them: a decimal string (`"499.00"`) or a JSON
//! number (`499`, `12.5`). One reader for every input that takes either: a string is digits with
//! an optional fraction, never a sign, an exponent, underscores or blanks; a number is any JSON
//! number a `Decimal` holds exactly (at most 28 digits after the point). The reader takes any
//! such value; the bounds (whole quantities up to 10^9, amounts up to 999,999,999,999.9999 with
//! 4 decimals, in `crate::limits`) are checked with the rest of the order, so that a value past
//! them is a problem naming its field among the others. The OpenAPI document states the bounds
//! ([`MoneyInput`], [`QuantityInput`]).

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::str::FromStr;

#[cfg(feature = "openapi")]
/// The pattern of an amount as a string, within the limits (what the OpenAPI document says).
const MONEY_PATTERN: &str = r"^[0-9]{1,12}(\.[0-9]{1,4})?$";

#[cfg(feature = "openapi")]
/// The pattern of a quantity as a string, within the limits: 1 to 1,000,000,000.
const QTY_PATTERN: &str = r"^([1-9][0-9]{0,8}|1000000000)$";

#[cfg(feature = "openapi")]
/// The pattern of a quantity in stock as a string: 0 to 1,000,000,000.
const STOCK_PATTERN: &str = r"^(0|[1-9][0-9]{0,8}|1000000000)$";

/// The longest decimal string read (a `Decimal` has at most 29 digits, a point and a fraction
/// of 28); longer is refused without being echoed.
const MAX_TEXT: usize = 64;

/// Whether `s` is digits with an optional fraction, without a regex engine.
fn fits_pattern(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    s.len() <= MAX_TEXT && digits(int) && frac.is_none_or(digits)
}

/// serde_json's token for a number kept as text (`arbitrary_precision`, which rust_decimal's
/// `serde-with-arbitrary-precision` feature turns on).
const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

fn from_number_text<E: de::Error>(text: &str) -> Result<Decimal, E> {
    let too_many = || {
        let shown = if text.len() > MAX_TEXT { "" } else { text };
        E::custom(format!(
            "the number {shown} has more digits than a decimal holds (at most 28 after the point)"
        ))
    };
    if text.len() > MAX_TEXT {
        return Err(too_many());
    }
    Decimal::from_str(text).or_else(|_| Decimal::from_scientific(text)).map_err(|_| too_many())
}

struct DecimalVisitor;

impl<'de> Visitor<'de> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal: a string like \"12.50\" or a JSON number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        if !fits_pattern(v) {
            let shown = if v.chars().count() > MAX_TEXT { "the text".to_string() } else { format!("`{v}`") };
            return Err(E::custom(format!(
                "{shown} is not a decimal string: write digits with an optional fraction, like \"12.50\" \
                 (no sign, exponent or spaces)"
            )));
        }
        Decimal::from_str(v).map_err(|_| {
            E::custom(format!("`{v}` has more digits than a decimal holds (at most 28 after the point)"))
        })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        from_number_text(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        from_number_text(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        if !v.is_finite() {
            return Err(E::custom("a decimal must be a finite number"));
        }
        from_number_text(&v.to_string())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Decimal, A::Error> {
        // A JSON number read as text: `{"$serde_json::private::Number": "12.5"}`.
        match map.next_key::<String>()? {
            Some(k) if k == JSON_NUMBER_TOKEN => {
                let text: String = map.next_value()?;
                from_number_text(&text)
            }
            _ => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
        }
    }
}

/// Reads a decimal input (`#[serde(deserialize_with = "...")]`).
pub(crate) fn de<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(DecimalVisitor)
}

/// Reads an optional decimal input: absent or `null` is `None`.
pub(crate) fn de_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    struct Opt;
    impl<'de> Visitor<'de> for Opt {
        type Value = Option<Decimal>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a decimal or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            de(d).map(Some)
        }
    }
    d.deserialize_option(Opt)
}

/// Reads an optional whole number as JSON Schema counts `integer`: `60`, `60.0` and `6e1` alike
/// (serde's `u64` refuses the last two, which a schema-valid request may send).
pub fn de_opt_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Whole;
    impl<'de> Visitor<'de> for Whole {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v).map(Some).map_err(|_| E::custom(format!("{v} is below zero")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            whole(DecimalVisitor.visit_f64(v)?)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            whole(DecimalVisitor.visit_map(map)?)
        }
    }
    fn whole<E: de::Error>(d: Decimal) -> Result<Option<u64>, E> {
        use rust_decimal::prelude::ToPrimitive;
        match d.fract().is_zero().then(|| d.to_u64()).flatten() {
            Some(n) => Ok(Some(n)),
            None => Err(E::custom(format!("{d} is not a whole number from 0 up"))),
        }
    }
    d.deserialize_option(Whole)
}

#[cfg(feature = "openapi")]
/// The OpenAPI schema of an amount: a string of [`MONEY_PATTERN`], or a JSON number from 0 to
/// 999,999,999,999.9999. A schema only: the values are `Decimal`s read by [`de`], their bounds
/// checked with the order (`crate::limits`).
#[derive(Debug)]
pub(crate) struct MoneyInput;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for MoneyInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaType, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .pattern(Some(MONEY_PATTERN))
                    .description(Some("An amount as a string: up to 12 digits, a point and up to 4 decimals (`\"12.50\"`)")),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::Number))
                    .minimum(Some(0_u64))
                    .maximum(Some(999_999_999_999.999_9_f64))
                    .description(Some("An amount as a JSON number, at most 4 decimals, read exactly")),
            )
            .description(Some(
                "An amount: at most 999999999999.9999, at most 4 decimals; read exactly, never through a float",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for MoneyInput {}

#[cfg(feature = "openapi")]
/// The OpenAPI schema of a quantity: a whole number of units from 1 to 1,000,000,000, as a
/// string of digits or a JSON integer (read by [`de`], bounds checked with the order).
#[derive(Debug)]
pub(crate) struct QuantityInput;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for QuantityInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        whole_schema(QTY_PATTERN, 1, "A quantity: a whole number of units from 1 to 1000000000")
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for QuantityInput {}

#[cfg(feature = "openapi")]
/// The OpenAPI schema of a quantity in stock: a whole number from 0 to 1,000,000,000.
#[derive(Debug)]
pub(crate) struct StockInput;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for StockInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        whole_schema(STOCK_PATTERN, 0, "Units in stock: a whole number from 0 to 1000000000")
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for StockInput {}

#[cfg(feature = "openapi")]
fn whole_schema(
    pattern: &str,
    min: u64,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaType, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .pattern(Some(pattern))
                .description(Some("As a string of digits")),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::Integer))
                .minimum(Some(min))
                .maximum(Some(crate::limits::MAX_QTY))
                .description(Some("As a JSON integer")),
        )
        .description(Some(description))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "de")]
        v: Decimal,
        #[serde(default, deserialize_with = "de_opt")]
        o: Option<Decimal>,
    }

    fn read(json: &str) -> Result<Holder, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn strings_follow_the_pattern_and_numbers_are_exact() {
        assert_eq!(read(r#"{"v": "499.00"}"#).map(|h| h.v.to_string()), Ok("499.00".into()));
        assert_eq!(
            read(r#"{"v": 12.5, "o": "3"}"#).map(|h| (h.v.to_string(), h.o)),
            Ok(("12.5".into(), Some(Decimal::from(3))))
        );
        assert_eq!(read(r#"{"v": 1.5e3, "o": null}"#).map(|h| (h.v, h.o)), Ok((Decimal::from(1500), None)));
        // Past the limits is still a value: the order's checks refuse it, naming the field.
        assert_eq!(
            read(r#"{"v": "1234567890123456"}"#).map(|h| h.v),
            Ok(Decimal::from(1_234_567_890_123_456_i64))
        );
        assert_eq!(read(r#"{"v": 1e15}"#).map(|h| h.v), Ok(Decimal::from(1_000_000_000_000_000_i64)));
        assert_eq!(read(r#"{"v": "79228162514264337593543950335"}"#).map(|h| h.v), Ok(Decimal::MAX));
        for bad in [
            r#""-1""#,
            r#""+1""#,
            r#""1e3""#,
            r#""1_000""#,
            r#"" 1""#,
            r#""""#,
            r#"".5""#,
            r#""5.""#,
            r#""79228162514264337593543950336""#,
            "1e30",
            "{}",
            "true",
        ] {
            assert!(read(&format!(r#"{{"v": {bad}}}"#)).is_err(), "{bad} is refused");
        }
        assert!(read(r#"{"v": -2}"#).is_ok(), "a negative number reads (the order's checks refuse it)");
        // A long text is refused without being repeated.
        let long = format!(r#"{{"v": "{}"}}"#, "9".repeat(100_000));
        let message = read(&long).expect_err("refused");
        assert!(message.len() < 300, "{message}");
    }

    #[test]
    fn whole_numbers_are_whole_however_json_writes_them() {
        #[derive(Debug, serde::Deserialize)]
        struct W {
            #[serde(default, deserialize_with = "de_opt_whole")]
            n: Option<u64>,
        }
        let read = |j: &str| serde_json::from_str::<W>(j).map(|w| w.n).map_err(|e| e.to_string());
        assert_eq!(read(r#"{"n": 60}"#), Ok(Some(60)));
        assert_eq!(read(r#"{"n": 60.0}"#), Ok(Some(60)));
        assert_eq!(read(r#"{"n": 6e1}"#), Ok(Some(60)));
        assert_eq!(read(r#"{"n": null}"#), Ok(None));
        assert_eq!(read("{}"), Ok(None));
        for bad in ["1.5", "-1", r#""60""#, "true"] {
            assert!(read(&format!(r#"{{"n": {bad}}}"#)).is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn toml_numbers_and_strings_read_too() {
        let h: Holder = toml::from_str("v = 2\no = \"1.25\"").expect("toml");
        assert_eq!((h.v, h.o.map(|d| d.to_string())), (Decimal::from(2), Some("1.25".into())));
    }
}
