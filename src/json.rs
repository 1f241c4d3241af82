//! JSON in and out: exact decimals and parse errors that name the field path.

use crate::error::{ErrorCode, LevyError};
use serde::de::DeserializeOwned;

/// Parses `bytes` as `T`; an error names the field path
/// (`documents[0].items[2].price.amount`) and says what was wrong.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, LevyError> {
    // Fast path: most bodies are valid, and path tracking costs a tenth of the parse.
    // Validating UTF-8 once for the whole body is cheaper than serde_json's check of
    // every string it reads from a byte slice.
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(value) = serde_json::from_str(text) {
            return Ok(value);
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        from_serde(e.into_inner(), path)
    })?;
    de.end().map_err(|e| from_serde(e, ".".into()))?;
    Ok(value)
}

fn from_serde(err: serde_json::Error, path: String) -> LevyError {
    use serde_json::error::Category;
    let path = if path == "." { String::new() } else { path };
    let full = err.to_string();
    // serde_json appends " at line L column C"; keep the message itself.
    let message = full
        .rsplit_once(" at line ")
        .map(|(m, _)| m.to_string())
        .unwrap_or(full);
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => LevyError::at(
            ErrorCode::InvalidJson,
            format!("line {} column {}", err.line(), err.column()),
            format!("the body is not valid JSON: {message}"),
        ),
        Category::Data => {
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|s| s.strip_suffix('`'))
            {
                let full_path = if path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
                LevyError::at(
                    ErrorCode::MissingField,
                    full_path,
                    format!("required field `{field}` is missing"),
                )
            } else {
                let code = if message.contains("out of range") {
                    ErrorCode::AmountOutOfRange
                } else {
                    ErrorCode::InvalidField
                };
                LevyError::at(code, path, message)
            }
        }
    }
}

/// Serde adapter for exact decimals as JSON numbers (`#[serde(with = "json::dec")]`).
///
/// Only JSON numbers are accepted: a string where an amount belongs is an error, so
/// `"10"` cannot silently stand in for `10`. Output is the decimal's own digits.
pub mod dec {
    use rust_decimal::Decimal;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// serde_json's (arbitrary-precision) marker for a number written as its digits: what
    /// `serde_json::Number` itself serializes as. Using it directly spares two heap
    /// strings per number on the response path.
    const NUMBER_TOKEN: &str = "$serde_json::private::Number";

    /// A decimal's digits, formatted on the stack (at most 31 characters).
    pub(crate) struct Digits {
        pub(crate) buf: [u8; 48],
        pub(crate) len: usize,
    }

    /// Writes `value` exactly as its `Display` does (sign, digits, the point at its scale),
    /// from the mantissa: several times faster than going through `fmt`.
    pub(crate) fn write_decimal(value: &Decimal, out: &mut Digits) {
        let mut digits = [0u8; 40];
        let mut start = digits.len();
        let mut m = value.mantissa().unsigned_abs();
        loop {
            start -= 1;
            digits[start] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
        let digits = &digits[start..];
        let scale = value.scale() as usize;
        let mut push = |b: &[u8]| {
            out.buf[out.len..out.len + b.len()].copy_from_slice(b);
            out.len += b.len();
        };
        if value.is_sign_negative() && !value.is_zero() {
            push(b"-");
        }
        if scale == 0 {
            push(digits);
        } else if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            push(int);
            push(b".");
            push(frac);
        } else {
            push(b"0.");
            for _ in digits.len()..scale {
                push(b"0");
            }
            push(digits);
        }
    }

    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut digits = Digits {
            buf: [0; 48],
            len: 0,
        };
        write_decimal(value, &mut digits);
        let text =
            std::str::from_utf8(&digits.buf[..digits.len]).map_err(serde::ser::Error::custom)?;
        let mut st = s.serialize_struct(NUMBER_TOKEN, 1)?;
        st.serialize_field(NUMBER_TOKEN, text)?;
        st.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        from_number(&n).map_err(D::Error::custom)
    }

    /// The exact decimal of a JSON number's digits.
    pub fn from_number(n: &serde_json::Number) -> Result<Decimal, String> {
        let s = n.as_str();
        let parsed = if s.contains(['e', 'E']) {
            Decimal::from_scientific(s)
        } else {
            Decimal::from_str_exact(s)
        };
        parsed.map_err(|_| {
            format!("number {s} is out of range: amounts need at most 28 significant digits and a magnitude below 7.9e28")
        })
    }
}

/// [`dec`] for optional fields: absent or `null` is `None`
/// (`#[serde(default, with = "json::opt_dec", skip_serializing_if = "Option::is_none")]`).
pub mod opt_dec {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => super::dec::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        use serde::de::Error;
        match Option::<serde_json::Number>::deserialize(d)? {
            Some(n) => super::dec::from_number(&n)
                .map(Some)
                .map_err(D::Error::custom),
            None => Ok(None),
        }
    }
}

/// Serde adapter for identifiers that BigCommerce sends as strings in one API and
/// integers in another (`class_id: "6"` vs `tax_class_id: 6`): accepted as either,
/// kept as a string, and written back as an integer when it is one.
pub mod id_string {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &str, s: S) -> Result<S::Ok, S::Error> {
        match value.parse::<u64>() {
            Ok(n) if n.to_string() == value => s.serialize_u64(n),
            _ => s.serialize_str(value),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(s),
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
            other => Err(D::Error::custom(format!(
                "invalid type: {}, expected a string or an integer id",
                kind(&other)
            ))),
        }
    }

    pub(crate) fn kind(v: &serde_json::Value) -> &'static str {
        match v {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "boolean",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Array(_) => "array",
            serde_json::Value::Object(_) => "object",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::dec::{write_decimal, Digits};
    use rust_decimal::Decimal;
    use std::str::FromStr;

    #[test]
    fn decimals_are_written_exactly_as_display_writes_them() {
        let mut values: Vec<Decimal> = [
            "0",
            "-0",
            "1",
            "-1",
            "0.5",
            "-0.5",
            "7.50",
            "225",
            "0.0825",
            "0.000000000000000000000000001",
            "-0.000000000000000000000000001",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "7.9228162514264337593543950335",
            "100.00",
            "1018518509351851.85",
            "0.10",
            "10",
        ]
        .iter()
        .map(|s| Decimal::from_str(s).unwrap())
        .collect();
        values.push(Decimal::new(0, 3));
        for m in [1i64, 9, 10, 99, 101, 123456789, -42, i64::MAX, i64::MIN + 1] {
            for scale in [0u32, 1, 2, 5, 18, 28] {
                values.push(Decimal::new(m, scale));
            }
        }
        for v in values {
            let mut d = Digits {
                buf: [0; 48],
                len: 0,
            };
            write_decimal(&v, &mut d);
            assert_eq!(
                std::str::from_utf8(&d.buf[..d.len]).unwrap(),
                v.to_string(),
                "{v:?}"
            );
        }
    }
}
