//! BigCommerce's app callbacks, and the overview page install and load open on.

use super::page::{self, page, PageError};
use super::{set_cookie, settings, Console};
use crate::app::jwt::{self, Verified};
use crate::app::oauth::Grant;
use crate::app::session::Session;
use crate::rules::DEFAULT_ZONE_ID;
use crate::service;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Signed {
    signed_payload_jwt: Option<String>,
}

/// The verified payload, or the 401 page (why goes to the log, not to the page).
fn verify(state: &AppState, q: &Signed) -> Result<Verified, PageError> {
    let settings = settings(state)?;
    let token = q.signed_payload_jwt.as_deref().unwrap_or_default();
    jwt::verify(token, &settings.client_id, &settings.client_secret).map_err(|e| {
        tracing::info!(error = %e, "app callback refused");
        PageError::unauthorized(
            "BigCommerce's signature on this request did not check out, or it has expired. Open Levy again from the store's control panel.",
        )
    })
}

/// `GET /app/auth?code&scope&context`: install.
pub async fn auth(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Grant>,
) -> Result<HttpResponse, PageError> {
    let settings = settings(&state)?;
    let redirect = match &settings.app_url {
        Some(url) => format!("{url}/app/auth"),
        None => {
            let info = req.connection_info();
            format!("{}://{}/app/auth", info.scheme(), info.host())
        }
    };
    let installed = service::app::install(
        state.clone().into_inner(),
        settings.clone(),
        q.into_inner(),
        redirect,
    )
    .await?;
    let mut notice = format!(
        "Levy is now this store's tax provider: BigCommerce holds credential {}.",
        installed.username
    );
    if let Some((zones, rates)) = installed.pulled {
        notice.push_str(&format!(
            " Your store's manual tax setup was copied: {zones} zones and {rates} rates."
        ));
    }
    opened(&state, &installed.session, Some(page::success(&notice)))
}

/// The overview of a new session, with its cookie.
fn opened(
    state: &AppState,
    session: &Session,
    notice: Option<Markup>,
) -> Result<HttpResponse, PageError> {
    let mut res = render_overview(state, session, notice);
    let (name, value) = set_cookie(&*settings(state)?, session);
    res.headers_mut().insert(
        name,
        value
            .parse()
            .map_err(|_| PageError::new(500, "Something went wrong", "cookie"))?,
    );
    Ok(res)
}

/// `GET /app/load?signed_payload_jwt`: open the console.
pub async fn load(
    state: web::Data<AppState>,
    q: web::Query<Signed>,
) -> Result<HttpResponse, PageError> {
    let verified = verify(&state, &q)?;
    let session = service::app::load(&state, &verified).await?;
    opened(&state, &session, None)
}

/// `GET /app/uninstall?signed_payload_jwt`.
pub async fn uninstall(
    state: web::Data<AppState>,
    q: web::Query<Signed>,
) -> Result<HttpResponse, PageError> {
    let verified = verify(&state, &q)?;
    let revoked =
        service::app::uninstall(state.clone().into_inner(), settings(&state)?, &verified).await?;
    Ok(page::plain(
        StatusCode::OK,
        "Levy was uninstalled",
        &format!(
            "Store {}: {} credential(s) revoked; committed quotes are kept for audit.",
            verified.store_hash,
            revoked.len()
        ),
    ))
}

/// `GET /app/remove_user?signed_payload_jwt`.
pub async fn remove_user(
    state: web::Data<AppState>,
    q: web::Query<Signed>,
) -> Result<HttpResponse, PageError> {
    let verified = verify(&state, &q)?;
    service::app::remove_user(&state, &verified).await?;
    Ok(page::plain(
        StatusCode::OK,
        "User removed",
        "That user can no longer open Levy's console.",
    ))
}

/// `GET /app/`.
pub async fn overview(console: Console) -> HttpResponse {
    render_overview(&console.state, &console.session, None)
}

fn render_overview(state: &AppState, session: &Session, notice: Option<Markup>) -> HttpResponse {
    let account = service::accounts::get(state, &session.account).ok();
    let (zones, rates, classes, credentials) = account
        .as_ref()
        .map(|a| {
            (
                a.rules
                    .zones
                    .iter()
                    .filter(|z| z.id != DEFAULT_ZONE_ID)
                    .count(),
                a.rules.rates.len(),
                a.rules.classes.len(),
                a.credentials
                    .iter()
                    .filter(|c| c.store_hash.as_deref() == Some(session.store_hash.as_str()))
                    .map(|c| c.username.clone())
                    .collect::<Vec<_>>(),
            )
        })
        .unwrap_or_default();
    let content = html! {
        @if let Some(n) = notice { (n) }
        div.grid {
            div.panel.stat { div.muted { "Tax zones" } div.value { (zones) } }
            div.panel.stat { div.muted { "Tax rates" } div.value { (rates) } }
            div.panel.stat { div.muted { "Tax classes" } div.value { (classes) } }
        }
        div.panel {
            h2 { "Connection" }
            @if credentials.is_empty() {
                p { "BigCommerce holds no Levy credential for this store." }
            } @else {
                p { "BigCommerce calls Levy for this store's tax with credential "
                    @for (i, c) in credentials.iter().enumerate() {
                        @if i > 0 { ", " } code { (c) }
                    }
                    "." }
            }
            p.muted { "Account " code { (session.account) } ", store " code { (session.store_hash) } "." }
        }
        div.panel {
            h2 { "Next steps" }
            p { a href="/app/zones" { "Review your tax zones and rates" } ", "
                a href="/app/check" { "check which rate applies to an address" } ", or "
                a href="/app/import" { "import a ZIP-code rate table" } "." }
        }
    };
    page(session, "/app/", "Tax", content)
}
