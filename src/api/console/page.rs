//! The console's frame (header, tabs, messages) and its error pages. Pages are rendered
//! on the server with maud, which escapes every value it inserts.

use crate::app::session::Session;
use crate::error::LevyError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use maud::{html, Markup, DOCTYPE};

/// The tabs, as (path, label).
const TABS: &[(&str, &str)] = &[
    ("/app/", "Overview"),
    ("/app/zones", "Tax zones & rates"),
    ("/app/check", "Check an address"),
    ("/app/quotes", "Quotes"),
    ("/app/reports", "Liability report"),
    ("/app/import", "Import rates"),
];

/// Headers every console answer carries: framed only by BigCommerce's control panel,
/// never cached, scripts and styles only from Levy itself.
fn secured(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'self' https://*.bigcommerce.com https://*.mybigcommerce.com",
    ))
    .insert_header((header::CACHE_CONTROL, "no-store"))
    .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
    .insert_header((header::REFERRER_POLICY, "same-origin"));
    b
}

fn document(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Levy" }
                link rel="stylesheet" href="/app/assets/console.css";
                script src="/app/assets/console.js" {}
            }
            body { (body) }
        }
    }
    .into_string()
}

/// A console page for `session`, with `active` the path of its tab.
pub fn page(session: &Session, active: &str, title: &str, content: Markup) -> HttpResponse {
    respond(StatusCode::OK, session, active, title, content)
}

pub fn respond(
    status: StatusCode,
    session: &Session,
    active: &str,
    title: &str,
    content: Markup,
) -> HttpResponse {
    let body = html! {
        header {
            span.brand { "Levy tax" }
            span.store { "Store " (session.store_hash) " · " (session.email) }
        }
        nav {
            @for (path, label) in TABS {
                a href=(path) class=[(*path == active).then_some("active")] { (label) }
            }
        }
        main {
            h1 { (title) }
            (content)
        }
    };
    secured(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(document(title, body))
}

/// The hidden field every form that changes something carries.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

pub fn success(text: &str) -> Markup {
    html! { div.message.success role="status" { (text) } }
}

/// A refused change, said for the merchant, with the field it is about.
pub fn refused(e: &LevyError) -> Markup {
    html! {
        div.message.error role="alert" {
            strong { "Not saved. " }
            (e.message)
            @if let Some(path) = &e.path { span.muted { " (field " (path) ")" } }
        }
    }
}

/// A page outside any session: errors, and what the callbacks answer.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl PageError {
    pub fn new(status: u16, title: &'static str, message: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            title,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> PageError {
        PageError::new(401, "Not signed in", message)
    }
}

impl From<LevyError> for PageError {
    fn from(e: LevyError) -> PageError {
        let status = e.code.status();
        let title = match status {
            401 => "Not signed in",
            404 => "Not found",
            502 => "BigCommerce did not answer as expected",
            s if s >= 500 => "Something went wrong",
            _ => "That did not work",
        };
        PageError::new(status, title, e.message)
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        plain(self.status, self.title, &self.message)
    }
}

/// A page without tabs: errors, and the answer to BigCommerce's server-side callbacks.
pub fn plain(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let body = html! {
        header { span.brand { "Levy tax" } }
        main { div.panel { h2 { (title) } p { (message) } } }
    };
    secured(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(document(title, body))
}

/// An amount as a merchant reads it: the currency's minor units (8 -> 8.00 USD).
pub fn money(amount: rust_decimal::Decimal, currency: &str) -> String {
    let places = crate::currency::Currency::from_code(currency)
        .map(|c| c.minor_units())
        .unwrap_or(2);
    let mut shown = amount;
    if shown.scale() < places {
        shown.rescale(places);
    }
    format!("{shown} {currency}")
}
