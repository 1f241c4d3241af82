//! Property tests: over generated rules and requests the SPEC invariants always hold,
//! and no input panics.

use levy::engine::{compute, compute_audited, CompiledRules};
use levy::error::ErrorCode;
use levy::quote::*;
use levy::rounding::{round, RoundingLevel, RoundingMode};
use levy::rules::*;
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

const COUNTRIES: &[&str] = &["US", "CA", "GB"];
const SUBDIVISIONS: &[&str] = &["CA", "US-NY", "TX", "ON"];
const POSTALS: &[&str] = &[
    "90210",
    "902*",
    "9021?",
    "90001...90999",
    "M5V*",
    "SW1A 1AA",
    "45891-1234",
    "45891-0001...45891-4999",
];
const CITIES: &[&str] = &["Springfield", "  new   YORK ", "Köln"];
const CLASSES: &[&str] = &["0", "1", "2"];

fn location() -> impl Strategy<Value = Location> {
    (
        prop::sample::select(COUNTRIES),
        prop::collection::vec(prop::sample::select(SUBDIVISIONS), 0..2),
        prop::collection::vec(prop::sample::select(POSTALS), 0..2),
        prop::collection::vec(prop::sample::select(CITIES), 0..2),
    )
        .prop_map(|(c, s, p, cities)| Location {
            country_code: c.to_string(),
            subdivision_codes: s.into_iter().map(String::from).collect(),
            postal_codes: p.into_iter().map(String::from).collect(),
            cities: cities.into_iter().map(String::from).collect(),
        })
}

fn zones() -> impl Strategy<Value = Vec<Zone>> {
    prop::collection::vec(
        (
            prop::collection::vec(location(), 1..3),
            prop::collection::vec(0i64..5, 0..2),
            any::<bool>(),
            prop::bool::weighted(0.3),
        ),
        0..5,
    )
    .prop_map(|zs| {
        zs.into_iter()
            .enumerate()
            .map(|(i, (locations, customer_groups, enabled, origin))| Zone {
                id: i as u64 + 2,
                name: format!("Zone {}", i + 2),
                enabled,
                price_display_settings: Default::default(),
                shopper_target_settings: ShopperTargetSettings {
                    locations,
                    customer_groups,
                },
                sourcing: if origin {
                    Sourcing::Origin
                } else {
                    Sourcing::Destination
                },
                imported: None,
            })
            .collect()
    })
}

/// A unit-price threshold (SPEC 10.5): none, `exempt_below` or `taxable_above`.
fn threshold() -> impl Strategy<Value = (Option<Decimal>, Option<Decimal>)> {
    prop_oneof![
        2 => Just((None, None)),
        1 => (1i64..=20_000).prop_map(|c| (Some(Decimal::new(c, 2)), None)),
        1 => (0i64..=20_000).prop_map(|c| (None, Some(Decimal::new(c, 2)))),
    ]
}

/// A percentage with up to three decimals, 0 to 30 %.
fn percent() -> impl Strategy<Value = Decimal> {
    (0i64..=30_000).prop_map(|n| Decimal::new(n, 3))
}

fn rates(zone_count: usize) -> impl Strategy<Value = Vec<Rate>> {
    prop::collection::vec(
        (
            1..=(zone_count as u64 + 1),
            1i64..4,
            any::<bool>(),
            prop::collection::btree_map(
                prop::sample::select(CLASSES),
                (percent(), threshold()),
                0..3,
            ),
            prop::option::of(0u32..3),
            (any::<bool>(), prop::option::of(0usize..3)),
        ),
        0..6,
    )
    .prop_map(|rs| {
        rs.into_iter()
            .enumerate()
            .map(
                |(i, (zone, priority, enabled, class_rates, window, (proportional, place)))| Rate {
                    id: i as u64 + 1,
                    tax_zone_id: zone,
                    name: format!("Rate {}", i + 1),
                    enabled,
                    priority,
                    class_rates: class_rates
                        .into_iter()
                        .map(|(c, (r, (exempt_below, taxable_above)))| ClassRate {
                            rate: r,
                            tax_class_id: c.to_string(),
                            exempt_below,
                            taxable_above,
                        })
                        .collect(),
                    effective_from: window
                        .map(|w| chrono::NaiveDate::from_ymd_opt(2024, 1 + w, 1).unwrap()),
                    effective_to: window
                        .map(|w| chrono::NaiveDate::from_ymd_opt(2024, 4 + w, 1).unwrap()),
                    shipping: if proportional {
                        ShippingMode::Proportional
                    } else {
                        ShippingMode::Class
                    },
                    jurisdiction: place.map(|k| Jurisdiction {
                        kind: [
                            JurisdictionType::State,
                            JurisdictionType::County,
                            JurisdictionType::City,
                        ][k],
                        name: format!("Place {k}"),
                        code: None,
                    }),
                    imported: None,
                },
            )
            .collect()
    })
}

fn settings(rate_count: usize) -> impl Strategy<Value = Settings> {
    (
        prop::sample::select(vec![
            TaxAddress::Destination,
            TaxAddress::Billing,
            TaxAddress::Origin,
        ]),
        prop::sample::select(vec![
            RoundingLevel::PerRate,
            RoundingLevel::PerLine,
            RoundingLevel::PerDocument,
        ]),
        prop::sample::select(vec![RoundingMode::HalfUp, RoundingMode::HalfEven]),
        prop::option::of(1..=(rate_count as u64).max(1)),
    )
        .prop_map(move |(tax_address, rounding, rounding_mode, exempt)| {
            let mut exemptions = BTreeMap::new();
            exemptions.insert("TAX-EXEMPT".to_string(), Exemption::All);
            if let Some(id) = exempt.filter(|_| rate_count > 0) {
                exemptions.insert("RESALE".to_string(), Exemption::Rates(vec![id]));
            }
            Settings {
                tax_address,
                rounding,
                rounding_mode,
                exemptions,
                bigcommerce: Default::default(),
            }
        })
}

fn rules() -> impl Strategy<Value = RulesDocument> {
    zones()
        .prop_flat_map(|zones| {
            let n = zones.len();
            (Just(zones), rates(n))
        })
        .prop_flat_map(|(zones, rates)| {
            let n = rates.len();
            (Just(zones), Just(rates), settings(n))
        })
        .prop_map(|(zones, rates, settings)| RulesDocument {
            classes: vec![
                TaxClass {
                    id: "1".into(),
                    name: "Clothing".into(),
                    code: Some("C".into()),
                },
                TaxClass {
                    id: "2".into(),
                    name: "Food".into(),
                    code: None,
                },
            ],
            zones,
            rates,
            settings,
        })
}

fn address() -> impl Strategy<Value = Address> {
    (
        prop::option::of(prop::sample::select(COUNTRIES)),
        prop::option::of(prop::sample::select(SUBDIVISIONS)),
        prop::option::of(prop::sample::select(vec![
            "90210",
            "90211",
            "90500",
            "M5V 2T6",
            "sw1a1aa",
            "45891-1234",
            "45891-5000",
            "458910001",
        ])),
        prop::option::of(prop::sample::select(vec![
            "springfield",
            "New York",
            "KÖLN",
            "Paris",
        ])),
    )
        .prop_map(|(c, r, p, city)| Address {
            country_code: c.map(String::from),
            region_code: r.map(String::from),
            postal_code: p.map(String::from),
            city: city.map(String::from),
            ..Default::default()
        })
}

fn line(
    kind: LineType,
    amount: impl Strategy<Value = Decimal>,
    exclusive_only: bool,
) -> impl Strategy<Value = LineRequest> {
    (
        amount,
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::option::of(prop::sample::select(vec!["0", "1", "2", "7"])),
        1u64..4,
    )
        .prop_map(move |(amount, inclusive, exempt, class, quantity)| {
            let mut line = line_request(kind, amount, inclusive && !exclusive_only, exempt, class);
            line.quantity = quantity;
            line
        })
}

/// One request line with the given price, flags and class (`None`: no `tax_class`).
pub(crate) fn line_request(
    kind: LineType,
    amount: Decimal,
    tax_inclusive: bool,
    tax_exempt: bool,
    class: Option<&str>,
) -> LineRequest {
    LineRequest {
        id: "line".into(),
        item_code: None,
        item_reference: None,
        name: None,
        price: PriceRequest {
            amount,
            tax_inclusive,
        },
        quantity: 1,
        tax_class: class.map(|c| {
            std::sync::Arc::new(TaxClassRef {
                code: String::new(),
                class_id: c.into(),
                name: format!("Class {c}"),
            })
        }),
        tax_exempt,
        tax_properties: None,
        kind,
        wrapping: None,
    }
}

/// Cents from -10,000.00 to 10,000.00.
fn cents() -> impl Strategy<Value = Decimal> {
    (-1_000_000i64..=1_000_000).prop_map(|c| Decimal::new(c, 2))
}

fn document(exclusive_only: bool) -> impl Strategy<Value = DocumentRequest> {
    (
        address(),
        prop::option::of(address()),
        address(),
        prop::collection::vec(
            (
                line(LineType::Item, cents(), exclusive_only),
                prop::option::of(line(LineType::Wrapping, cents(), exclusive_only)),
            ),
            0..6,
        ),
        line(LineType::Shipping, cents(), exclusive_only),
        line(LineType::Handling, cents(), exclusive_only),
    )
        .prop_map(
            |(dest, billing, origin, items, shipping, handling)| DocumentRequest {
                id: "doc".into(),
                billing_address: billing,
                destination_address: dest,
                origin_address: origin,
                shipping,
                handling,
                items: items
                    .into_iter()
                    .map(|(mut item, wrapping)| {
                        item.wrapping = wrapping.map(Box::new);
                        item
                    })
                    .collect(),
            },
        )
}

fn request(exclusive_only: bool) -> impl Strategy<Value = QuoteRequest> {
    (
        prop::sample::select(vec!["USD", "JPY", "KWD", "EUR"]),
        prop::sample::select(vec!["0", "1", "3", "4"]),
        prop::option::of(prop::sample::select(vec![
            "TAX-EXEMPT",
            "resale",
            "UNKNOWN",
        ])),
        prop::sample::select(vec![
            "2024-01-01T00:00:00Z",
            "2024-03-31T23:59:59Z",
            "2024-05-15T12:00:00+02:00",
        ]),
        prop::collection::vec(document(exclusive_only), 1..3),
    )
        .prop_map(|(currency, group, code, date, documents)| QuoteRequest {
            id: "quote".into(),
            currency_code: currency.into(),
            customer: Customer {
                customer_id: "1".into(),
                customer_group_id: group.into(),
                taxability_code: code.map(String::from),
                tax_properties: None,
            },
            transaction_date: date.into(),
            documents,
            adjust_description: None,
        })
}

/// A response document's lines in SPEC line order (items, each followed by its wrapping,
/// then shipping, handling).
pub(crate) fn lines_of(doc: &DocumentResponse) -> Vec<&LineResponse> {
    let mut out = Vec::new();
    for item in &doc.items {
        out.push(item);
        if let Some(w) = &item.wrapping {
            out.push(w);
        }
    }
    out.push(&doc.shipping);
    out.push(&doc.handling);
    out
}

/// A request document's lines in the same order.
pub(crate) fn request_lines(doc: &DocumentRequest) -> Vec<&LineRequest> {
    let mut out = Vec::new();
    for item in &doc.items {
        out.push(item);
        if let Some(w) = &item.wrapping {
            out.push(w.as_ref());
        }
    }
    out.push(&doc.shipping);
    out.push(&doc.handling);
    out
}

fn minor_units(code: &str) -> u32 {
    levy::currency::Currency::from_code(code)
        .unwrap()
        .minor_units()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold(rules in rules(), req in request(false)) {
        let compiled = CompiledRules::new(rules.clone()).expect("generated rules are valid");
        let out = match compute(&compiled, &req) {
            Ok(out) => out,
            Err(e) => {
                // SPEC 10.5: taxable_above cannot price a tax-inclusive line.
                prop_assert_eq!(e.code, ErrorCode::InvalidField);
                prop_assert!(e.path.as_deref().unwrap_or("").ends_with(".price.tax_inclusive"), "{:?}", e);
                prop_assert!(rules.rates.iter().flat_map(|r| &r.class_rates).any(|c| c.taxable_above.is_some()));
                return Ok(());
            }
        };
        // The audited computation answers the same, and its taxes are the summaries'.
        let audited = compute_audited(&compiled, &req).unwrap();
        prop_assert_eq!(&audited.response, &out.response);
        let audit = audited.audit.unwrap();
        for (doc, adoc) in out.response.documents.iter().zip(&audit.documents) {
            for (l, a) in lines_of(doc).iter().zip(&adoc.lines) {
                let taxes: Vec<Decimal> = a.rates.iter().filter_map(|r| r.tax).collect();
                let summary: Vec<Decimal> = l.price.sales_tax_summary.iter().map(|s| s.amount).collect();
                prop_assert_eq!(taxes, summary);
                prop_assert_eq!(a.amount_exclusive, l.price.amount_exclusive);
            }
        }
        let dp = minor_units(&req.currency_code);
        prop_assert_eq!(out.response.documents.len(), req.documents.len());
        for (doc, rdoc) in out.response.documents.iter().zip(&req.documents) {
            let lines = lines_of(doc);
            let rlines = request_lines(rdoc);
            prop_assert_eq!(lines.len(), rlines.len());
            for (l, r) in lines.iter().zip(&rlines) {
                let p = &l.price;
                prop_assert_eq!(l.id.as_str(), r.id.as_str());
                prop_assert_eq!(p.amount_inclusive, p.amount_exclusive + p.total_tax);
                let summary: Decimal = p.sales_tax_summary.iter().map(|s| s.amount).sum();
                prop_assert_eq!(summary, p.total_tax);
                prop_assert_eq!(p.total_tax, p.total_tax.round_dp(dp), "tax is in minor units");
                if r.price.tax_inclusive {
                    prop_assert_eq!(p.amount_inclusive, r.price.amount);
                    prop_assert_eq!(p.amount_exclusive, r.price.amount - p.total_tax);
                } else {
                    prop_assert_eq!(p.amount_exclusive, r.price.amount);
                }
                if r.tax_exempt {
                    prop_assert!(p.total_tax.is_zero() && p.tax_rate.is_zero() && p.sales_tax_summary.is_empty());
                }
                if req.customer.taxability_code.as_deref() == Some("TAX-EXEMPT") {
                    prop_assert!(p.total_tax.is_zero() && p.sales_tax_summary.is_empty());
                }
                // Tax never has the opposite sign of the amount.
                prop_assert!(p.total_tax.is_zero() || p.total_tax.is_sign_negative() == r.price.amount.is_sign_negative());
            }
        }
    }

    #[test]
    fn per_document_line_taxes_add_up_to_the_rounded_document_tax(rules in rules(), req in request(true)) {
        // Plain rates only: a line's exact tax is then amount x tax_rate.
        let mut rules = without_thresholds(rules);
        for r in &mut rules.rates {
            r.shipping = ShippingMode::Class;
        }
        rules.settings.rounding = RoundingLevel::PerDocument;
        let mode = rules.settings.rounding_mode;
        let compiled = CompiledRules::new(rules).unwrap();
        let out = compute(&compiled, &req).unwrap();
        let dp = minor_units(&req.currency_code);
        for (doc, rdoc) in out.response.documents.iter().zip(&req.documents) {
            // Exclusive prices: a line's exact tax is amount * R, R its effective rate.
            let exact: Decimal = lines_of(doc).iter().zip(request_lines(rdoc))
                .map(|(l, r)| r.price.amount * l.price.tax_rate)
                .sum();
            let sum: Decimal = lines_of(doc).iter().map(|l| l.price.total_tax).sum();
            prop_assert_eq!(sum, round(exact, dp, mode));
        }
    }

    #[test]
    fn negating_every_amount_negates_every_tax(rules in rules(), req in request(false)) {
        let compiled = CompiledRules::new(rules).unwrap();
        let Ok(out) = compute(&compiled, &req) else { return Ok(()) };
        let mut negated = req.clone();
        for doc in &mut negated.documents {
            for item in &mut doc.items {
                item.price.amount = -item.price.amount;
                if let Some(w) = &mut item.wrapping {
                    w.price.amount = -w.price.amount;
                }
            }
            doc.shipping.price.amount = -doc.shipping.price.amount;
            doc.handling.price.amount = -doc.handling.price.amount;
        }
        let back = compute(&compiled, &negated).unwrap();
        for (doc, ndoc) in out.response.documents.iter().zip(&back.response.documents) {
            for (l, n) in lines_of(doc).iter().zip(lines_of(ndoc)) {
                prop_assert_eq!(n.price.total_tax, -l.price.total_tax);
                prop_assert_eq!(n.price.tax_rate, l.price.tax_rate);
                let taxes: Vec<Decimal> = l.price.sales_tax_summary.iter().map(|s| -s.amount).collect();
                let negated: Vec<Decimal> = n.price.sales_tax_summary.iter().map(|s| s.amount).collect();
                prop_assert_eq!(taxes, negated);
            }
        }
    }

    #[test]
    fn thresholds_never_make_a_tax_larger(rules in rules(), req in request(true)) {
        let level = rules.settings.rounding;
        let with = compute(&CompiledRules::new(rules.clone()).unwrap(), &req).unwrap();
        let without = compute(&CompiledRules::new(without_thresholds(rules)).unwrap(), &req).unwrap();
        for (a, b) in with.response.documents.iter().zip(&without.response.documents) {
            let (la, lb) = (lines_of(a), lines_of(b));
            if level == RoundingLevel::PerDocument {
                // Lines share the rounded document total; the total only shrinks.
                let ta: Decimal = la.iter().map(|l| l.price.total_tax.abs()).sum();
                let tb: Decimal = lb.iter().map(|l| l.price.total_tax.abs()).sum();
                prop_assert!(ta <= tb, "{} > {}", ta, tb);
            } else {
                for (x, y) in la.iter().zip(&lb) {
                    prop_assert!(x.price.total_tax.abs() <= y.price.total_tax.abs(), "{:?} vs {:?}", x.price, y.price);
                }
            }
        }
    }

    #[test]
    fn no_input_panics(rules in rules(), req in request(false), scale in 0u32..29, mantissa in any::<i64>(), big in any::<bool>()) {
        let compiled = CompiledRules::new(rules).unwrap();
        let mut req = req;
        // Extreme amounts: tiny, huge, up to the largest 96-bit decimal.
        let amount = if big { Decimal::MAX - Decimal::from(mantissa.unsigned_abs() % 1000) } else { Decimal::new(mantissa, scale) };
        req.documents[0].shipping.price.amount = amount;
        match compute(&compiled, &req) {
            Ok(out) => {
                let p = &out.response.documents[0].shipping.price;
                prop_assert_eq!(p.amount_inclusive, p.amount_exclusive + p.total_tax);
            }
            Err(e) if e.code == ErrorCode::InvalidField => {
                prop_assert!(e.path.as_deref().unwrap_or("").ends_with(".price.tax_inclusive"), "{:?}", e)
            }
            Err(e) => prop_assert_eq!(e.code, ErrorCode::AmountOutOfRange),
        }
    }
}

/// The same rules with every unit-price threshold removed.
fn without_thresholds(mut rules: RulesDocument) -> RulesDocument {
    for c in rules.rates.iter_mut().flat_map(|r| &mut r.class_rates) {
        c.exempt_below = None;
        c.taxable_above = None;
    }
    rules
}

/// At the top of Decimal's range, `amount - tax` can keep only 28-29 digits; the engine
/// must refuse rather than publish an exclusive amount that no longer adds up.
#[test]
fn amounts_whose_tax_would_lose_digits_are_refused() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules: RulesDocument =
        levy::json::parse(&std::fs::read(root.join("demo/rules.json")).unwrap()).unwrap();
    let rules = CompiledRules::new(rules).unwrap();
    let mut req: QuoteRequest =
        levy::json::parse(&std::fs::read(root.join("quotes/estimate.json")).unwrap()).unwrap();
    let mut refused = 0;
    let amounts = (0..200i64)
        .map(|k| Decimal::MAX - Decimal::from(k * 997))
        .chain((0..200i64).map(|k| Decimal::MAX / Decimal::from(10 + k)))
        .chain(["1000.00".parse().unwrap()]);
    for amount in amounts {
        for inclusive in [true, false] {
            req.documents[0].shipping.price.amount = amount;
            req.documents[0].shipping.price.tax_inclusive = inclusive;
            match compute(&rules, &req) {
                Ok(out) => {
                    let p = &out.response.documents[0].shipping.price;
                    assert_eq!(
                        p.amount_inclusive,
                        p.amount_exclusive + p.total_tax,
                        "{amount}"
                    );
                }
                Err(e) => {
                    assert_eq!(e.code, ErrorCode::AmountOutOfRange, "{amount}");
                    assert_eq!(
                        e.path.as_deref(),
                        Some("documents[0].shipping.price.amount")
                    );
                    refused += 1;
                }
            }
        }
    }
    assert!(
        refused >= 1,
        "no amount at the edge of the range was refused"
    );
}
