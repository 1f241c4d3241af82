//! Rounding policies and the largest-remainder split (SPEC section 4.6).
//!
//! Splits are decided on [`Exact`] values (SPEC 10.1); "overflow" means a result too
//! large for a 96-bit decimal, reported as an error rather than a panic.

use crate::exact::Exact;
use rust_decimal::prelude::ToPrimitive;
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

/// Splits `total` (already a multiple of the minor unit) over the exact `parts` so that
/// the results are multiples of the minor unit and add up to `total` exactly.
///
/// Each part is first rounded toward zero; the units still missing (positive or
/// negative) go one at a time to the parts whose discarded remainder is largest in
/// that direction; ties — remainders equal as rationals — go to the earlier part.
pub fn largest_remainder(
    total: Decimal,
    parts: &[Exact],
    dp: u32,
) -> Result<Vec<Decimal>, Overflow> {
    let mut out = Vec::with_capacity(parts.len());
    let mut assigned = Decimal::ZERO;
    for p in parts {
        let t = p.trunc(dp)?;
        assigned = assigned.checked_add(t).ok_or(Overflow)?;
        out.push(t);
    }
    if out.is_empty() {
        return Ok(out);
    }
    let unit = Decimal::new(1, dp);
    let missing = total.checked_sub(assigned).ok_or(Overflow)?;
    let units = (missing / unit).trunc();
    if units.is_zero() {
        return Ok(out);
    }
    let positive = units.is_sign_positive();
    let count = units.abs().to_usize().ok_or(Overflow)?;
    // Remainders are exact (part - truncated part); a stable sort keeps ties in order.
    let rems: Vec<Exact> = parts
        .iter()
        .zip(&out)
        .map(|(p, t)| p.sub(&Exact::from_decimal(*t)))
        .collect();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    if positive {
        order.sort_by(|&a, &b| rems[b].cmp(&rems[a]));
    } else {
        order.sort_by(|&a, &b| rems[a].cmp(&rems[b]));
    }
    let step = if positive { unit } else { -unit };
    for k in 0..count {
        let i = order[k % order.len()];
        out[i] = out[i].checked_add(step).ok_or(Overflow)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn ds(v: &[&str]) -> Vec<Decimal> {
        v.iter().map(|s| d(s)).collect()
    }

    fn es(v: &[&str]) -> Vec<Exact> {
        v.iter().map(|s| Exact::from_decimal(d(s))).collect()
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

    #[test]
    fn largest_remainder_gives_units_to_largest_remainders() {
        // 0.333 + 0.333 + 0.334 = 1.00 exactly: truncs 0.33 * 3 = 0.99, one cent to the largest (0.004).
        let out = largest_remainder(d("1.00"), &es(&["0.333", "0.333", "0.334"]), 2).unwrap();
        assert_eq!(out, ds(&["0.33", "0.33", "0.34"]));
    }

    #[test]
    fn largest_remainder_ties_go_to_the_earlier_part() {
        let out = largest_remainder(d("0.01"), &es(&["0.005", "0.005"]), 2).unwrap();
        assert_eq!(out, ds(&["0.01", "0.00"]));
    }

    #[test]
    fn largest_remainder_handles_negative_parts() {
        let out = largest_remainder(d("-0.01"), &es(&["-0.004", "-0.006"]), 2).unwrap();
        assert_eq!(out, ds(&["0.00", "-0.01"]));
        let out = largest_remainder(d("-1.00"), &es(&["-0.333", "-0.333", "-0.334"]), 2).unwrap();
        assert_eq!(out, ds(&["-0.33", "-0.33", "-0.34"]));
    }

    #[test]
    fn largest_remainder_with_zero_decimals() {
        let out = largest_remainder(d("3"), &es(&["1.4", "1.4", "0.2"]), 0).unwrap();
        assert_eq!(out, ds(&["2", "1", "0"]));
    }
}
