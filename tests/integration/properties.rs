//! Property tests: over generated rules and requests the SPEC invariants always hold,
//! and no input panics.

use levy::engine::{compute, CompiledRules};
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
];
const CLASSES: &[&str] = &["0", "1", "2"];

fn location() -> impl Strategy<Value = Location> {
    (
        prop::sample::select(COUNTRIES),
        prop::collection::vec(prop::sample::select(SUBDIVISIONS), 0..2),
        prop::collection::vec(prop::sample::select(POSTALS), 0..2),
    )
        .prop_map(|(c, s, p)| Location {
            country_code: c.to_string(),
            subdivision_codes: s.into_iter().map(String::from).collect(),
            postal_codes: p.into_iter().map(String::from).collect(),
        })
}

fn zones() -> impl Strategy<Value = Vec<Zone>> {
    prop::collection::vec(
        (
            prop::collection::vec(location(), 1..3),
            prop::collection::vec(0i64..5, 0..2),
            any::<bool>(),
        ),
        0..5,
    )
    .prop_map(|zs| {
        zs.into_iter()
            .enumerate()
            .map(|(i, (locations, customer_groups, enabled))| Zone {
                id: i as u64 + 2,
                name: format!("Zone {}", i + 2),
                enabled,
                price_display_settings: Default::default(),
                shopper_target_settings: ShopperTargetSettings {
                    locations,
                    customer_groups,
                },
            })
            .collect()
    })
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
            prop::collection::btree_map(prop::sample::select(CLASSES), percent(), 0..3),
            prop::option::of(0u32..3),
        ),
        0..6,
    )
    .prop_map(|rs| {
        rs.into_iter()
            .enumerate()
            .map(|(i, (zone, priority, enabled, class_rates, window))| Rate {
                id: i as u64 + 1,
                tax_zone_id: zone,
                name: format!("Rate {}", i + 1),
                enabled,
                priority,
                class_rates: class_rates
                    .into_iter()
                    .map(|(c, r)| ClassRate {
                        rate: r,
                        tax_class_id: c.to_string(),
                    })
                    .collect(),
                effective_from: window
                    .map(|w| chrono::NaiveDate::from_ymd_opt(2024, 1 + w, 1).unwrap()),
                effective_to: window
                    .map(|w| chrono::NaiveDate::from_ymd_opt(2024, 4 + w, 1).unwrap()),
            })
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
        ])),
    )
        .prop_map(|(c, r, p)| Address {
            country_code: c.map(String::from),
            region_code: r.map(String::from),
            postal_code: p.map(String::from),
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
    )
        .prop_map(move |(amount, inclusive, exempt, class)| {
            line_request(kind, amount, inclusive && !exclusive_only, exempt, class)
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
        let compiled = CompiledRules::new(rules).expect("generated rules are valid");
        let out = compute(&compiled, &req).expect("generated requests compute");
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
        let mut rules = rules;
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
            Err(e) => prop_assert_eq!(e.code, ErrorCode::AmountOutOfRange),
        }
    }
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
