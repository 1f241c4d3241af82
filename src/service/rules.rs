//! Rule changes: a whole document, or one BigCommerce-shaped edit of it (see
//! [`crate::rules::editing`]), validated as a whole and published atomically.

use super::accounts::{modify, not_found};
use crate::error::{ErrorCode, LevyError};
use crate::quote::Address;
use crate::rules::editing::ZoneCheck;
use crate::rules::import::woocommerce;
use crate::rules::import::zip_rates::{self, ZipImportSummary, ZipRow};
use crate::rules::{RulesDocument, ValidRules, Zone, DEFAULT_ZONE_ID};
use crate::state::AppState;
use std::sync::Arc;

/// Replaces the whole rules document, validated; returns it as stored. A document with
/// no zones and no rates replaces one that has some only when `allow_empty` says so: an
/// import of the wrong file (`{}`) must not wipe an account's rules.
pub async fn put(
    state: &AppState,
    id: &str,
    rules: RulesDocument,
    allow_empty: bool,
) -> Result<ValidRules, LevyError> {
    let rules = rules.validate()?;
    modify(state, id, move |current| {
        let mut account = current.ok_or_else(|| not_found(id))?;
        let own_zones =
            |d: &RulesDocument| d.zones.iter().filter(|z| z.id != DEFAULT_ZONE_ID).count();
        let (zones, rates) = (own_zones(&account.rules), account.rules.rates.len());
        if !allow_empty && own_zones(&rules) + rules.rates.len() == 0 && zones + rates > 0 {
            return Err(LevyError::new(
                ErrorCode::InvalidRules,
                format!(
                    "this document has no zones and no rates: it would remove the account's \
                     {zones} zones and {rates} rates; send allow_empty=true \
                     (levy rules import --allow-empty) to do that"
                ),
            ));
        }
        account.rules = Arc::new(rules.clone());
        Ok((Some(account), rules))
    })
    .await
}

/// Imports a US ZIP-code rate table (SPEC 11.1) as one rules change: validated and
/// published whole, or with `dry_run` only summarized.
pub async fn import_zip_rates(
    state: &AppState,
    id: &str,
    rows: Vec<ZipRow>,
    from: chrono::NaiveDate,
    dry_run: bool,
) -> Result<ZipImportSummary, LevyError> {
    if dry_run {
        let mut document = get(state, id)?.into_document();
        let summary = zip_rates::apply(&mut document, rows, from)?;
        document.validate()?;
        return Ok(summary);
    }
    edit(state, id, move |document| {
        zip_rates::apply(document, rows, from)
    })
    .await
}

/// Imports a WooCommerce tax rate CSV (SPEC 11.2) as one rules change, replacing what
/// an earlier one made.
pub async fn import_woocommerce(
    state: &AppState,
    id: &str,
    rows: Vec<woocommerce::WooRow>,
) -> Result<woocommerce::WooSummary, LevyError> {
    edit(state, id, move |document| {
        woocommerce::apply(document, rows)
    })
    .await
}

/// Changes the rules document with `edit` (zones, rates, classes, settings endpoints).
pub async fn edit<T: Send + 'static>(
    state: &AppState,
    id: &str,
    edit: impl FnOnce(&mut RulesDocument) -> Result<T, LevyError>,
) -> Result<T, LevyError> {
    modify(state, id, move |current| {
        let mut account = current.ok_or_else(|| not_found(id))?;
        let mut document = Arc::unwrap_or_clone(std::mem::take(&mut account.rules)).into_document();
        let out = edit(&mut document)?;
        account.rules = Arc::new(document.validate()?);
        Ok((Some(account), out))
    })
    .await
}

/// The account's rules as stored.
pub fn get(state: &AppState, id: &str) -> Result<ValidRules, LevyError> {
    state
        .directory
        .load()
        .get(id)
        .map(|l| ValidRules::clone(&l.account.rules))
        .ok_or_else(|| not_found(id))
}

/// BigCommerce's zone check: for each address, the zone that applies and why.
pub fn zone_check(
    state: &AppState,
    id: &str,
    checks: Vec<ZoneCheck>,
) -> Result<(Vec<Option<Zone>>, Vec<serde_json::Value>), LevyError> {
    let directory = state.directory.load();
    let live = directory.get(id).ok_or_else(|| not_found(id))?;
    let mut zones = Vec::new();
    let mut reasons = Vec::new();
    for c in checks {
        let address = Address {
            country_code: Some(c.country_code),
            region_code: c.subdivision_codes,
            postal_code: c.postal_code,
            city: c.city,
            ..Address::default()
        };
        let group = c.customer_group_id.unwrap_or(0).to_string();
        let m = live.rules.zone_for(&address, &group);
        zones.push(
            live.account
                .rules
                .zones
                .iter()
                .find(|z| z.id == m.zone_id)
                .cloned(),
        );
        reasons.push(m.explain());
    }
    Ok((zones, reasons))
}

/// An address to explain (the console's "which rate applies?").
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AddressCheck {
    #[serde(default)]
    pub country_code: String,
    #[serde(default)]
    pub region_code: String,
    #[serde(default)]
    pub postal_code: String,
    #[serde(default)]
    pub city: String,
    /// The tax class of the sample item (`0`, the default class, when blank).
    #[serde(default)]
    pub class_id: String,
    /// The sample item's tax-exclusive price (`100.00` when blank).
    #[serde(default)]
    pub amount: String,
}

/// Which zone and rates apply to an address, explained as SPEC 10.8 does: the zone and
/// why, then a one-item quote of `amount` priced today and audited line by line.
pub fn explain_address(
    state: &AppState,
    id: &str,
    check: &AddressCheck,
) -> Result<(Option<Zone>, serde_json::Value, String), LevyError> {
    let blank = |s: &str, d: &str| {
        if s.trim().is_empty() {
            d.to_string()
        } else {
            s.trim().to_string()
        }
    };
    let address = serde_json::json!({
        "country_code": check.country_code.trim(),
        "region_code": check.region_code.trim(),
        "postal_code": check.postal_code.trim(),
        "city": check.city.trim(),
    });
    let amount = blank(&check.amount, "100.00");
    let amount: serde_json::Value = serde_json::from_str(&amount)
        .ok()
        .filter(serde_json::Value::is_number)
        .ok_or_else(|| {
            LevyError::at(
                ErrorCode::InvalidField,
                "amount",
                "the price is a number, like 100.00",
            )
        })?;
    let line = |id: &str, kind: &str, amount: serde_json::Value, class: &str| {
        serde_json::json!({
            "id": id, "item_code": id, "name": id, "type": kind, "quantity": 1, "tax_exempt": false,
            "price": {"amount": amount, "tax_inclusive": false},
            "tax_class": {"code": "", "class_id": class, "name": class},
        })
    };
    let class = blank(&check.class_id, "0");
    let request = serde_json::json!({
        "id": "address-check",
        "currency_code": "USD",
        "customer": {"customer_id": "0", "customer_group_id": "0"},
        "transaction_date": chrono::Utc::now().to_rfc3339(),
        "documents": [{
            "id": "check",
            "billing_address": address, "destination_address": address, "origin_address": address,
            "shipping": line("shipping", "shipping", 0.into(), "0"),
            "handling": line("handling", "handling", 0.into(), "0"),
            "items": [line("item", "item", amount, &class)],
        }],
    });
    let request: crate::quote::QuoteRequest = crate::json::parse(request.to_string().as_bytes())?;
    let directory = state.directory.load();
    let live = directory.get(id).ok_or_else(|| not_found(id))?;
    let computed = crate::engine::compute_audited(&live.rules, &request)?;
    let text = computed
        .audit
        .as_ref()
        .map(crate::audit::explain)
        .unwrap_or_default();
    let document = &request.documents[0];
    let m = live.rules.zone_for(&document.destination_address, "0");
    let zone = live
        .account
        .rules
        .zones
        .iter()
        .find(|z| z.id == m.zone_id)
        .cloned();
    Ok((zone, m.explain(), text))
}
