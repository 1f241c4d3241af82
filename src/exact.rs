//! Exact tax arithmetic (SPEC 10.1).
//!
//! Every value the engine rounds is a rational number: decimal amounts and rates, their
//! products and sums, and for tax-inclusive prices the net `amount / (1 + R)`, which rarely
//! terminates. A 96-bit `Decimal` keeps only 28 significant digits of such a net, so a tax
//! of exactly 5.595 became 5.5949999… and two equal remainders stopped being a tie.
//!
//! [`Exact`] holds a value as the fraction `num / den` of two `i128`s, unreduced: decimals
//! multiply into power-of-ten denominators and a tax-inclusive line adds the digits of its
//! factor `1 + R`, which fits 128 bits for every realistic cart and costs a few integer
//! operations per step, no allocation. An operation that would overflow 128 bits moves
//! the value to an arbitrary-precision `BigRational` instead, so nothing is ever
//! approximated. Rounding, midpoints and the comparisons of the largest-remainder split
//! are decided on the fraction itself; only rounded results become `Decimal` again.

use crate::rounding::{Overflow, RoundingMode};
use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use rust_decimal::Decimal;
use std::cmp::Ordering;

/// An exact rational value.
#[derive(Debug, Clone)]
pub enum Exact {
    /// `num / den`, `den > 0`, not necessarily in lowest terms.
    Small { num: i128, den: i128 },
    /// Anything that would overflow `i128`.
    Big(Box<BigRational>),
}

/// 10^0 ..= 10^38, every power of ten an `i128` holds.
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

impl Exact {
    pub const ZERO: Exact = Exact::Small { num: 0, den: 1 };
    pub const ONE: Exact = Exact::Small { num: 1, den: 1 };

    /// The exact value of a decimal (its mantissa over 10^scale).
    pub fn from_decimal(d: Decimal) -> Exact {
        Exact::Small {
            num: d.mantissa(),
            den: POW10[d.scale() as usize],
        }
    }

    /// The exact fraction of a percentage (`8.25` -> 825/10000).
    pub fn from_percent(percent: Decimal) -> Exact {
        // scale <= 28, so 10^scale * 100 <= 10^30 fits.
        Exact::Small {
            num: percent.mantissa(),
            den: POW10[percent.scale() as usize + 2],
        }
    }

    pub fn is_zero(&self) -> bool {
        match self {
            Exact::Small { num, .. } => *num == 0,
            Exact::Big(b) => b.is_zero(),
        }
    }

    pub fn add(&self, other: &Exact) -> Exact {
        if let (Exact::Small { num: a, den: b }, Exact::Small { num: c, den: d }) = (self, other) {
            if *a == 0 {
                return other.clone();
            }
            if *c == 0 {
                return self.clone();
            }
            if let Some(sum) = small_add(*a, *b, *c, *d).or_else(|| {
                let ((a, b), (c, d)) = (reduce(*a, *b), reduce(*c, *d));
                small_add(a, b, c, d)
            }) {
                return sum;
            }
        }
        Exact::from_big(self.big() + other.big())
    }

    pub fn sub(&self, other: &Exact) -> Exact {
        self.add(&other.neg())
    }

    pub fn neg(&self) -> Exact {
        match self {
            Exact::Small { num, den } => match num.checked_neg() {
                Some(num) => Exact::Small { num, den: *den },
                None => Exact::from_big(-self.big()),
            },
            Exact::Big(b) => Exact::Big(Box::new(-(**b).clone())),
        }
    }

    pub fn mul(&self, other: &Exact) -> Exact {
        if let (Exact::Small { num: a, den: b }, Exact::Small { num: c, den: d }) = (self, other) {
            if *a == 0 || *c == 0 {
                return Exact::ZERO;
            }
            if let Some(product) = small_mul(*a, *b, *c, *d).or_else(|| {
                let ((a, b), (c, d)) = (reduce(*a, *b), reduce(*c, *d));
                small_mul(a, b, c, d)
            }) {
                return product;
            }
        }
        Exact::from_big(self.big() * other.big())
    }

    /// `self / other`; dividing by zero is the only failure.
    pub fn div(&self, other: &Exact) -> Result<Exact, Overflow> {
        if other.is_zero() {
            return Err(Overflow);
        }
        if let (Exact::Small { num: a, den: b }, Exact::Small { num: c, den: d }) = (self, other) {
            // (a / b) / (c / d) = (a * d) / (b * c), the sign moved to the numerator.
            let (c, d) = if *c < 0 {
                (c.checked_neg(), d.checked_neg())
            } else {
                (Some(*c), Some(*d))
            };
            if let (Some(c), Some(d)) = (c, d) {
                if let Some(q) = small_mul(*a, *b, d, c) {
                    return Ok(q);
                }
            }
        }
        Ok(Exact::from_big(self.big() / other.big()))
    }

    /// Rounds to `dp` decimal places, midpoints by `mode`, deciding on the exact value.
    pub fn round(&self, dp: u32, mode: RoundingMode) -> Result<Decimal, Overflow> {
        self.to_units(dp, Some(mode))
    }

    /// Rounds toward zero to `dp` decimal places.
    pub fn trunc(&self, dp: u32) -> Result<Decimal, Overflow> {
        self.to_units(dp, None)
    }

    /// The value in units of 10^-dp, truncated, then moved away from zero by one when
    /// `mode` says the discarded part rounds up.
    fn to_units(&self, dp: u32, mode: Option<RoundingMode>) -> Result<Decimal, Overflow> {
        let scale = *POW10.get(dp as usize).ok_or(Overflow)?;
        if let Exact::Small { num, den } = self {
            if let Some(scaled) = mul(*num, scale) {
                let (q, r) = div_rem(scaled, *den);
                let r = r.abs();
                // Compare the remainder with half the denominator without computing 2r.
                let up = mode.is_some_and(|m| round_up(r.cmp(&(den - r)), q % 2 != 0, m));
                let q = if up { q + scaled.signum() } else { q };
                return units_to_decimal(q, dp);
            }
        }
        let scaled = self.big() * BigRational::from_integer(BigInt::from(scale));
        let q = scaled.trunc();
        let r = (&scaled - &q).abs();
        let half = BigRational::new(BigInt::one(), BigInt::from(2));
        let odd = q.numer().is_odd();
        let up = mode.is_some_and(|m| round_up(r.cmp(&half), odd, m));
        let mut q = q.to_integer();
        if up {
            q += scaled.numer().signum();
        }
        units_to_decimal(q.to_i128().ok_or(Overflow)?, dp)
    }

    fn big(&self) -> BigRational {
        match self {
            Exact::Small { num, den } => BigRational::new(BigInt::from(*num), BigInt::from(*den)),
            Exact::Big(b) => (**b).clone(),
        }
    }

    /// Back to the small form when the (reduced) fraction fits again.
    fn from_big(b: BigRational) -> Exact {
        match (b.numer().to_i128(), b.denom().to_i128()) {
            (Some(num), Some(den)) => Exact::Small { num, den },
            _ => Exact::Big(Box::new(b)),
        }
    }
}

/// `units * 10^-dp` as a decimal, dropping trailing zeros when the mantissa would
/// not fit 96 bits otherwise (a huge whole amount rounded to cents).
fn units_to_decimal(mut units: i128, mut dp: u32) -> Result<Decimal, Overflow> {
    loop {
        match Decimal::try_from_i128_with_scale(units, dp) {
            Ok(d) => return Ok(d),
            Err(_) if dp > 0 && units % 10 == 0 => {
                units /= 10;
                dp -= 1;
            }
            Err(_) => return Err(Overflow),
        }
    }
}

/// Whether a remainder compared (`cmp`) with one half rounds away from zero.
fn round_up(cmp: Ordering, odd: bool, mode: RoundingMode) -> bool {
    match cmp {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => match mode {
            RoundingMode::HalfUp => true,
            RoundingMode::HalfEven => odd,
        },
    }
}

fn small_add(a: i128, b: i128, c: i128, d: i128) -> Option<Exact> {
    let (num, den) = if b == d {
        (a.checked_add(c)?, b)
    } else if div_rem(d, b).1 == 0 {
        (mul(a, div_rem(d, b).0)?.checked_add(c)?, d)
    } else if div_rem(b, d).1 == 0 {
        (a.checked_add(mul(c, div_rem(b, d).0)?)?, b)
    } else {
        (mul(a, d)?.checked_add(mul(c, b)?)?, mul(b, d)?)
    };
    Some(Exact::Small { num, den })
}

fn small_mul(a: i128, b: i128, c: i128, d: i128) -> Option<Exact> {
    Some(Exact::Small {
        num: mul(a, c)?,
        den: mul(b, d)?,
    })
}

/// `a * b`, `None` on overflow. Carts' values mostly fit 64 bits, where the product
/// cannot overflow and the 128-bit overflow check is skipped.
#[inline]
fn mul(a: i128, b: i128) -> Option<i128> {
    match (i64::try_from(a), i64::try_from(b)) {
        (Ok(a), Ok(b)) => Some(a as i128 * b as i128),
        _ => a.checked_mul(b),
    }
}

/// Quotient (toward zero) and remainder of `a / b`, `b > 0`; in 64 bits when both fit,
/// which is several times cheaper than a 128-bit division.
#[inline]
fn div_rem(a: i128, b: i128) -> (i128, i128) {
    match (i64::try_from(a), i64::try_from(b)) {
        (Ok(a), Ok(b)) => ((a / b) as i128, (a % b) as i128),
        _ => (a / b, a % b),
    }
}

/// The fraction in lowest terms (tried before giving up on the small form).
fn reduce(num: i128, den: i128) -> (i128, i128) {
    let g = num.gcd(&den);
    if g > 1 {
        (num / g, den / g)
    } else {
        (num, den)
    }
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

impl PartialEq for Exact {
    fn eq(&self, other: &Exact) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Exact {}

impl PartialOrd for Exact {
    fn partial_cmp(&self, other: &Exact) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Exact {
    /// Compares the rational values: equal fractions are equal, whatever their terms.
    fn cmp(&self, other: &Exact) -> Ordering {
        if let (Exact::Small { num: a, den: b }, Exact::Small { num: c, den: d }) = (self, other) {
            if b == d {
                return a.cmp(c);
            }
            if let (Some(ad), Some(cb)) = (mul(*a, *d), mul(*c, *b)) {
                return ad.cmp(&cb);
            }
        }
        self.big().cmp(&other.big())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn e(s: &str) -> Exact {
        Exact::from_decimal(d(s))
    }

    fn ds(v: &[&str]) -> Vec<Decimal> {
        v.iter().map(|s| d(s)).collect()
    }

    fn es(v: &[&str]) -> Vec<Exact> {
        v.iter().map(|s| e(s)).collect()
    }

    #[test]
    fn an_exact_midpoint_of_a_division_is_a_midpoint() {
        // 55.95 * 0.13 / 1.3 = 5.595 exactly; 28 digits made it 5.5949999...
        let net = e("55.95").div(&e("1.3")).unwrap();
        let tax = net.mul(&e("0.13"));
        assert_eq!(tax.round(2, RoundingMode::HalfUp).unwrap(), d("5.60"));
        assert_eq!(tax.round(2, RoundingMode::HalfEven).unwrap(), d("5.60"));
        assert_eq!(
            tax.neg().round(2, RoundingMode::HalfUp).unwrap(),
            d("-5.60")
        );
        assert_eq!(tax.trunc(2).unwrap(), d("5.59"));
    }

    #[test]
    fn rounding_modes_at_midpoints_and_off_them() {
        for (x, up, even) in [
            ("0.125", "0.13", "0.12"),
            ("0.135", "0.14", "0.14"),
            ("-0.125", "-0.13", "-0.12"),
            ("0.1251", "0.13", "0.13"),
            ("-0.1249", "-0.12", "-0.12"),
            ("0", "0", "0"),
        ] {
            assert_eq!(e(x).round(2, RoundingMode::HalfUp).unwrap(), d(up), "{x}");
            assert_eq!(
                e(x).round(2, RoundingMode::HalfEven).unwrap(),
                d(even),
                "{x}"
            );
        }
        let third = e("1").div(&e("3")).unwrap();
        assert_eq!(third.round(0, RoundingMode::HalfUp).unwrap(), d("0"));
        assert_eq!(third.round(3, RoundingMode::HalfUp).unwrap(), d("0.333"));
    }

    #[test]
    fn equal_fractions_compare_equal_whatever_their_terms() {
        let a = e("0.04").div(&e("11")).unwrap();
        let b = e("0.4").div(&e("110")).unwrap();
        assert_eq!(a, b);
        assert!(e("0.1") < e("0.1000000000000000000000000001"));
        assert_eq!(e("2.50"), e("2.5"));
    }

    #[test]
    fn overflowing_values_move_to_big_rationals_and_stay_exact() {
        let max = Exact::from_decimal(Decimal::MAX);
        let huge = max.mul(&max).mul(&max);
        assert!(matches!(huge, Exact::Big(_)));
        let back = huge.div(&max).unwrap().div(&max).unwrap();
        assert_eq!(back, max);
        assert_eq!(back.round(2, RoundingMode::HalfUp).unwrap(), Decimal::MAX);
        // Deep compounding: (1 + 1/7)^40 has a 34-digit denominator and more; the sum
        // of the parts still rounds exactly.
        let mut x = Exact::ONE;
        let step = e("1").add(&e("1").div(&e("7")).unwrap());
        for _ in 0..40 {
            x = x.mul(&step);
        }
        let half = x.sub(&x.sub(&e("0.005"))).add(&e("1.0"));
        assert_eq!(half.round(2, RoundingMode::HalfUp).unwrap(), d("1.01"));
        assert_eq!(half.round(2, RoundingMode::HalfEven).unwrap(), d("1.00"));
    }

    #[test]
    fn a_percentage_is_its_fraction() {
        assert_eq!(Exact::from_percent(d("8.25")), e("0.0825"));
        assert_eq!(Exact::from_percent(d("1000")), e("10"));
        let tiny = Exact::from_percent(Decimal::new(1, 28));
        let big = Exact::Small {
            num: 10i128.pow(30),
            den: 1,
        };
        assert_eq!(tiny.mul(&big), e("1"));
    }

    #[test]
    fn a_result_too_large_for_a_decimal_is_an_overflow() {
        let max = Exact::from_decimal(Decimal::MAX);
        assert_eq!(
            max.mul(&e("10")).round(0, RoundingMode::HalfUp),
            Err(Overflow)
        );
        assert_eq!(e("1").div(&Exact::ZERO).unwrap_err(), Overflow);
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
