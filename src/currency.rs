//! Currencies: ISO 4217 codes and their minor units (USD 2, JPY 0, KWD 3).

use crate::error::{ErrorCode, LevyError};

/// A currency Levy can round amounts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    iso: iso_currency::Currency,
    minor_units: u32,
}

impl Currency {
    /// Looks up an ISO 4217 code (case-insensitive). Codes without minor units
    /// (precious metals, testing codes) cannot carry prices and are refused.
    pub fn from_code(code: &str) -> Result<Currency, LevyError> {
        let unknown = || {
            LevyError::at(
                ErrorCode::UnknownCurrency,
                "currency_code",
                format!("`{code}` is not an ISO 4217 currency code"),
            )
        };
        if code.len() != 3 {
            return Err(unknown());
        }
        let iso =
            iso_currency::Currency::from_code(&code.to_ascii_uppercase()).ok_or_else(unknown)?;
        let minor_units = iso.exponent().ok_or_else(unknown)? as u32;
        Ok(Currency { iso, minor_units })
    }

    pub fn code(&self) -> &'static str {
        self.iso.code()
    }

    /// Decimal places of the minor unit.
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(Currency::from_code("USD").unwrap().minor_units(), 2);
        assert_eq!(Currency::from_code("jpy").unwrap().minor_units(), 0);
        assert_eq!(Currency::from_code("KWD").unwrap().minor_units(), 3);
        assert_eq!(Currency::from_code("EUR").unwrap().code(), "EUR");
    }

    #[test]
    fn unknown_codes_are_refused() {
        for code in ["XXX1", "ABC", "", "US", "XAU"] {
            let err = Currency::from_code(code).unwrap_err();
            assert_eq!(err.code, ErrorCode::UnknownCurrency, "{code}");
            assert_eq!(err.path.as_deref(), Some("currency_code"));
        }
    }
}
