//! The running service: opens the store, loads accounts, binds the listeners.
//!
//! [`Application::build`] binds its own listeners (port 0 allowed) so tests can start
//! the real server and learn its addresses.

use crate::accounts::Directory;
use crate::api::{self, AppState};
use crate::config::Config;
use crate::manage;
use crate::store::group_commit::GroupCommit;
use crate::store::sled_store::SledStore;
use crate::store::Store;
use actix_web::{web, App, HttpServer};
use arc_swap::ArcSwap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

pub struct Application {
    public: actix_web::dev::Server,
    public_addr: SocketAddr,
    state: web::Data<AppState>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store: Arc<dyn Store> = Arc::new(
            SledStore::open(&config.data_dir, config.cache_mb * 1024 * 1024)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        let accounts = store.accounts().map_err(|e| anyhow::anyhow!("{e}"))?;
        let directory = Directory::build(accounts, &config.base_domains)
            .map_err(|e| anyhow::anyhow!("stored rules do not load (damaged store?): {e}"))?;
        let durability = GroupCommit::start(store.clone(), |_, _| {});
        let state = web::Data::new(AppState {
            directory: ArcSwap::from_pointee(directory),
            store,
            durability,
            limits: config.limits.clone(),
            account_writes: tokio::sync::Mutex::new(()),
        });
        if let Some(demo) = &config.demo {
            bootstrap_demo(&state, demo).await?;
        }

        let workers = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let listener = TcpListener::bind(&config.listen).map_err(|e| {
            anyhow::anyhow!("cannot listen on {} (LEVY_LISTEN): {e}", config.listen)
        })?;
        let public_addr = listener.local_addr()?;
        let json_limit = config.limits.body_bytes;
        let shared = state.clone();
        let public = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(json_limit))
                .configure(api::provider::routes)
                .default_service(web::to(api::not_found))
        })
        .workers(workers)
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        Ok(Application {
            public,
            public_addr,
            state,
        })
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// Shared state, for embedding and tests (e.g. to create accounts directly).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGTERM/SIGINT: in-flight requests finish, then the store is flushed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let result = self.public.await;
        self.state.durability.stop();
        let store = self.state.store.clone();
        web::block(move || store.sync())
            .await?
            .map_err(|e| anyhow::anyhow!("final flush: {e}"))?;
        result?;
        Ok(())
    }
}

/// Creates the demo account of the default configuration when it does not exist.
async fn bootstrap_demo(state: &AppState, demo: &crate::config::Demo) -> anyhow::Result<()> {
    if state.directory.load().get(&demo.account).is_none() {
        let rules_text = std::fs::read(&demo.rules)
            .map_err(|e| anyhow::anyhow!("demo rules {}: {e}", demo.rules.display()))?;
        let rules = crate::json::parse(&rules_text)
            .map_err(|e| anyhow::anyhow!("demo rules {}: {e}", demo.rules.display()))?;
        manage::create_account(
            state,
            manage::NewAccount {
                id: demo.account.clone(),
                store_hashes: demo.store_hashes.clone(),
                profiles: demo.profiles.clone(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("demo account: {e}"))?;
        manage::put_rules(state, &demo.account, rules)
            .await
            .map_err(|e| anyhow::anyhow!("demo rules: {e}"))?;
    }
    manage::add_known_credential(state, &demo.account, &demo.username, &demo.password)
        .await
        .map_err(|e| anyhow::anyhow!("demo credential: {e}"))?;
    Ok(())
}
