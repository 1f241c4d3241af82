//! The BigCommerce app on the public listener: its callbacks (`/app/auth`, `/app/load`,
//! `/app/uninstall`, `/app/remove_user`) and the merchant console under `/app/`, one
//! store per session. Every page that changes something takes a POST with the session's
//! CSRF token; every change goes through the service layer, logged with the user.

mod callbacks;
mod import;
mod page;
mod quotes;
mod reports;
mod rules;

use crate::app::session::{self, Session};
use crate::app::AppSettings;
use crate::service;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
pub use page::PageError;
use std::sync::Arc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/app")
            .app_data(
                web::FormConfig::default()
                    .limit(8 << 20)
                    .error_handler(|e, _| {
                        PageError::new(400, "That form could not be read", e.to_string()).into()
                    }),
            )
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                PageError::new(400, "That address could not be read", e.to_string()).into()
            }))
            .service(web::resource("/assets/console.css").route(web::get().to(css)))
            .service(web::resource("/assets/console.js").route(web::get().to(js)))
            .service(get("/auth", callbacks::auth))
            .service(get("/load", callbacks::load))
            .service(get("/uninstall", callbacks::uninstall))
            .service(get("/remove_user", callbacks::remove_user))
            .service(get("/", callbacks::overview))
            .service(get("/zones", rules::zones))
            .service(
                web::resource("/zones/{id}")
                    .route(web::get().to(rules::zone_form))
                    .route(web::post().to(rules::zone_save)),
            )
            .service(
                web::resource("/rates/new")
                    .route(web::get().to(rules::new_rate_form))
                    .route(web::post().to(rules::new_rate_save)),
            )
            .service(
                web::resource("/rates/{id}")
                    .route(web::get().to(rules::rate_form))
                    .route(web::post().to(rules::rate_save)),
            )
            .service(get("/check", rules::check))
            .service(get("/quotes", quotes::list))
            .service(get("/quotes/{id}", quotes::show))
            .service(get("/reports", reports::show))
            .service(get("/reports/liability.csv", reports::csv))
            .service(
                web::resource("/import")
                    .route(web::get().to(import::form))
                    .route(web::post().to(import::submit)),
            )
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(PageError::new(
                    404,
                    "Not found",
                    "There is no such page in Levy's console.",
                ))
            })),
    );
}

/// A GET page.
fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path).route(web::get().to(handler))
}

async fn css() -> HttpResponse {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    )
}

async fn js() -> HttpResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    )
}

fn asset(kind: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(kind)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

/// The app's settings, or the page that says it is not configured.
fn settings(state: &AppState) -> Result<Arc<AppSettings>, PageError> {
    state.app.clone().ok_or_else(|| {
        PageError::new(
            404,
            "The BigCommerce app is not configured",
            "This Levy has no LEVY_BC_CLIENT_ID, LEVY_BC_CLIENT_SECRET and LEVY_BC_PROVIDER_ID (docs/bigcommerce-app.md).",
        )
    })
}

/// A request inside a console session that still stands.
pub struct Console {
    pub session: Session,
    pub state: web::Data<AppState>,
}

impl FromRequest for Console {
    type Error = PageError;
    type Future = std::future::Ready<Result<Console, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(console(req))
    }
}

fn console(req: &HttpRequest) -> Result<Console, PageError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| PageError::new(500, "Something went wrong", "no state"))?;
    let settings = settings(&state)?;
    let session = cookie(req)
        .and_then(|v| Session::open(&v, &settings.session_key))
        .ok_or_else(|| {
            PageError::unauthorized(
                "Open Levy from your store's control panel (Apps › My Apps › Levy) to sign in.",
            )
        })?;
    service::app::check(&state, &session).map_err(PageError::from)?;
    Ok(Console { session, state })
}

/// The session cookie's value, from the `Cookie` header.
fn cookie(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == session::COOKIE)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` for a new session: HttpOnly, scoped to `/app`, expiring with the
/// session; `SameSite=None; Secure` so the control panel's iframe sends it, or in the
/// local-development mode `SameSite=Lax` over plain http.
fn set_cookie(settings: &AppSettings, session: &Session) -> (header::HeaderName, String) {
    let site = if settings.insecure_cookies {
        "SameSite=Lax"
    } else {
        "SameSite=None; Secure"
    };
    (
        header::SET_COOKIE,
        format!(
            "{}={}; Path=/app; HttpOnly; Max-Age={}; {site}",
            session::COOKIE,
            session.seal(&settings.session_key),
            session::LIFETIME_SECS
        ),
    )
}

/// A submitted form: its fields, once the CSRF token was found to be the session's.
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn checked(
        console: &Console,
        form: web::Form<Vec<(String, String)>>,
    ) -> Result<Fields, PageError> {
        let fields = Fields(form.into_inner());
        if !console.session.csrf_ok(fields.get("csrf")) {
            return Err(PageError::new(
                403,
                "This form has expired",
                "The page was open too long or came from elsewhere. Reload it and try again.",
            ));
        }
        Ok(fields)
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every field whose name starts with `prefix`, the rest of its name and its value.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.0
            .iter()
            .filter_map(move |(k, v)| k.strip_prefix(prefix).map(|rest| (rest, v.as_str())))
    }
}

/// Logs a merchant's change with the BigCommerce user who made it.
fn log_action(console: &Console, action: &str, detail: &str) {
    let s = &console.session;
    tracing::info!(target: "levy::console", account = %s.account, store = %s.store_hash, user = %s.email, user_id = s.user_id, action, detail, "console change");
}
