//! Rounding policies (SPEC section 4.6): where rounding happens and how midpoints go.
//! The rounding itself, on exact values, is [`crate::exact`]'s; "overflow" means a
//! result too large for a 96-bit decimal, reported as an error rather than a panic.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Where rounding happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingLevel {
    /// Each rate's tax is rounded (BigCommerce's RATE_ROUNDING).
    #[default]
    PerRate,
    /// A line's exact total is rounded once, then split over its rates.
    PerLine,
    /// A document's exact total is rounded once, then split over lines and rates.
    PerDocument,
}

/// How midpoints round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMode {
    /// Midpoint away from zero: 0.125 -> 0.13, -0.125 -> -0.13.
    #[default]
    HalfUp,
    /// Midpoint to even (banker's rounding): 0.125 -> 0.12, 0.135 -> 0.14.
    HalfEven,
}

/// An amount outside what a 96-bit decimal can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// Rounds `x` to `dp` places with `mode`.
pub fn round(x: Decimal, dp: u32, mode: RoundingMode) -> Decimal {
    let strategy = match mode {
        RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        RoundingMode::HalfEven => RoundingStrategy::MidpointNearestEven,
    };
    x.round_dp_with_strategy(dp, strategy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rounding_modes_differ_only_at_midpoints() {
        assert_eq!(round(d("0.125"), 2, RoundingMode::HalfUp), d("0.13"));
        assert_eq!(round(d("0.125"), 2, RoundingMode::HalfEven), d("0.12"));
        assert_eq!(round(d("0.135"), 2, RoundingMode::HalfEven), d("0.14"));
        assert_eq!(round(d("-0.125"), 2, RoundingMode::HalfUp), d("-0.13"));
        assert_eq!(round(d("-0.125"), 2, RoundingMode::HalfEven), d("-0.12"));
        assert_eq!(round(d("0.1251"), 2, RoundingMode::HalfEven), d("0.13"));
        assert_eq!(round(d("2.5"), 0, RoundingMode::HalfEven), d("2"));
    }
}
