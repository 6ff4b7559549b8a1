//! Money and quantities as a request sends them: a decimal string (`"499.00"`) or a JSON
//! number (`499`, `12.5`). One reader for every input that takes either, strict enough that the
//! OpenAPI document can say exactly what it accepts ([`DecimalInput`]): a string is digits with
//! an optional fraction, never a sign, an exponent, underscores or blanks; a number is any JSON
//! number a `Decimal` holds exactly (at most 28 digits after the point) below 10^15.

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::str::FromStr;

/// The pattern a decimal string must match (what the OpenAPI document says).
pub(crate) const DECIMAL_PATTERN: &str = r"^[0-9]{1,15}(\.[0-9]{1,13})?$";

/// The bound a JSON number must stay below (10^15, as the string's 15 integer digits).
const NUMBER_LIMIT: i64 = 1_000_000_000_000_000;

/// Whether `s` matches [`DECIMAL_PATTERN`], without a regex engine.
fn fits_pattern(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str, max: usize| (1..=max).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    digits(int, 15) && frac.is_none_or(|f| digits(f, 13))
}

/// serde_json's token for a number kept as text (`arbitrary_precision`, which rust_decimal's
/// `serde-with-arbitrary-precision` feature turns on).
const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

fn from_number_text<E: de::Error>(text: &str) -> Result<Decimal, E> {
    let value = Decimal::from_str(text).or_else(|_| Decimal::from_scientific(text)).map_err(|_| {
        E::custom(format!(
            "the number {text} has more digits than a decimal holds (at most 28 after the point)"
        ))
    })?;
    if value.abs() >= Decimal::from(NUMBER_LIMIT) {
        return Err(E::custom(format!("the number {text} is too large (the limit is 10^15)")));
    }
    Ok(value)
}

struct DecimalVisitor;

impl<'de> Visitor<'de> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal: a string like \"12.50\" or a JSON number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        if !fits_pattern(v) {
            return Err(E::custom(format!(
                "`{v}` is not a decimal string: write digits with an optional fraction, like \"12.50\" \
                 (up to 15 digits before the point and 13 after; no sign, exponent or spaces)"
            )));
        }
        Decimal::from_str(v).map_err(|e| E::custom(format!("`{v}`: {e}")))
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
pub(crate) fn de_opt_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
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

/// The OpenAPI schema of a decimal input: a string of [`DECIMAL_PATTERN`], or a JSON number.
/// A schema only: the values are `Decimal`s read by [`de`].
#[derive(Debug)]
pub(crate) struct DecimalInput;

impl utoipa::PartialSchema for DecimalInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaType, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .pattern(Some(DECIMAL_PATTERN))
                    .description(Some("A decimal string: digits with an optional fraction (`\"12.50\"`)")),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::Number))
                    .exclusive_maximum(Some(1e15))
                    .exclusive_minimum(Some(-1e15))
                    .description(Some(
                        "A JSON number a decimal holds exactly: at most 28 digits after the point",
                    )),
            )
            .description(Some("A decimal, as a string or a JSON number; read exactly, never through a float"))
            .into()
    }
}

impl utoipa::ToSchema for DecimalInput {}

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
        for bad in [
            r#""-1""#,
            r#""+1""#,
            r#""1e3""#,
            r#""1_000""#,
            r#"" 1""#,
            r#""""#,
            r#"".5""#,
            r#""5.""#,
            "1e15",
            "5e-324",
            "{}",
            "true",
            r#""1234567890123456""#,
        ] {
            assert!(read(&format!(r#"{{"v": {bad}}}"#)).is_err(), "{bad} is refused");
        }
        assert!(read(r#"{"v": -2}"#).is_ok(), "a negative number reads (the order's checks refuse it)");
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
