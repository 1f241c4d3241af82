//! The store's latest committed quotes, and each one's versions with their audit.

use super::page::{money, page, PageError};
use super::Console;
use crate::audit::Audit;
use crate::service;
use crate::store::{QuoteRecord, QuoteStatus};
use actix_web::{web, HttpResponse};
use maud::{html, Markup};

const SHOWN: usize = 50;

fn status(s: QuoteStatus) -> Markup {
    match s {
        QuoteStatus::Voided => html! { span.badge.voided { "Voided" } },
        _ => html! { span.badge.on { "Committed" } },
    }
}

/// `GET /app/quotes`.
pub async fn list(console: Console) -> Result<HttpResponse, PageError> {
    let s = &console.session;
    let rows = service::reports::recent(&console.state, &s.account, &s.store_hash, SHOWN).await?;
    let content = html! {
        div.panel {
            @if rows.is_empty() {
                p { "No order has been committed yet. BigCommerce commits a quote when an order is paid." }
            } @else {
                p.muted { "The " (rows.len()) " most recent committed quotes (orders), newest first." }
                table {
                    thead { tr { th { "Quote" } th { "Status" } th.num { "Versions" } th { "Last change (UTC)" } th.num { "Tax" } } }
                    tbody {
                        @for q in &rows {
                            tr {
                                td { a href=(format!("/app/quotes/{}", urlencode(&q.id))) { (q.id) } }
                                td { (status(q.status)) }
                                td.num { (q.version) }
                                td { (q.at.format("%Y-%m-%d %H:%M")) }
                                td.num { (money(q.tax, &q.currency)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(s, "/app/quotes", "Quotes", content))
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `GET /app/quotes/{id}`: only this session's store's quote of that id.
pub async fn show(console: Console, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    let s = &console.session;
    let quote = service::quotes::get(&console.state, &s.account, &id, Some(&s.store_hash)).await?;
    Ok(page(
        s,
        "/app/quotes",
        &format!("Quote {}", quote.id),
        versions(&quote),
    ))
}

fn versions(quote: &QuoteRecord) -> Markup {
    html! {
        p { (status(quote.status)) " " span.muted { "Order reference " code { (quote.external_key) } } }
        @for v in quote.versions.iter().rev() {
            div.panel {
                h2 { "Version " (v.version) " · " (format!("{:?}", v.kind).to_lowercase()) }
                p.muted {
                    (v.at.format("%Y-%m-%d %H:%M:%S UTC"))
                    @if let Some(d) = &v.adjust_description { " · " (d) }
                }
                @match v.audit.as_ref().and_then(|a| serde_json::from_str::<Audit>(a.get()).ok()) {
                    Some(audit) => { h3 { "Audit" } pre.explain { (crate::audit::explain(&audit)) } }
                    None => { p.muted { "No audit is kept for this version." } }
                }
            }
        }
    }
}
