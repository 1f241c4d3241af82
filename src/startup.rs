//! The running service: opens the store, loads accounts, binds the listeners.
//!
//! [`Application::build`] binds its own listeners (port 0 allowed) so tests can start
//! the real server and learn its addresses.

use crate::accounts::{Directory, RulesPool};
use crate::api;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::service;
use crate::state::AppState;
use crate::store::group_commit::GroupCommit;
use crate::store::{DirectoryDelta, Store};
use actix_web::{web, App, HttpMessage};
use arc_swap::ArcSwap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

pub struct Application {
    public: actix_web::dev::Server,
    admin: actix_web::dev::Server,
    public_addr: SocketAddr,
    admin_addr: SocketAddr,
    state: web::Data<AppState>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store: Arc<dyn Store> =
            crate::store::open(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (revision, accounts) = store.directory().map_err(|e| anyhow::anyhow!("{e}"))?;
        let directory = Directory::build(accounts, &config.base_domains);
        let metrics = Arc::new(Metrics::new());
        let observer = metrics.clone();
        // sled's writes become durable in shared flushes; a database's at each COMMIT.
        let durability = (!store.durable_on_return()).then(|| {
            GroupCommit::start(store.clone(), move |took, writers| {
                observer.observe_flush(took, writers)
            })
        });
        // Two large quotes at a time: the rest of the cores stay with everyone else.
        let heavy = crate::lanes::Lane::new(2);
        let state = web::Data::new(AppState {
            directory: ArcSwap::from_pointee(directory),
            store: crate::store::Storage::new(store, durability, heavy.clone()),
            heavy,
            limits: config.limits.clone(),
            account_writes: Arc::new(tokio::sync::Mutex::new(())),
            metrics,
            admin_token: admin_token(&config)?,
            app: crate::app::AppSettings::from_config(&config)?.map(Arc::new),
        });
        if let Some(demo) = &config.demo {
            bootstrap_demo(&state, demo).await?;
        }
        if let Some(changes) = state.store.backend().directory_changes() {
            tokio::spawn(follow_directory(
                state.clone(),
                changes,
                revision,
                config.base_domains.clone(),
            ));
        }

        let workers = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let listener = TcpListener::bind(&config.listen).map_err(|e| {
            anyhow::anyhow!("cannot listen on {} (LEVY_LISTEN): {e}", config.listen)
        })?;
        let public_addr = listener.local_addr()?;
        let shared = state.clone();
        let limits = &config.limits;
        let public = api::server::serve(
            listener,
            api::server::Options {
                name: "public",
                workers,
                // Store calls run on the blocking pool. They are CPU work (sled writes to
                // memory; the flusher thread waits on the disk), so two threads per worker
                // suffice: at 64 clients, 2 gave more commits/s than 4, and 4 more than 16
                // (fewer switches, fewer allocator heaps; BENCHMARKS.md).
                blocking_threads: 2,
                max_connections: limits.connections_per_worker,
                head_timeout: std::time::Duration::from_secs(limits.head_timeout_secs),
            },
            move || app(&shared, "public", api::public_routes),
        )?;

        let admin_listener = TcpListener::bind(&config.admin_listen).map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {} (LEVY_ADMIN_LISTEN): {e}",
                config.admin_listen
            )
        })?;
        let admin_addr = admin_listener.local_addr()?;
        let shared = state.clone();
        let admin = api::server::serve(
            admin_listener,
            api::server::Options {
                name: "admin",
                workers: 1,
                blocking_threads: 4,
                max_connections: limits.connections_per_worker,
                head_timeout: std::time::Duration::from_secs(limits.head_timeout_secs),
            },
            move || app(&shared, "admin", api::admin::routes),
        )?;
        Ok(Application {
            public,
            admin,
            public_addr,
            admin_addr,
            state,
        })
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Shared state, for embedding and tests (e.g. to create accounts directly).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGTERM/SIGINT: in-flight requests finish, then the store is flushed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let public = self.public.handle();
        let admin = self.admin.handle();
        // Either server stopping (a signal reaches both) stops the other.
        let result = tokio::select! {
            r = self.public => { admin.stop(true).await; r }
            r = self.admin => { public.stop(true).await; r }
        };
        self.state
            .store
            .close()
            .await
            .map_err(|e| anyhow::anyhow!("final flush: {e}"))?;
        result?;
        Ok(())
    }
}

/// One listener's app: shared state, JSON errors for queries and unknown paths, metrics
/// and the access log around `routes`.
fn app(
    state: &web::Data<AppState>,
    listener: &'static str,
    routes: fn(&mut web::ServiceConfig),
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state.clone())
        .app_data(api::query_errors())
        .app_data(Listener(listener))
        .wrap(actix_web::middleware::from_fn(observe))
        .configure(routes)
        .default_service(web::to(api::not_found))
}

/// The admin token: `LEVY_ADMIN_TOKEN`, else `admin_token_file`, else a random token kept
/// in `<data_dir>/admin-token` (created once, mode 0600).
fn admin_token(config: &Config) -> anyhow::Result<String> {
    if let Some(t) = config
        .admin_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return Ok(t.to_string());
    }
    let (path, generate) = match &config.admin_token_file {
        Some(p) => (p.clone(), false),
        None => (config.data_dir.join("admin-token"), true),
    };
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) | Err(_) if !generate => {
            anyhow::bail!("admin token file {} is missing or empty", path.display())
        }
        _ => {}
    }
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot write the admin token to {}: {e}", path.display()))?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    eprintln!("levy: generated an admin token in {}", path.display());
    Ok(token)
}

/// Creates the demo account of the default configuration when it does not exist.
/// Creates the demo account once, on a store that has never held it. A demo whose
/// credential was revoked or whose account was deleted stays that way.
async fn bootstrap_demo(state: &AppState, demo: &crate::config::Demo) -> anyhow::Result<()> {
    const CREATED: &str = "demo_created";
    let fail = |what: &str, e: &dyn std::fmt::Display| anyhow::anyhow!("{what}: {e}");
    if state
        .store
        .marker(CREATED)
        .await
        .map_err(|e| fail("store", &e))?
    {
        return Ok(());
    }
    // A store from before the marker that already holds the demo keeps it as it is.
    if state.directory.load().get(&demo.account).is_none() {
        let rules_text = std::fs::read(&demo.rules)
            .map_err(|e| anyhow::anyhow!("demo rules {}: {e}", demo.rules.display()))?;
        let rules = crate::json::parse(&rules_text)
            .map_err(|e| anyhow::anyhow!("demo rules {}: {e}", demo.rules.display()))?;
        service::accounts::create_account(
            state,
            service::accounts::NewAccount {
                id: demo.account.clone(),
                store_hashes: demo.store_hashes.clone(),
                profiles: demo.profiles.clone(),
            },
        )
        .await
        .map_err(|e| fail("demo account", &e))?;
        service::rules::put(state, &demo.account, rules, true)
            .await
            .map_err(|e| fail("demo rules", &e))?;
        service::accounts::add_known_credential(
            state,
            &demo.account,
            &demo.username,
            &demo.password,
        )
        .await
        .map_err(|e| fail("demo credential", &e))?;
    }
    state
        .store
        .set_marker(CREATED)
        .await
        .map_err(|e| fail("store", &e))?;
    Ok(())
}

/// Several nodes on one store: when another node changes accounts, credentials or rules,
/// the accounts it changed are read again (the whole directory only when this node fell
/// too far behind) and the next snapshot swapped in whole: an estimate sees the old
/// directory or the new, never half. Local changes wait meanwhile, so none is swapped out.
async fn follow_directory(
    state: web::Data<AppState>,
    mut changes: tokio::sync::watch::Receiver<i64>,
    mut seen: i64,
    base_domains: Vec<String>,
) {
    let mut failed = false;
    loop {
        if failed {
            // Read again shortly rather than wait for the next change.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        } else if changes.changed().await.is_err() {
            return;
        }
        let _serial = state.account_writes.lock().await;
        let store = state.store.backend().clone();
        let current = state.directory.load_full();
        let base_domains = base_domains.clone();
        let next = tokio::task::spawn_blocking(move || {
            Ok::<_, crate::store::StoreError>(match store.directory_since(seen)? {
                DirectoryDelta::Changed { revision, accounts } => {
                    let mut next = Directory::clone(&current);
                    for (id, account) in accounts {
                        let live = account.map(|a| Arc::new(RulesPool::global().live(a)));
                        next = next.with(&id, live);
                    }
                    (revision, next)
                }
                DirectoryDelta::Reload { revision, accounts } => {
                    (revision, Directory::build(accounts, &base_domains))
                }
            })
        })
        .await;
        failed = match next {
            Ok(Ok((revision, next))) => {
                seen = revision;
                state.directory.store(Arc::new(next));
                false
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading the directory failed");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the directory failed");
                true
            }
        };
    }
}

/// Which listener an app serves, for metric labels.
#[derive(Clone, Copy)]
struct Listener(&'static str);

/// Counts requests and their latency by listener, route pattern and status, and writes
/// the access log line: method, path, status, account, store hash, latency — never a
/// header that carries a credential. Request values are logged escaped (`?`).
async fn observe(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let listener = req.app_data::<Listener>().map_or("unknown", |l| l.0);
    let res = next.call(req).await?;
    let took = started.elapsed();
    let request = res.request();
    let status = res.status();
    if let Some(state) = state {
        let endpoint = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        let m = &state.metrics;
        m.requests
            .with_label_values(&[listener, &endpoint, status.as_str()])
            .inc();
        m.latency
            .with_label_values(&[listener, &endpoint])
            .observe(took.as_secs_f64());
    }
    if tracing::enabled!(target: "levy::access", tracing::Level::INFO) {
        let account = request
            .extensions()
            .get::<crate::logging::RequestAccount>()
            .map(|a| a.0.clone())
            .or_else(|| request.match_info().get("id").map(str::to_string));
        let store_hash = request
            .headers()
            .get("x-bc-store-hash")
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
        tracing::info!(
            target: "levy::access",
            listener,
            method = %request.method(),
            path = ?request.path(),
            status = status.as_u16(),
            account = ?account,
            store_hash = ?store_hash,
            latency_us = took.as_micros() as u64,
        );
    }
    Ok(res)
}
