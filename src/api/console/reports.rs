//! The liability report: committed, non-voided tax over a range of transaction dates,
//! charted by month and by jurisdiction, with CSV downloads.

use super::page::{money, page, refused, PageError};
use super::Console;
use crate::error::{ErrorCode, LevyError};
use crate::report::{self, JurisdictionRow, MonthRow};
use crate::service;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{Datelike, NaiveDate, Utc};
use maud::{html, Markup, PreEscaped};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Range {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    group_by: String,
}

impl Range {
    /// The dates asked for; by default this year up to today.
    fn dates(&self) -> Result<(NaiveDate, NaiveDate), LevyError> {
        let today = Utc::now().date_naive();
        let parse = |s: &str, field: &str, d: NaiveDate| {
            if s.trim().is_empty() {
                return Ok(d);
            }
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| LevyError::at(ErrorCode::BadRequest, field, "a date is YYYY-MM-DD"))
        };
        let first = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
        Ok((
            parse(&self.from, "from", first)?,
            parse(&self.to, "to", today)?,
        ))
    }
}

/// `GET /app/reports?from&to`.
pub async fn show(console: Console, q: web::Query<Range>) -> Result<HttpResponse, PageError> {
    let s = &console.session;
    let form = |from: &str, to: &str| {
        html! {
            div.panel {
                form.stack method="get" {
                    div.row {
                        div { label for="from" { "From (transaction date)" } input #from type="date" name="from" value=(from); }
                        div { label for="to" { "To" } input #to type="date" name="to" value=(to); }
                        div { button type="submit" { "Show" } }
                    }
                }
            }
        }
    };
    let (from, to) = match q.dates() {
        Ok(d) => d,
        Err(e) => {
            let content = html! { (refused(&e)) (form(&q.from, &q.to)) };
            return Ok(page(s, "/app/reports", "Liability report", content));
        }
    };
    let (months, places) = match (
        service::reports::by_month(&console.state, &s.account, from, to).await,
        service::reports::liability_by_jurisdiction(&console.state, &s.account, from, to).await,
    ) {
        (Ok(m), Ok(p)) => (m, p),
        (Err(e), _) | (_, Err(e)) => {
            let content = html! { (refused(&e)) (form(&q.from, &q.to)) };
            return Ok(page(s, "/app/reports", "Liability report", content));
        }
    };
    let csv =
        |group: &str| format!("/app/reports/liability.csv?from={from}&to={to}&group_by={group}");
    let content = html! {
        (form(&from.to_string(), &to.to_string()))
        div.panel {
            h2 { "Tax by month" }
            @if months.iter().all(|m| m.tax.is_zero()) {
                p { "No committed tax in this range." }
            }
            @for currency in currencies(&months) {
                h3 { (currency) }
                (month_chart(&months, &currency))
            }
            p { a href=(csv("month")) { "Download CSV by month" } " · " a href=(csv("rate")) { "by rate" } }
        }
        div.panel {
            h2 { "Tax by jurisdiction" }
            @if places.is_empty() {
                p { "No committed tax with a jurisdiction in this range (rates name their jurisdiction in their settings)." }
            } @else {
                (jurisdiction_chart(&places))
                table {
                    thead { tr { th { "Jurisdiction" } th { "Type" } th { "Code" } th.num { "Taxable" } th.num { "Exempt" } th.num { "Tax" } th { "Currency" } } }
                    tbody {
                        @for r in &places {
                            tr { td { (r.name) } td { (r.kind) } td { (r.code) } td.num { (money(r.taxable, &r.currency)) } td.num { (money(r.exempt, &r.currency)) } td.num { (money(r.tax, &r.currency)) } td { (r.currency) } }
                        }
                    }
                }
            }
            p { a href=(csv("jurisdiction")) { "Download CSV by jurisdiction" } }
        }
    };
    Ok(page(s, "/app/reports", "Liability report", content))
}

fn currencies(months: &[MonthRow]) -> Vec<String> {
    let mut c: Vec<String> = months.iter().map(|m| m.currency.clone()).collect();
    c.dedup();
    c
}

fn f(d: Decimal) -> f64 {
    // Only the height of a bar on screen; every figure shown is the exact decimal.
    d.to_f64().unwrap_or(0.0)
}

/// Vertical bars, one per month, as inline SVG (no script, nothing to build).
fn month_chart(months: &[MonthRow], currency: &str) -> Markup {
    let rows: Vec<&MonthRow> = months.iter().filter(|m| m.currency == currency).collect();
    let max = rows.iter().map(|m| f(m.tax)).fold(0.0, f64::max).max(0.01);
    let (w, h, top, bottom) = (56.0, 160.0, 20.0, 24.0);
    let width = (rows.len() as f64 * w).max(240.0);
    let mut svg = format!(
        r#"<svg class="chart" role="img" aria-label="Tax by month, {currency}" width="{width}" height="{}" viewBox="0 0 {width} {}">"#,
        h + top + bottom,
        h + top + bottom
    );
    for (i, m) in rows.iter().enumerate() {
        let bh = f(m.tax) / max * h;
        let x = i as f64 * w + 8.0;
        let y = top + h - bh;
        svg += &format!(
            r#"<rect class="bar" data-month="{}" x="{x}" y="{y:.1}" width="{}" height="{bh:.1}"><title>{} {}</title></rect>"#,
            esc(&m.month),
            w - 16.0,
            esc(&m.month),
            m.tax
        );
        svg += &format!(
            r#"<text x="{}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x + (w - 16.0) / 2.0,
            y - 4.0,
            esc(&money(m.tax, &m.currency).replace(&format!(" {}", m.currency), ""))
        );
        svg += &format!(
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x + (w - 16.0) / 2.0,
            top + h + 16.0,
            esc(&m.month)
        );
    }
    svg += &format!(
        r#"<line class="axis" x1="0" x2="{width}" y1="{}" y2="{}"/></svg>"#,
        top + h,
        top + h
    );
    html! { (PreEscaped(svg)) }
}

/// Horizontal bars, one per jurisdiction and currency.
fn jurisdiction_chart(rows: &[JurisdictionRow]) -> Markup {
    let max = rows.iter().map(|r| f(r.tax)).fold(0.0, f64::max).max(0.01);
    let (label, bar, row) = (220.0, 480.0, 26.0);
    let height = rows.len() as f64 * row + 8.0;
    let mut svg = format!(
        r#"<svg class="chart" role="img" aria-label="Tax by jurisdiction" width="{}" height="{height}">"#,
        label + bar + 120.0
    );
    for (i, r) in rows.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let bw = (f(r.tax) / max * bar).max(1.0);
        svg += &format!(
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            label - 8.0,
            y + 15.0,
            esc(&format!("{} ({})", r.name, r.kind))
        );
        svg += &format!(
            r#"<rect class="bar" x="{label}" y="{y}" width="{bw:.1}" height="{}"/>"#,
            row - 8.0
        );
        svg += &format!(
            r#"<text x="{}" y="{}">{}</text>"#,
            label + bw + 6.0,
            y + 15.0,
            esc(&money(r.tax, &r.currency))
        );
    }
    svg += "</svg>";
    html! { (PreEscaped(svg)) }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /app/reports/liability.csv?from&to&group_by=month|rate|jurisdiction`.
pub async fn csv(console: Console, q: web::Query<Range>) -> Result<HttpResponse, PageError> {
    let s = &console.session;
    let (from, to) = q.dates()?;
    let (name, body) = match q.group_by.as_str() {
        "rate" => (
            "rate",
            report::to_csv(
                &service::reports::liability(&console.state, &s.account, from, to).await?,
            ),
        ),
        "jurisdiction" => (
            "jurisdiction",
            report::jurisdictions_to_csv(
                &service::reports::liability_by_jurisdiction(&console.state, &s.account, from, to)
                    .await?,
            ),
        ),
        _ => (
            "month",
            report::months_to_csv(
                &service::reports::by_month(&console.state, &s.account, from, to).await?,
            ),
        ),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"levy-liability-{name}-{from}-{to}.csv\""),
        ))
        .body(body))
}
