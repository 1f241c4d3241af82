//! A local stand-in for BigCommerce's API, faithful to the OpenAPI files in
//! `shared/reference/bigcommerce/`: the Tax Provider Connection API (`tax.v3.yml`), Tax
//! Zones and Rates (`tax_rates_zones.v3.yml`, rates paged with `page`/`limit` and
//! `meta.pagination`), and Tax Classes (`tax_classes.v3.yaml`: POST/PUT/DELETE, no GET).
//! Every call needs `X-Auth-Token`; unknown stores and providers are 404; a connection
//! body without username or password is 422. It records every request it receives, and
//! can be told to fail in the ways the real one can.
#![allow(dead_code)]

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub token: Option<String>,
    pub body: Value,
}

#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub username: String,
    pub password: String,
    pub profile: Option<String>,
}

/// Failures to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer PUT connection with this status (and do not store).
    pub put_status: Option<u16>,
    /// Store the PUT, then stall past the client's timeout.
    pub put_delay_after_store: Option<Duration>,
    /// Stall before handling PUT (nothing stored).
    pub put_delay: Option<Duration>,
    /// Report `configured: false` on GET connection.
    pub report_unconfigured: bool,
}

#[derive(Debug, Default)]
pub struct State {
    pub token: String,
    pub store_hash: String,
    pub provider_id: String,
    pub connection: Option<Connection>,
    pub zones: Vec<Value>,
    pub rates: Vec<Value>,
    pub classes: Vec<Value>,
    pub received: Vec<Received>,
    pub faults: Faults,
    /// The app's OAuth side (`POST /oauth2/token` of login.bigcommerce.com), when set.
    pub oauth: Option<OAuthApp>,
    /// Further stores the API answers for (one connection slot shared by all).
    pub extra_stores: Vec<String>,
}

/// A registered app as BigCommerce's login service knows it.
#[derive(Debug, Clone, Default)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: String,
    /// The code each install's redirect carries; the exchange answers with `token`.
    pub code: String,
    pub user_id: u64,
    pub email: String,
}

#[derive(Clone)]
pub struct StandIn {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

impl StandIn {
    /// Starts the stand-in for one store and provider, on port 0.
    pub fn start(store_hash: &str, provider_id: &str, token: &str) -> StandIn {
        let state = Arc::new(Mutex::new(State {
            token: token.into(),
            store_hash: store_hash.into(),
            provider_id: provider_id.into(),
            ..State::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = state.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(shared.clone()))
                        .default_service(web::to(handle))
                })
                .workers(2)
                .listen(listener)
                .unwrap()
                .run()
                .await
                .unwrap();
            })
        });
        StandIn { base, state }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn connection(&self) -> Option<Connection> {
        self.state.lock().unwrap().connection.clone()
    }

    /// Also acts as BigCommerce's login service for this app.
    pub fn with_oauth(self, app: OAuthApp) -> StandIn {
        self.state.lock().unwrap().oauth = Some(app);
        self
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.lock().unwrap().faults = faults;
    }
}

fn problem(status: u16, title: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/problem+json")
        .json(json!({"status": status, "title": title, "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes", "errors": {}}))
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let token = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (faults, expected_token, store_hash, provider_id) = {
        let mut s = state.lock().unwrap();
        s.received.push(Received {
            method: req.method().to_string(),
            path: req.path().to_string(),
            query: req.query_string().to_string(),
            token: token.clone(),
            body: parsed.clone(),
        });
        (
            s.faults.clone(),
            s.token.clone(),
            s.store_hash.clone(),
            s.provider_id.clone(),
        )
    };
    if req.path() == "/oauth2/token" {
        return oauth(&body, &state);
    }
    if token.as_deref() != Some(expected_token.as_str()) {
        return problem(401, "You have not provided a valid X-Auth-Token.");
    }
    let segments: Vec<&str> = req.path().trim_matches('/').split('/').collect();
    // /stores/{hash}/v3/...
    if segments.len() < 3 || segments[0] != "stores" || segments[2] != "v3" {
        return problem(404, "Not Found");
    }
    let extra = state.lock().unwrap().extra_stores.clone();
    if segments[1] != store_hash && !extra.iter().any(|h| h == segments[1]) {
        return problem(404, "Store not found");
    }
    let rest = &segments[3..];
    let method = req.method().as_str();
    let query: HashMap<String, String> =
        web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
    match rest {
        ["tax", "providers", pid, "connection"] => {
            if *pid != provider_id {
                return problem(404, "The tax provider was not found.");
            }
            connection(method, &req, parsed, &state, &faults).await
        }
        ["tax", "zones"] if method == "GET" => {
            let s = state.lock().unwrap();
            let ids: Option<Vec<u64>> = query
                .get("id:in")
                .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect());
            let data: Vec<&Value> = s
                .zones
                .iter()
                .filter(|z| {
                    ids.as_ref()
                        .is_none_or(|ids| ids.contains(&z["id"].as_u64().unwrap()))
                })
                .collect();
            HttpResponse::Ok().json(json!({"data": data, "meta": {}}))
        }
        ["tax", "rates"] if method == "GET" => {
            let s = state.lock().unwrap();
            let limit: usize = query
                .get("limit")
                .and_then(|v| v.parse().ok())
                .unwrap_or(50)
                .clamp(1, 50);
            let page: usize = query
                .get("page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
                .max(1);
            let total = s.rates.len();
            let pages = total.div_ceil(limit).max(1);
            let data: Vec<&Value> = s
                .rates
                .iter()
                .skip((page - 1) * limit)
                .take(limit)
                .collect();
            HttpResponse::Ok().json(json!({"data": data, "meta": {"pagination": {
                "total": total, "count": data.len(), "per_page": limit, "current_page": page, "total_pages": pages,
                "links": {"current": format!("?page={page}&limit={limit}")}
            }}}))
        }
        ["tax", "classes"] if ["POST", "PUT", "DELETE"].contains(&method) => {
            HttpResponse::Ok().json(json!({"data": [], "meta": {}}))
        }
        ["tax", "classes"] => HttpResponse::MethodNotAllowed()
            .content_type("application/problem+json")
            .json(json!({"status": 405, "title": "Method Not Allowed"})),
        _ => problem(404, "Not Found"),
    }
}

async fn connection(
    method: &str,
    req: &HttpRequest,
    body: Value,
    state: &Arc<Mutex<State>>,
    faults: &Faults,
) -> HttpResponse {
    let view = |c: &Option<Connection>, configured_override: bool| {
        let mut data = json!({"username": c.as_ref().map(|c| c.username.clone()).unwrap_or_default(),
                               "configured": c.is_some() && !configured_override});
        if let Some(p) = c.as_ref().and_then(|c| c.profile.clone()) {
            data["profile"] = json!(p);
        }
        json!({"data": data})
    };
    match method {
        "GET" => {
            let s = state.lock().unwrap();
            HttpResponse::Ok().json(view(&s.connection, faults.report_unconfigured))
        }
        "DELETE" => {
            let mut s = state.lock().unwrap();
            let old = s.connection.take();
            let mut v = view(&old, true);
            v["data"]["configured"] = json!(false);
            HttpResponse::Ok().json(v)
        }
        "PUT" => {
            if let Some(d) = faults.put_delay {
                actix_web::rt::time::sleep(d).await;
            }
            if let Some(status) = faults.put_status {
                return problem(status, "Injected failure");
            }
            let is_json = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if !is_json {
                return problem(415, "Content-Type must be application/json");
            }
            let username = body["username"].as_str().unwrap_or_default();
            let password = body["password"].as_str().unwrap_or_default();
            if username.is_empty() || password.is_empty() {
                return HttpResponse::UnprocessableEntity()
                    .content_type("application/problem+json")
                    .json(json!({
                        "status": 422, "title": "The connection details are incomplete.",
                        "errors": {"username": "required", "password": "required"}
                    }));
            }
            let stored = Some(Connection {
                username: username.into(),
                password: password.into(),
                profile: body["profile"].as_str().map(String::from),
            });
            let answer = view(&stored, false);
            state.lock().unwrap().connection = stored;
            if let Some(d) = faults.put_delay_after_store {
                actix_web::rt::time::sleep(d).await;
            }
            HttpResponse::Ok().json(answer)
        }
        _ => problem(405, "Method Not Allowed"),
    }
}

/// `POST /oauth2/token` (form-encoded, as BigCommerce's app guide shows): the app's
/// client id and secret, the code, `grant_type=authorization_code`, a redirect URI and
/// the store context; the store's token in return.
fn oauth(body: &[u8], state: &Arc<Mutex<State>>) -> HttpResponse {
    // A form body has the syntax of a query string.
    let form: HashMap<String, String> =
        web::Query::<HashMap<String, String>>::from_query(std::str::from_utf8(body).unwrap_or(""))
            .map(|q| q.into_inner())
            .unwrap_or_default();
    let s = state.lock().unwrap();
    let Some(app) = &s.oauth else {
        return problem(404, "Not Found");
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let store = field("context").strip_prefix("stores/").unwrap_or_default();
    let known_store = store == s.store_hash || s.extra_stores.iter().any(|h| h == store);
    if field("client_id") != app.client_id
        || field("client_secret") != app.client_secret
        || field("code") != app.code
        || field("grant_type") != "authorization_code"
        || !field("redirect_uri").ends_with("/app/auth")
        || !known_store
    {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_grant"}));
    }
    HttpResponse::Ok().json(json!({
        "access_token": s.token,
        "scope": field("scope"),
        "user": {"id": app.user_id, "username": app.email, "email": app.email},
        "owner": {"id": app.user_id, "username": app.email, "email": app.email},
        "context": format!("stores/{store}"),
        "account_uuid": "9a2d5b1e-0000-4000-8000-000000000001",
    }))
}
