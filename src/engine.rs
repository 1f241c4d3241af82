//! The tax engine: a quote request and an account's rules in, the `response-quote`
//! out (SPEC section 4). Pure: no I/O, no async, no clock; the same input always
//! gives the same output, to the cent.
//!
//! [`CompiledRules`] is built once per rule change (indexes, sorted rates); a quote
//! then costs a zone lookup per document and a few exact operations per line: every
//! tax is computed as an [`Exact`] rational and only rounded results become decimals
//! (SPEC 10.1), so a midpoint of a tax-inclusive net is a midpoint and equal remainders
//! are a tie.

use crate::audit::{Audit, DocumentAudit, LineAudit, NoTax, RateAudit, ZoneAudit};
use crate::currency::Currency;
use crate::error::{ErrorCode, LevyError};
use crate::exact::{largest_remainder, Exact};
use crate::quote::*;
use crate::rounding::{Overflow, RoundingLevel, RoundingMode};
use crate::rules::{
    Exemption, Jurisdiction, RulesDocument, Settings, ShippingMode, Sourcing, TaxAddress,
    Threshold, ValidRules, DEFAULT_CLASS_ID,
};
use crate::zones::{same_region, ZoneIndex, ZoneMatch};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
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
    /// Zones that source intrastate sales at the origin (SPEC 10.7).
    origin_zones: HashSet<u64>,
    /// Zone names, for the audit.
    zone_names: HashMap<u64, Arc<str>>,
}

#[derive(Debug)]
struct CompiledRate {
    id: u64,
    id_string: Arc<str>,
    name: Arc<str>,
    priority: i64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    class_rates: Vec<CompiledClassRate>,
    /// Shipping and handling taxed in proportion to the goods (SPEC 10.6).
    proportional: bool,
    jurisdiction: Option<Jurisdiction>,
}

#[derive(Debug)]
struct CompiledClassRate {
    class_id: String,
    /// As a fraction (8.25 % -> 0.0825), as published and exact.
    fraction: Fraction,
    threshold: Option<Threshold>,
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
    fn class_rate(&self, class_id: &str) -> Option<&CompiledClassRate> {
        let find = |c: &str| self.class_rates.iter().find(|r| r.class_id == c);
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
                    .map(|c| CompiledClassRate {
                        class_id: c.tax_class_id.clone(),
                        fraction: Fraction::of_percent(c.rate),
                        threshold: c.threshold(),
                    })
                    .collect(),
                proportional: r.shipping == ShippingMode::Proportional,
                jurisdiction: r.jurisdiction.clone(),
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
            origin_zones: document
                .zones
                .iter()
                .filter(|z| z.sourcing == Sourcing::Origin)
                .map(|z| z.id)
                .collect(),
            zone_names: document
                .zones
                .iter()
                .map(|z| (z.id, Arc::from(z.name.as_str())))
                .collect(),
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
        self.zones.find(address, customer_group)
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
    /// How it was computed (SPEC 10.8), when asked for: commits keep it.
    pub audit: Option<Audit>,
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

/// A rate of the document's zone in effect on the transaction day.
#[derive(Clone, Copy)]
struct InZone<'r> {
    rate: &'r CompiledRate,
    /// Removed by the customer's taxability code (SPEC 4.7).
    removed: bool,
}

/// One rate's share of a line's tax: exact, then rounded.
#[derive(Debug, Clone)]
struct Part<'r> {
    /// Position of the rate among the zone's rates in effect.
    slot: usize,
    rate: &'r CompiledRate,
    fraction: &'r Fraction,
    /// `T / A` of a proportional rate on shipping or handling (SPEC 10.6).
    factor: Option<Exact>,
    /// The reduced base of `taxable_above` (SPEC 10.5): never compounded.
    reduced: Option<Decimal>,
    exact: Exact,
    tax: Decimal,
}

impl Part<'_> {
    /// The fraction as charged: the rate's own, times the shipping factor if any.
    fn charged(&self) -> Exact {
        match &self.factor {
            Some(f) => self.fraction.exact.mul(f),
            None => self.fraction.exact.clone(),
        }
    }

    /// The fraction counted in the line's `tax_rate`: the shown one, or the scaled one
    /// rounded half-even to 12 places.
    fn shown(&self) -> Result<Decimal, Overflow> {
        match &self.factor {
            Some(_) => self.charged().round(12, RoundingMode::HalfEven),
            None => Ok(self.fraction.shown),
        }
    }
}

type Skipped = (usize, NoTax, Option<Decimal>);

/// A line's tax: the exact total, and the rounded one once its level has decided it.
#[derive(Debug, Clone)]
struct LineTax<'r> {
    parts: Vec<Part<'r>>,
    /// Rates of the zone that charged nothing, why, and the line's class rate if
    /// any (only when auditing).
    skipped: Vec<Skipped>,
    exact: Exact,
    total: Decimal,
    effective_rate: Decimal,
}

/// Everything the computation of one document needs besides its lines.
struct Policy {
    level: RoundingLevel,
    mode: RoundingMode,
    dp: u32,
    audit: bool,
}

/// Computes the quote response for `request` under `rules`.
pub fn compute(rules: &CompiledRules, request: &QuoteRequest) -> Result<Computed, LevyError> {
    run(rules, request, false)
}

/// [`compute`], with the audit of SPEC 10.8 (what a commit keeps).
pub fn compute_audited(
    rules: &CompiledRules,
    request: &QuoteRequest,
) -> Result<Computed, LevyError> {
    run(rules, request, true)
}

fn run(rules: &CompiledRules, request: &QuoteRequest, audit: bool) -> Result<Computed, LevyError> {
    let currency = Currency::from_code(&request.currency_code)?;
    let day = transaction_day(&request.transaction_date)?;
    let settings = rules.settings();
    let policy = Policy {
        level: settings.rounding,
        mode: settings.rounding_mode,
        dp: currency.minor_units(),
        audit,
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
    let mut audits = Vec::new();
    for (d, doc) in request.documents.iter().enumerate() {
        let zone = choose_zone(rules, doc, group);
        let in_zone: Vec<InZone<'_>> = rules
            .rates
            .get(&zone.zone.zone_id)
            .map(|list| {
                list.iter()
                    .filter(|r| r.in_effect(day))
                    .map(|rate| InZone {
                        rate,
                        removed: exemption.is_some_and(|e| e.exempts(rate.id)),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (response, lines) = compute_document(rules, doc, d, &in_zone, &policy)?;
        if audit {
            audits.push(document_audit(
                rules, &zone, &in_zone, &response, lines, &policy,
            ));
        }
        documents.push(response);
    }
    Ok(Computed {
        response: QuoteResponse {
            id: request.id.clone(),
            documents,
        },
        audit: audit.then_some(Audit { documents: audits }),
        unknown_taxability_code,
    })
}

/// The zone of a document and how it was found.
struct ChosenZone {
    zone: ZoneMatch,
    address: &'static str,
    /// The zone first chosen, when origin sourcing replaced it.
    sourced_from: Option<u64>,
}

/// SPEC 4.1-4.2, then 10.7: a zone that sources at the origin is chosen again, once,
/// for the origin address when it is in the same country and region.
fn choose_zone(rules: &CompiledRules, doc: &DocumentRequest, group: &str) -> ChosenZone {
    let Some((address, which)) = choose_address(doc, rules.settings.tax_address) else {
        return ChosenZone {
            zone: rules.zones.default_match(),
            address: "none",
            sourced_from: None,
        };
    };
    let zone = rules.zone_for(address, group);
    if !rules.origin_zones.is_empty()
        && rules.origin_zones.contains(&zone.zone_id)
        && same_region(address, &doc.origin_address)
    {
        return ChosenZone {
            sourced_from: Some(zone.zone_id),
            zone: rules.zone_for(&doc.origin_address, group),
            address: "origin",
        };
    }
    ChosenZone {
        zone,
        address: which,
        sourced_from: None,
    }
}

/// The address named by `tax_address`, falling back to destination, billing, origin
/// when it has no country; with its name.
fn choose_address(doc: &DocumentRequest, which: TaxAddress) -> Option<(&Address, &'static str)> {
    let named = match which {
        TaxAddress::Destination => Some((&doc.destination_address, "destination")),
        TaxAddress::Billing => doc.billing_address.as_ref().map(|a| (a, "billing")),
        TaxAddress::Origin => Some((&doc.origin_address, "origin")),
    };
    [
        named,
        Some((&doc.destination_address, "destination")),
        doc.billing_address.as_ref().map(|a| (a, "billing")),
        Some((&doc.origin_address, "origin")),
    ]
    .into_iter()
    .flatten()
    .find(|(a, _)| a.country().is_some())
}

/// For each rate of the zone, the sum of the absolute amounts of the item lines it
/// applies to (`T` of SPEC 10.6), and that sum over all item lines (`A`).
struct Shares {
    taxed: Vec<Exact>,
    all: Exact,
}

fn compute_document<'r>(
    rules: &CompiledRules,
    doc: &DocumentRequest,
    d: usize,
    in_zone: &[InZone<'r>],
    policy: &Policy,
) -> Result<(DocumentResponse, Vec<(Pos, LineTax<'r>)>), LevyError> {
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

    let mut shares = in_zone.iter().any(|z| z.rate.proportional).then(|| Shares {
        taxed: vec![Exact::ZERO; in_zone.len()],
        all: Exact::ZERO,
    });
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
        let carrier = matches!(pos, Pos::Shipping | Pos::Handling);
        let scale = if carrier { shares.as_ref() } else { None };
        let parts = line_parts(line, rules.class_of(line), in_zone, scale, policy)
            .map_err(|e| e.under(&pos.path(d)))?;
        if let (Some(sh), Pos::Item(_)) = (shares.as_mut(), pos) {
            let size = Exact::from_decimal(line.price.amount.abs());
            sh.all = sh.all.add(&size);
            for p in parts.0.iter().filter(|p| p.rate.proportional) {
                sh.taxed[p.slot] = sh.taxed[p.slot].add(&size);
            }
        }
        let tax = line_tax(line, parts, policy).map_err(|_| out_of_range(pos.path(d)))?;
        taxes.push(tax);
    }
    if policy.level == RoundingLevel::PerDocument {
        spread_document_total(&mut taxes, policy)
            .map_err(|_| out_of_range(format!("documents[{d}]")))?;
    }

    let mut items: Vec<LineResponse> = Vec::with_capacity(doc.items.len());
    let mut shipping = None;
    let mut handling = None;
    let mut kept = Vec::new();
    for ((pos, line), tax) in lines.iter().zip(taxes) {
        let price = tax_price(rules, line, &tax).map_err(|_| out_of_range(pos.path(d)))?;
        if policy.audit {
            kept.push((*pos, tax));
        }
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
    let response = DocumentResponse {
        id: doc.id.clone(),
        external_id: None,
        items,
        shipping: shipping.expect("every document has a shipping line"),
        handling: handling.expect("every document has a handling line"),
    };
    Ok((response, kept))
}

fn out_of_range(path: String) -> LevyError {
    LevyError::at(
        ErrorCode::AmountOutOfRange,
        format!("{path}.price.amount"),
        "the amount is too large to compute its tax exactly",
    )
}

/// A line's error before the line's own path is known: a field of the line.
struct LineError {
    code: ErrorCode,
    field: &'static str,
    message: String,
}

impl LineError {
    fn under(self, line: &str) -> LevyError {
        LevyError::at(self.code, format!("{line}.{}", self.field), self.message)
    }
}

/// Which rates of the zone apply to a line, and how (SPEC 4.3, 4.7, 10.5, 10.6); with
/// the reasons of the others when auditing.
fn line_parts<'r>(
    line: &LineRequest,
    class: &str,
    in_zone: &[InZone<'r>],
    shares: Option<&Shares>,
    policy: &Policy,
) -> Result<(Vec<Part<'r>>, Vec<Skipped>), LineError> {
    let mut parts = Vec::with_capacity(in_zone.len());
    let mut skipped = Vec::new();
    for (slot, z) in in_zone.iter().enumerate() {
        let cr = z.rate.class_rate(class);
        let mut skip = |why| {
            if policy.audit {
                skipped.push((slot, why, cr.map(|c| c.fraction.shown)));
            }
        };
        if line.tax_exempt {
            skip(NoTax::LineExempt);
            continue;
        }
        if z.removed {
            skip(NoTax::ExemptionCode);
            continue;
        }
        let Some(cr) = cr else {
            skip(NoTax::NoClassRate);
            continue;
        };
        if cr.fraction.exact.is_zero() {
            skip(NoTax::ZeroRate);
            continue;
        }
        let mut reduced = None;
        if let Some(threshold) = cr.threshold {
            if line.quantity == 0 {
                return Err(LineError {
                    code: ErrorCode::InvalidField,
                    field: "quantity",
                    message: format!(
                        "rate {} has a unit-price threshold, so the quantity must be a positive integer",
                        z.rate.id
                    ),
                });
            }
            let size = line.price.amount.abs();
            let units = |t: Decimal| t.checked_mul(Decimal::from(line.quantity));
            match threshold {
                Threshold::ExemptBelow(t) => {
                    // unit price < t  <=>  |amount| < t x quantity
                    if units(t).is_none_or(|floor| size < floor) {
                        skip(NoTax::ExemptBelow);
                        continue;
                    }
                }
                Threshold::TaxableAbove(t) => {
                    if line.price.tax_inclusive {
                        return Err(LineError {
                            code: ErrorCode::InvalidField,
                            field: "price.tax_inclusive",
                            message: format!(
                                "rate {} taxes only the part of a unit price above {t}, which needs a tax-exclusive price",
                                z.rate.id
                            ),
                        });
                    }
                    // A floor beyond Decimal's range leaves no excess.
                    let excess = match units(t) {
                        Some(floor) if floor < size => size - floor,
                        _ => Decimal::ZERO,
                    };
                    let excess = if line.price.amount.is_sign_negative() {
                        -excess
                    } else {
                        excess
                    };
                    reduced = Some(excess);
                }
            }
        }
        let factor = match shares {
            Some(sh) if z.rate.proportional => Some(if sh.all.is_zero() {
                Exact::ZERO
            } else {
                sh.taxed[slot].div(&sh.all).map_err(|_| LineError {
                    code: ErrorCode::AmountOutOfRange,
                    field: "price.amount",
                    message: "the amount is too large to compute its tax exactly".into(),
                })?
            }),
            _ => None,
        };
        parts.push(Part {
            slot,
            rate: z.rate,
            fraction: &cr.fraction,
            factor,
            reduced,
            exact: Exact::ZERO,
            tax: Decimal::ZERO,
        });
    }
    Ok((parts, skipped))
}

/// A line's rate taxes: rounded per rate, rounded per line, or exact (per document,
/// finished by [`spread_document_total`]).
fn line_tax<'r>(
    line: &LineRequest,
    (mut parts, skipped): (Vec<Part<'r>>, Vec<Skipped>),
    policy: &Policy,
) -> Result<LineTax<'r>, Overflow> {
    if parts.is_empty() {
        return Ok(LineTax {
            parts,
            skipped,
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
        let mut sum = Decimal::ONE;
        for p in &parts[group] {
            sum = sum.checked_add(p.shown()?).ok_or(Overflow)?;
        }
        shown = shown.checked_mul(sum).ok_or(Overflow)?;
    }
    let effective_rate = shown - Decimal::ONE;
    let amount = Exact::from_decimal(line.price.amount);
    let mut base = if line.price.tax_inclusive {
        // No part has a reduced base here: that is refused for inclusive lines.
        let mut factor = Exact::ONE;
        for group in groups.iter().cloned() {
            let sum = parts[group]
                .iter()
                .fold(Exact::ONE, |acc, p| acc.add(&p.charged()));
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
        // A reduced base (taxable_above) is charged as it is, never compounded.
        let base_of = |p: &Part<'_>| match p.reduced {
            Some(r) => Exact::from_decimal(r),
            None => base.clone(),
        };
        if per_rate {
            // Rounded taxes: the group's sum is a decimal; the base needs it only
            // when a later group follows.
            let mut group_tax = Decimal::ZERO;
            for p in &mut parts[group] {
                p.tax = base_of(p).mul(&p.charged()).round(policy.dp, policy.mode)?;
                group_tax = group_tax.checked_add(p.tax).ok_or(Overflow)?;
            }
            rounded_total = rounded_total.checked_add(group_tax).ok_or(Overflow)?;
            if g != last {
                base = base.add(&Exact::from_decimal(group_tax));
            }
        } else {
            let mut group_tax = Exact::ZERO;
            for p in &mut parts[group] {
                p.exact = base_of(p).mul(&p.charged());
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
        skipped,
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
    tax: &LineTax<'_>,
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

/// The audit of a priced document (SPEC 10.8).
fn document_audit(
    rules: &CompiledRules,
    chosen: &ChosenZone,
    in_zone: &[InZone<'_>],
    response: &DocumentResponse,
    lines: Vec<(Pos, LineTax<'_>)>,
    policy: &Policy,
) -> DocumentAudit {
    let explained = chosen.zone.explain();
    let zone = ZoneAudit {
        id: chosen.zone.zone_id,
        name: rules
            .zone_names
            .get(&chosen.zone.zone_id)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        level: explained["match"].as_str().unwrap_or_default().to_string(),
        pattern: chosen.zone.matched.clone(),
        address: chosen.address.to_string(),
        origin_sourced_from_zone: chosen.sourced_from,
        reason: match chosen.sourced_from {
            Some(first) => format!(
                "zone {first} sources sales inside the origin's region at the origin: {}",
                explained["reason"].as_str().unwrap_or_default()
            ),
            None => explained["reason"].as_str().unwrap_or_default().to_string(),
        },
    };
    let answered = |pos: Pos| -> &LineResponse {
        match pos {
            Pos::Item(i) => &response.items[i],
            Pos::Wrapping(i) => response.items[i]
                .wrapping
                .as_deref()
                .expect("a wrapping line has its response"),
            Pos::Shipping => &response.shipping,
            Pos::Handling => &response.handling,
        }
    };
    let lines = lines
        .into_iter()
        .map(|(pos, tax)| {
            let line = answered(pos);
            let exclusive = line.price.amount_exclusive;
            let first = tax.parts.first().map(|p| p.rate.priority);
            let mut rates: Vec<(usize, RateAudit)> = tax
                .parts
                .iter()
                .map(|p| {
                    let factor = p.factor.as_ref();
                    let base = match (p.reduced, factor) {
                        (Some(r), None) => Some(r),
                        (r, Some(f)) => Exact::from_decimal(r.unwrap_or(exclusive))
                            .mul(f)
                            .round(policy.dp, policy.mode)
                            .ok(),
                        (None, None) => Some(exclusive),
                    };
                    let audit = RateAudit {
                        id: p.rate.id,
                        name: p.rate.name.clone(),
                        jurisdiction: p.rate.jurisdiction.clone(),
                        rate: Some(out(p.fraction.shown)),
                        base: base.map(out),
                        tax: Some(out(p.tax)),
                        compounded: p.reduced.is_none() && Some(p.rate.priority) != first,
                        shipping_factor: factor
                            .and_then(|f| f.round(12, RoundingMode::HalfEven).ok())
                            .map(out),
                        reason: None,
                    };
                    (p.slot, audit)
                })
                .collect();
            rates.extend(tax.skipped.iter().map(|&(slot, why, shown)| {
                let rate = in_zone[slot].rate;
                (
                    slot,
                    RateAudit {
                        id: rate.id,
                        name: rate.name.clone(),
                        jurisdiction: rate.jurisdiction.clone(),
                        rate: shown.map(out),
                        base: None,
                        tax: None,
                        compounded: false,
                        shipping_factor: None,
                        reason: Some(why),
                    },
                )
            }));
            rates.sort_by_key(|(slot, _)| *slot);
            LineAudit {
                id: line.id.clone(),
                kind: line.kind,
                amount_exclusive: exclusive,
                rates: rates.into_iter().map(|(_, r)| r).collect(),
            }
        })
        .collect();
    DocumentAudit {
        id: response.id.clone(),
        zone,
        lines,
    }
}
