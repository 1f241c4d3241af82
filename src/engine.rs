//! The tax engine: a quote request and an account's rules in, the `response-quote`
//! out (SPEC section 4). Pure: no I/O, no async, no clock; the same input always
//! gives the same output, to the cent.
//!
//! [`CompiledRules`] is built once per rule change (indexes, sorted rates); a quote
//! then costs a zone lookup per document and a few exact operations per line: every
//! tax is computed as an [`Exact`] rational and only rounded results become decimals
//! (SPEC 10.1), so a midpoint of a tax-inclusive net is a midpoint and equal remainders
//! are a tie.

use crate::currency::Currency;
use crate::error::{ErrorCode, LevyError};
use crate::exact::{largest_remainder, Exact};
use crate::quote::*;
use crate::rounding::{Overflow, RoundingLevel, RoundingMode};
use crate::rules::{Exemption, RulesDocument, Settings, TaxAddress, ValidRules, DEFAULT_CLASS_ID};
use crate::zones::{ZoneIndex, ZoneMatch};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;

/// A validated rule set, indexed for computing quotes.
#[derive(Debug)]
pub struct CompiledRules {
    /// The settings of the document (the document itself stays with the account:
    /// holding a second copy of 50,000 zones would double the memory they take).
    settings: Settings,
    zones: ZoneIndex,
    /// Enabled rates per zone, in (priority, id) order: the order of summaries.
    rates: HashMap<u64, Vec<CompiledRate>>,
    /// Class "0" as `{code, class_id, name}`, for lines that name no class.
    default_class: Arc<TaxClassRef>,
    /// Upper-cased taxability code -> exemption.
    exemptions: HashMap<String, Exemption>,
    /// Normalized class code (SPEC 10.2: trimmed, ASCII lower case) -> class id.
    class_by_code: HashMap<String, String>,
}

#[derive(Debug)]
struct CompiledRate {
    id: u64,
    id_string: Arc<str>,
    name: Arc<str>,
    priority: i64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    /// Class id -> rate as a fraction (8.25 % -> 0.0825), as published and exact.
    class_rates: Vec<(String, Fraction)>,
}

/// A class rate as a fraction: the decimal shown in summaries and the exact value taxed.
#[derive(Debug, Clone)]
struct Fraction {
    shown: Decimal,
    exact: Exact,
}

impl CompiledRate {
    fn in_effect(&self, date: NaiveDate) -> bool {
        self.from.is_none_or(|f| f <= date) && self.to.is_none_or(|t| date < t)
    }

    /// The class's own rate, else the rate of class "0", else none.
    fn fraction_for(&self, class_id: &str) -> Option<&Fraction> {
        let find = |c: &str| {
            self.class_rates
                .iter()
                .find(|(id, _)| id == c)
                .map(|(_, r)| r)
        };
        find(class_id).or_else(|| find(DEFAULT_CLASS_ID))
    }
}

impl Fraction {
    fn of_percent(percent: Decimal) -> Fraction {
        Fraction {
            shown: percent / Decimal::ONE_HUNDRED,
            exact: Exact::from_percent(percent),
        }
    }
}

impl CompiledRules {
    /// Validates and indexes a rules document.
    pub fn new(document: RulesDocument) -> Result<CompiledRules, LevyError> {
        Ok(Self::from_valid(&document.validate()?))
    }

    /// Indexes a validated rule set; nothing in it is checked again.
    pub fn from_valid(document: &ValidRules) -> CompiledRules {
        let zones = ZoneIndex::build(document);
        let mut rates: HashMap<u64, Vec<CompiledRate>> = HashMap::new();
        for r in document.rates.iter().filter(|r| r.enabled) {
            rates.entry(r.tax_zone_id).or_default().push(CompiledRate {
                id: r.id,
                id_string: Arc::from(r.id.to_string()),
                name: Arc::from(r.name.as_str()),
                priority: r.priority,
                from: r.effective_from,
                to: r.effective_to,
                class_rates: r
                    .class_rates
                    .iter()
                    .map(|c| (c.tax_class_id.clone(), Fraction::of_percent(c.rate)))
                    .collect(),
            });
        }
        for list in rates.values_mut() {
            list.sort_by_key(|r| (r.priority, r.id));
        }
        let class_by_code = document
            .classes
            .iter()
            .filter_map(|c| {
                Some((
                    crate::rules::normalized_code(c.code.as_deref()?),
                    c.id.clone(),
                ))
            })
            .filter(|(code, _)| !code.is_empty())
            .collect();
        let class = document.default_class();
        let default_class = Arc::new(TaxClassRef {
            code: class.code.clone().unwrap_or_default(),
            class_id: class.id.clone(),
            name: class.name.clone(),
        });
        let exemptions = document
            .settings
            .exemptions
            .iter()
            .map(|(code, e)| (code.trim().to_ascii_uppercase(), e.clone()))
            .collect();
        CompiledRules {
            settings: document.settings.clone(),
            zones,
            rates,
            default_class,
            exemptions,
            class_by_code,
        }
    }

    /// The class a line is taxed as (SPEC 10.2): the class whose code is the line's
    /// non-empty `tax_class.code`, else its `class_id`, else class "0".
    fn class_of<'l>(&'l self, line: &'l LineRequest) -> &'l str {
        let Some(class) = &line.tax_class else {
            return DEFAULT_CLASS_ID;
        };
        if !class.code.trim().is_empty() && !self.class_by_code.is_empty() {
            if let Some(id) = self
                .class_by_code
                .get(&crate::rules::normalized_code(&class.code))
            {
                return id;
            }
        }
        &class.class_id
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The zone for an address and customer group, and why (the zone check).
    pub fn zone_for(&self, address: &Address, customer_group: &str) -> ZoneMatch {
        self.zones.find(
            address.country(),
            address.region_code.as_deref(),
            address.postal_code.as_deref(),
            customer_group,
        )
    }

    /// The exemption of a taxability code, if the settings list it.
    fn exemption(&self, code: &str) -> Option<&Exemption> {
        self.exemptions.get(&code.trim().to_ascii_uppercase())
    }
}

/// A computed quote and what the caller may want to log.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    pub response: QuoteResponse,
    /// The customer's taxability code when the settings do not list it (it was ignored).
    pub unknown_taxability_code: Option<String>,
}

/// Parses `transaction_date` (RFC 3339; also accepted without offset, as UTC, or as a
/// bare date) into its UTC calendar date.
pub fn transaction_day(value: &str) -> Result<NaiveDate, LevyError> {
    let v = value.trim();
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|d| d.with_timezone(&chrono::Utc).date_naive())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").map(|d| d.date())
        })
        .or_else(|_| NaiveDate::parse_from_str(v, "%Y-%m-%d"))
        .map_err(|_| {
            LevyError::at(
                ErrorCode::InvalidField,
                "transaction_date",
                format!("`{value}` is not an ISO 8601 date-time such as 2019-08-13T03:17:37+00:00"),
            )
        })
}

/// Where a line sits in its document, for error paths.
#[derive(Debug, Clone, Copy)]
enum Pos {
    Item(usize),
    Wrapping(usize),
    Shipping,
    Handling,
}

impl Pos {
    fn path(self, doc: usize) -> String {
        match self {
            Pos::Item(i) => format!("documents[{doc}].items[{i}]"),
            Pos::Wrapping(i) => format!("documents[{doc}].items[{i}].wrapping"),
            Pos::Shipping => format!("documents[{doc}].shipping"),
            Pos::Handling => format!("documents[{doc}].handling"),
        }
    }

    fn allows(self, kind: LineType) -> bool {
        match self {
            Pos::Item(_) => matches!(kind, LineType::Item | LineType::Refund | LineType::Fee),
            Pos::Wrapping(_) => kind == LineType::Wrapping,
            Pos::Shipping => kind == LineType::Shipping,
            Pos::Handling => kind == LineType::Handling,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Pos::Item(_) => "`item`, `refund` or `fee`",
            Pos::Wrapping(_) => "`wrapping`",
            Pos::Shipping => "`shipping`",
            Pos::Handling => "`handling`",
        }
    }
}

/// One rate's share of a line's tax: exact, then rounded.
#[derive(Debug, Clone)]
struct Part<'r> {
    rate: &'r CompiledRate,
    fraction: &'r Fraction,
    exact: Exact,
    tax: Decimal,
}

/// A line's tax: the exact total, and the rounded one once its level has decided it.
#[derive(Debug, Clone)]
struct LineTax<'r> {
    parts: Vec<Part<'r>>,
    exact: Exact,
    total: Decimal,
    effective_rate: Decimal,
}

/// Everything the computation of one document needs besides its lines.
struct Policy {
    level: RoundingLevel,
    mode: RoundingMode,
    dp: u32,
}

/// Computes the quote response for `request` under `rules`.
pub fn compute(rules: &CompiledRules, request: &QuoteRequest) -> Result<Computed, LevyError> {
    let currency = Currency::from_code(&request.currency_code)?;
    let day = transaction_day(&request.transaction_date)?;
    let settings = rules.settings();
    let policy = Policy {
        level: settings.rounding,
        mode: settings.rounding_mode,
        dp: currency.minor_units(),
    };
    let mut unknown_taxability_code = None;
    let exemption = match request.customer.taxability_code.as_deref().map(str::trim) {
        Some(code) if !code.is_empty() => {
            let e = rules.exemption(code);
            if e.is_none() {
                unknown_taxability_code = Some(code.to_string());
            }
            e
        }
        _ => None,
    };
    let group = request.customer.customer_group_id.as_str();
    let mut documents = Vec::with_capacity(request.documents.len());
    for (d, doc) in request.documents.iter().enumerate() {
        let address = choose_address(doc, settings.tax_address);
        let zone = address.map_or(crate::rules::DEFAULT_ZONE_ID, |a| {
            rules.zone_for(a, group).zone_id
        });
        let active: Vec<&CompiledRate> = rules
            .rates
            .get(&zone)
            .map(|list| {
                list.iter()
                    .filter(|r| r.in_effect(day) && !exemption.is_some_and(|e| e.exempts(r.id)))
                    .collect()
            })
            .unwrap_or_default();
        documents.push(compute_document(rules, doc, d, &active, &policy)?);
    }
    Ok(Computed {
        response: QuoteResponse {
            id: request.id.clone(),
            documents,
        },
        unknown_taxability_code,
    })
}

/// The address named by `tax_address`, falling back to destination, billing, origin
/// when it has no country.
fn choose_address(doc: &DocumentRequest, which: TaxAddress) -> Option<&Address> {
    let named = match which {
        TaxAddress::Destination => Some(&doc.destination_address),
        TaxAddress::Billing => doc.billing_address.as_ref(),
        TaxAddress::Origin => Some(&doc.origin_address),
    };
    [
        named,
        Some(&doc.destination_address),
        doc.billing_address.as_ref(),
        Some(&doc.origin_address),
    ]
    .into_iter()
    .flatten()
    .find(|a| a.country().is_some())
}

fn compute_document(
    rules: &CompiledRules,
    doc: &DocumentRequest,
    d: usize,
    active: &[&CompiledRate],
    policy: &Policy,
) -> Result<DocumentResponse, LevyError> {
    // Line order: items in request order, each followed by its wrapping, then shipping, handling.
    let mut lines: Vec<(Pos, &LineRequest)> = Vec::with_capacity(doc.items.len() * 2 + 2);
    for (i, item) in doc.items.iter().enumerate() {
        lines.push((Pos::Item(i), item));
        if let Some(w) = &item.wrapping {
            lines.push((Pos::Wrapping(i), w));
        }
    }
    lines.push((Pos::Shipping, &doc.shipping));
    lines.push((Pos::Handling, &doc.handling));

    let mut taxes = Vec::with_capacity(lines.len());
    for (pos, line) in &lines {
        if !pos.allows(line.kind) {
            return Err(LevyError::at(
                ErrorCode::InvalidField,
                format!("{}.type", pos.path(d)),
                format!(
                    "expected {}, found `{}`",
                    pos.expected(),
                    line.kind.as_str()
                ),
            ));
        }
        let tax = line_tax(line, rules.class_of(line), active, policy)
            .map_err(|_| out_of_range(pos.path(d)))?;
        taxes.push(tax);
    }
    if policy.level == RoundingLevel::PerDocument {
        spread_document_total(&mut taxes, policy)
            .map_err(|_| out_of_range(format!("documents[{d}]")))?;
    }

    let mut priced = Vec::with_capacity(lines.len());
    for ((pos, line), tax) in lines.iter().zip(taxes) {
        let price = tax_price(rules, line, tax).map_err(|_| out_of_range(pos.path(d)))?;
        priced.push((*pos, *line, price));
    }
    let mut items: Vec<LineResponse> = Vec::with_capacity(doc.items.len());
    let mut shipping = None;
    let mut handling = None;
    for (pos, line, price) in priced {
        let response = LineResponse {
            id: line.id.clone(),
            price,
            kind: line.kind,
            wrapping: None,
        };
        match pos {
            Pos::Item(_) => items.push(response),
            Pos::Wrapping(_) => {
                if let Some(item) = items.last_mut() {
                    item.wrapping = Some(Box::new(response));
                }
            }
            Pos::Shipping => shipping = Some(response),
            Pos::Handling => handling = Some(response),
        }
    }
    Ok(DocumentResponse {
        id: doc.id.clone(),
        external_id: None,
        items,
        shipping: shipping.expect("every document has a shipping line"),
        handling: handling.expect("every document has a handling line"),
    })
}

fn out_of_range(path: String) -> LevyError {
    LevyError::at(
        ErrorCode::AmountOutOfRange,
        format!("{path}.price.amount"),
        "the amount is too large to compute its tax exactly",
    )
}

/// A line's rate taxes: rounded per rate, rounded per line, or exact (per document,
/// finished by [`spread_document_total`]).
fn line_tax<'r>(
    line: &LineRequest,
    class: &str,
    active: &[&'r CompiledRate],
    policy: &Policy,
) -> Result<LineTax<'r>, Overflow> {
    let mut parts: Vec<Part<'r>> = Vec::with_capacity(active.len());
    if !line.tax_exempt {
        for rate in active {
            if let Some(fraction) = rate.fraction_for(class).filter(|f| !f.exact.is_zero()) {
                parts.push(Part {
                    rate,
                    fraction,
                    exact: Exact::ZERO,
                    tax: Decimal::ZERO,
                });
            }
        }
    }
    if parts.is_empty() {
        return Ok(LineTax {
            parts,
            exact: Exact::ZERO,
            total: Decimal::ZERO,
            effective_rate: Decimal::ZERO,
        });
    }
    // R = prod over priority groups of (1 + sum of the group's fractions) - 1: shown
    // as a decimal, and exact where an inclusive price divides by it.
    let groups = groups(&parts);
    let mut shown = Decimal::ONE;
    for group in groups.iter().cloned() {
        let sum = parts[group]
            .iter()
            .try_fold(Decimal::ONE, |acc, p| acc.checked_add(p.fraction.shown));
        shown = shown.checked_mul(sum.ok_or(Overflow)?).ok_or(Overflow)?;
    }
    let effective_rate = shown - Decimal::ONE;
    let amount = Exact::from_decimal(line.price.amount);
    let mut base = if line.price.tax_inclusive {
        let mut factor = Exact::ONE;
        for group in groups.iter().cloned() {
            let sum = parts[group]
                .iter()
                .fold(Exact::ONE, |acc, p| acc.add(&p.fraction.exact));
            factor = factor.mul(&sum);
        }
        amount.div(&factor)?
    } else {
        amount
    };
    let per_rate = policy.level == RoundingLevel::PerRate;
    let mut exact_total = Exact::ZERO;
    let mut rounded_total = Decimal::ZERO;
    let last = groups.len() - 1;
    for (g, group) in groups.into_iter().enumerate() {
        if per_rate {
            // Rounded taxes: the group's sum is a decimal; the base needs it only
            // when a later group follows.
            let mut group_tax = Decimal::ZERO;
            for p in &mut parts[group] {
                p.tax = base.mul(&p.fraction.exact).round(policy.dp, policy.mode)?;
                group_tax = group_tax.checked_add(p.tax).ok_or(Overflow)?;
            }
            rounded_total = rounded_total.checked_add(group_tax).ok_or(Overflow)?;
            if g != last {
                base = base.add(&Exact::from_decimal(group_tax));
            }
        } else {
            let mut group_tax = Exact::ZERO;
            for p in &mut parts[group] {
                p.exact = base.mul(&p.fraction.exact);
                group_tax = group_tax.add(&p.exact);
            }
            exact_total = exact_total.add(&group_tax);
            if g != last {
                base = base.add(&group_tax);
            }
        }
    }
    if per_rate {
        exact_total = Exact::from_decimal(rounded_total);
    }
    let total = match policy.level {
        RoundingLevel::PerRate => rounded_total,
        RoundingLevel::PerLine => {
            let total = exact_total.round(policy.dp, policy.mode)?;
            split_over_parts(total, &mut parts, policy.dp)?;
            total
        }
        // Decided with the document's other lines.
        RoundingLevel::PerDocument => Decimal::ZERO,
    };
    Ok(LineTax {
        parts,
        exact: exact_total,
        total,
        effective_rate,
    })
}

/// Index ranges of `parts` that share a priority (parts are in priority order).
fn groups(parts: &[Part<'_>]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=parts.len() {
        if i == parts.len() || parts[i].rate.priority != parts[start].rate.priority {
            out.push(start..i);
            start = i;
        }
    }
    out
}

fn split_over_parts(total: Decimal, parts: &mut [Part<'_>], dp: u32) -> Result<(), Overflow> {
    let exact: Vec<Exact> = parts.iter().map(|p| p.exact.clone()).collect();
    for (p, t) in parts.iter_mut().zip(largest_remainder(total, &exact, dp)?) {
        p.tax = t;
    }
    Ok(())
}

/// `per_document`: round the document's exact tax once, split it over the lines,
/// then each line's share over its rates, by largest remainder.
fn spread_document_total(taxes: &mut [LineTax<'_>], policy: &Policy) -> Result<(), Overflow> {
    let exact: Vec<Exact> = taxes.iter().map(|t| t.exact.clone()).collect();
    let exact_total = exact.iter().fold(Exact::ZERO, |acc, t| acc.add(t));
    let total = exact_total.round(policy.dp, policy.mode)?;
    for (t, share) in taxes
        .iter_mut()
        .zip(largest_remainder(total, &exact, policy.dp)?)
    {
        t.total = share;
        split_over_parts(share, &mut t.parts, policy.dp)?;
    }
    Ok(())
}

/// A decimal as written in responses: no trailing zeros, no negative zero.
fn out(d: Decimal) -> Decimal {
    let n = d.normalize();
    if n.is_zero() {
        Decimal::ZERO
    } else {
        n
    }
}

fn tax_price(
    rules: &CompiledRules,
    line: &LineRequest,
    tax: LineTax<'_>,
) -> Result<TaxPrice, Overflow> {
    let amount = line.price.amount;
    let (inclusive, exclusive) = if line.price.tax_inclusive {
        (amount, amount.checked_sub(tax.total).ok_or(Overflow)?)
    } else {
        (amount.checked_add(tax.total).ok_or(Overflow)?, amount)
    };
    // Near the top of Decimal's range a sum keeps only 28-29 digits and silently drops
    // the rest; the published identity inclusive = exclusive + tax must hold exactly.
    if exclusive.checked_add(tax.total) != Some(inclusive) {
        return Err(Overflow);
    }
    let class = match &line.tax_class {
        _ if tax.parts.is_empty() => rules.default_class.clone(),
        Some(c) => c.clone(),
        None => rules.default_class.clone(),
    };
    let sales_tax_summary = tax
        .parts
        .iter()
        .map(|p| SalesTax {
            name: p.rate.name.clone(),
            rate: out(p.fraction.shown),
            amount: out(p.tax),
            tax_class: class.clone(),
            id: p.rate.id_string.clone(),
        })
        .collect();
    Ok(TaxPrice {
        amount_inclusive: out(inclusive),
        amount_exclusive: out(exclusive),
        total_tax: out(tax.total),
        tax_rate: out(tax.effective_rate),
        sales_tax_summary,
    })
}
