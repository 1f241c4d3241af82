//! The ZIP-code rate-table import (SPEC 11.1): the table is checked and summarized
//! (a dry run) before the merchant applies it as one rules change.

use super::page::{csrf_field, page, refused, success, PageError};
use super::{log_action, Console, Fields};
use crate::error::{ErrorCode, LevyError};
use crate::rules::import::zip_rates::{ZipImportSummary, ZipRow, ZipRows};
use crate::service;
use actix_web::{web, HttpResponse};
use chrono::{Datelike, NaiveDate, Utc};
use maud::{html, Markup};

fn first_of_month() -> NaiveDate {
    let today = Utc::now().date_naive();
    NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today)
}

fn table_form(console: &Console, csv: &str, from: &str) -> Markup {
    html! {
        div.panel {
            p { "A US ZIP-code rate table (one row per ZIP: "
                code { "State,ZipCode,TaxRegionName,EstimatedCombinedRate,StateRate,EstimatedCountyRate,EstimatedCityRate,EstimatedSpecialRate" }
                "), as tax-rate publishers provide it monthly. Each ZIP becomes a zone with state, county, city and special rates; "
                "a later table replaces what an earlier one set, and rates are closed, never deleted, so older quotes keep their rates." }
            form.stack method="post" {
                (csrf_field(&console.session))
                label for="csv-file" { "Rate table file (.csv)" }
                input #csv-file type="file" accept=".csv,text/csv";
                label for="csv" { "…or its contents" }
                textarea #csv name="csv" { (csv) }
                label for="effective_from" { "Effective from" }
                input #effective_from type="date" name="effective_from" value=(from);
                input type="hidden" name="step" value="preview";
                div.actions { button type="submit" { "Check the table" } }
            }
        }
    }
}

/// `GET /app/import`.
pub async fn form(console: Console) -> HttpResponse {
    let content = table_form(&console, "", &first_of_month().to_string());
    page(
        &console.session,
        "/app/import",
        "Import a rate table",
        content,
    )
}

fn rows(csv: &str) -> Result<Vec<ZipRow>, LevyError> {
    let mut reader = ZipRows::new(csv.as_bytes());
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row()? {
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(LevyError::at(
            ErrorCode::InvalidField,
            "csv",
            "the table has no rows",
        ));
    }
    Ok(rows)
}

fn summary(s: &ZipImportSummary) -> Markup {
    html! {
        table #summary {
            thead { tr { th { "State" } th.num { "ZIPs" } th.num { "Zones added" } th.num { "Zones closed" } th.num { "Rates added" } th.num { "Rates closed" } th.num { "Unchanged" } } }
            tbody {
                @for (state, c) in &s.states {
                    tr { td { (state) } td.num { (c.zips) } td.num { (c.zones_added) } td.num { (c.zones_closed) } td.num { (c.rates_added) } td.num { (c.rates_closed) } td.num { (c.rates_unchanged) } }
                }
            }
        }
    }
}

/// `POST /app/import`: `step=preview` checks and summarizes, `step=apply` imports.
pub async fn submit(
    console: Console,
    form_data: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let fields = Fields::checked(&console, form_data)?;
    let csv = fields.get("csv").to_string();
    let from_text = fields.get("effective_from").to_string();
    let apply = fields.get("step") == "apply";
    let s = &console.session;
    let parsed = NaiveDate::parse_from_str(from_text.trim(), "%Y-%m-%d")
        .map_err(|_| {
            LevyError::at(
                ErrorCode::InvalidField,
                "effective_from",
                "a date is YYYY-MM-DD",
            )
        })
        .and_then(|from| Ok((from, rows(&csv)?)));
    let result = match parsed {
        Ok((from, rows)) => {
            service::rules::import_zip_rates(&console.state, &s.account, rows, from, !apply)
                .await
                .map(|summary| (from, summary))
        }
        Err(e) => Err(e),
    };
    let content = match result {
        Err(e) => html! { (refused(&e)) (table_form(&console, &csv, &from_text)) },
        Ok((from, done)) if apply => {
            log_action(
                &console,
                "import.zip_rates",
                &format!("effective {from}, {} states", done.states.len()),
            );
            html! {
                (success(&format!("Imported: the rates apply to transactions from {from}.")))
                div.panel { (summary(&done)) p { a href="/app/zones" { "See the tax zones" } } }
            }
        }
        Ok((from, preview)) => html! {
            div.message.info { "Nothing has changed yet. This is what applying the table from " (from) " would do:" }
            div.panel {
                (summary(&preview))
                form.stack method="post" {
                    (csrf_field(s))
                    input type="hidden" name="step" value="apply";
                    input type="hidden" name="effective_from" value=(from);
                    textarea name="csv" hidden { (csv) }
                    div.actions {
                        button #apply type="submit" { "Apply this table" }
                        a.button.secondary href="/app/import" { "Cancel" }
                    }
                }
            }
        },
    };
    Ok(page(s, "/app/import", "Import a rate table", content))
}
