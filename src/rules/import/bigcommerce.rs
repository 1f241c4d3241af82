//! Moving a store off BigCommerce's manual tax: the JSON of its v3 tax APIs (zones,
//! rates, classes, as `{data, meta}` envelopes or bare arrays) into a rules document.

use crate::error::{ErrorCode, LevyError};
use crate::rules::{Rate, RulesDocument, Settings, TaxClass, ValidRules, Zone, DEFAULT_CLASS_ID};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The `data` array of an envelope, or the array itself.
pub fn items<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<Vec<T>, LevyError> {
    let value: Value = crate::json::parse(bytes).map_err(|e| prefix(what, e))?;
    let list = match value {
        Value::Object(mut o) => o.remove("data").ok_or_else(|| {
            LevyError::at(
                ErrorCode::MissingField,
                format!("{what}.data"),
                "expected a {\"data\": [...]} envelope",
            )
        })?,
        other => other,
    };
    let text = serde_json::to_vec(&list).expect("values serialize");
    crate::json::parse(&text).map_err(|e| prefix(&format!("{what}.data"), e))
}

fn prefix(what: &str, mut e: LevyError) -> LevyError {
    e.path = Some(match e.path.as_deref() {
        None | Some("") => what.to_string(),
        Some(p) if p.starts_with('[') => format!("{what}{p}"),
        Some(p) => format!("{what}.{p}"),
    });
    e
}

/// A rules document from a store's zones, rates and (optionally) classes, keeping
/// `settings`. Without classes, every class a rate names is created as "Class N".
pub fn rules(
    zones: Vec<Zone>,
    rates: Vec<Rate>,
    classes: Option<Vec<TaxClass>>,
    settings: Settings,
) -> Result<ValidRules, LevyError> {
    let classes = match classes {
        Some(c) => c,
        None => {
            let mut ids: Vec<String> = rates
                .iter()
                .flat_map(|r| r.class_rates.iter().map(|c| c.tax_class_id.clone()))
                .filter(|id| id != DEFAULT_CLASS_ID)
                .collect();
            ids.sort();
            ids.dedup();
            ids.into_iter()
                .map(|id| TaxClass {
                    name: format!("Class {id}"),
                    id,
                    code: None,
                })
                .collect()
        }
    };
    RulesDocument {
        classes,
        zones,
        rates,
        settings,
    }
    .validate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_and_bare_arrays_both_load() {
        let zones: Vec<Zone> = items(
            "zones",
            br#"{"data":[{"id":2,"name":"AU","enabled":true,"shopper_target_settings":{"locations":[{"country_code":"AU"}],"customer_groups":[]}}],"meta":{}}"#,
        )
        .unwrap();
        let rates: Vec<Rate> = items(
            "rates",
            br#"[{"id":3,"tax_zone_id":2,"name":"GST","enabled":true,"priority":1,"class_rates":[{"rate":10,"tax_class_id":0},{"rate":5,"tax_class_id":4}]}]"#,
        )
        .unwrap();
        let doc = rules(zones, rates, None, Settings::default()).unwrap();
        assert!(doc
            .classes
            .iter()
            .any(|c| c.id == "4" && c.name == "Class 4"));
        assert_eq!(doc.zones.len(), 2, "zone 1 is added");
    }

    #[test]
    fn errors_name_the_file_and_path() {
        let err = items::<Rate>("rates", br#"{"data":[{"id":"x"}]}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("rates.data[0].id"));
        let err = items::<Zone>("zones", br#"{"meta":{}}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("zones.data"));
    }
}
