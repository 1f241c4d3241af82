//! PostgreSQL as the system of record: several Levy nodes on one database.
//!
//! The same [`Store`] interface as sled, so that one suite of storage tests runs against
//! both. Its calls are blocking: each runs its statements with a pooled connection whose
//! I/O lives on this store's own runtime, and waits. Durability is the database's: a call
//! returns after COMMIT, with `synchronous_commit = on` set on every connection, so no
//! group commit is needed. One quote's updates are serialized by the database: the
//! quote's row is locked (`SELECT ... FOR UPDATE`) for the whole decision, whichever node
//! runs it, and the version's primary key is a second guard against a gap or a double.

use super::backup::{Counts, Writer};
use super::{
    DirectoryDelta, QuoteChange, QuoteHead, QuoteKey, QuoteKind, QuoteRecord, QuoteState,
    QuoteStatus, QuoteVersion, Store, StoreError,
};
use crate::accounts::{Account, Credential};
use crate::error::LevyError;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use std::future::Future;
use tokio_postgres::Row;

/// Migrations, applied in order under an advisory lock, each recorded with a checksum.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("0001_init.sql")),
    (2, include_str!("0002_directory.sql")),
    (3, include_str!("0003_audit.sql")),
    (4, include_str!("0004_app.sql")),
    (5, include_str!("0005_directory_log.sql")),
];
/// How many directory changes `directory_log` keeps for nodes catching up.
const DIRECTORY_LOG_KEEP: i64 = 10_000;
/// The channel nodes are told on that accounts changed.
const DIRECTORY_CHANNEL: &str = "levy_directory";
/// The advisory lock key of migrations (any constant shared by every node).
const MIGRATION_LOCK: i64 = 0x6c65_7679_5f6d_6967; // "levy_mig"

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("postgres: {e}"))
}

pub struct PgStore {
    pool: Pool,
    /// The directory revision as last seen (see [`watch_directory`]).
    changes: tokio::sync::watch::Sender<i64>,
    /// Runs the connections' I/O; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl PgStore {
    /// Connects to `url` (TLS with rustls when it says `sslmode=require`), applies the
    /// migrations, and checks the connection.
    pub fn open(url: &str, pool_size: usize) -> Result<PgStore, StoreError> {
        // `sslrootcert=FILE` (libpq's name) adds a private CA to Mozilla's roots; the client
        // library does not know the parameter, so it is taken out here.
        let (url, root_cert) = split_root_cert(url);
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| backend(format!("the database URL does not parse: {e}")))?;
        // A 200 for commit, adjust or void is sent only after a durable COMMIT.
        config.options("-c synchronous_commit=on");
        let watch_config = config.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("levy-postgres")
            .enable_all()
            .build()
            .map_err(backend)?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // TLS (rustls, Mozilla's roots) when the URL asks for it.
        let tls = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Require => {
                let mut roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                if let Some(file) = &root_cert {
                    use rustls::pki_types::pem::PemObject;
                    let certs = rustls::pki_types::CertificateDer::pem_file_iter(file)
                        .map_err(|e| backend(format!("sslrootcert {file}: {e}")))?;
                    for cert in certs {
                        let cert = cert.map_err(|e| backend(format!("sslrootcert {file}: {e}")))?;
                        roots
                            .add(cert)
                            .map_err(|e| backend(format!("sslrootcert {file}: {e}")))?;
                    }
                }
                let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(backend)?
                .with_root_certificates(roots)
                .with_no_client_auth();
                Some(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
            }
            _ => None,
        };
        let manager = match &tls {
            Some(tls) => Manager::from_config(config, tls.clone(), manager_config),
            None => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        };
        let pool = {
            let _inside = runtime.enter();
            Pool::builder(manager)
                .max_size(pool_size)
                .build()
                .map_err(backend)?
        };
        let (changes, _) = tokio::sync::watch::channel(0);
        let store = PgStore {
            pool,
            changes,
            runtime: Some(runtime),
        };
        store.block(async {
            let mut c = store.client().await?;
            migrate(&mut c).await
        })?;
        if let Some(rt) = &store.runtime {
            rt.spawn(watch_directory(
                watch_config,
                tls,
                store.pool.clone(),
                store.changes.clone(),
            ));
        }
        Ok(store)
    }

    /// Runs `work` on this thread (blocking) with the store's runtime as the context
    /// for the connections' I/O.
    fn block<F: Future>(&self, work: F) -> F::Output {
        let _inside = self.runtime.as_ref().map(|rt| rt.enter());
        futures_executor::block_on(work)
    }

    /// A setting as this store's connections see it (`synchronous_commit`, for operators
    /// and tests: a 200 is durable only if it is `on`).
    pub fn setting(&self, name: &str) -> Result<String, StoreError> {
        self.block(async {
            let c = self.client().await?;
            let row = c
                .query_one("SELECT current_setting($1)", &[&name])
                .await
                .map_err(backend)?;
            Ok(row.get(0))
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(backend)
    }
}

/// The URL without its `sslrootcert` parameter, and that parameter's file.
fn split_root_cert(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut root = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| match p.strip_prefix("sslrootcert=") {
            Some(file) => {
                root = Some(
                    percent_encoding::percent_decode_str(file)
                        .decode_utf8_lossy()
                        .into_owned(),
                );
                false
            }
            None => true,
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, root)
}

/// All migrations in one transaction under an advisory lock: nodes starting at once take
/// turns, and each finds what the one before applied (even the `levy_schema` table, whose
/// concurrent `CREATE TABLE IF NOT EXISTS` would otherwise collide).
async fn migrate(client: &mut deadpool_postgres::Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(backend)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS levy_schema (version integer PRIMARY KEY, \
         checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(backend)?;
    for (version, sql) in MIGRATIONS {
        let checksum = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(sql.as_bytes()));
        let applied = tx
            .query_opt(
                "SELECT checksum FROM levy_schema WHERE version = $1",
                &[version],
            )
            .await
            .map_err(backend)?;
        match applied {
            Some(row) if row.get::<_, String>(0) == checksum => {}
            Some(_) => {
                return Err(StoreError::Corrupt(format!(
                    "migration {version} in the database differs from this Levy's"
                )))
            }
            None => {
                tx.batch_execute(sql).await.map_err(backend)?;
                tx.execute(
                    "INSERT INTO levy_schema (version, checksum) VALUES ($1, $2)",
                    &[version, &checksum],
                )
                .await
                .map_err(backend)?;
            }
        }
    }
    tx.commit().await.map_err(backend)
}

fn status_text(s: QuoteStatus) -> &'static str {
    match s {
        QuoteStatus::Committed => "committed",
        QuoteStatus::Voided => "voided",
    }
}

fn kind_text(k: QuoteKind) -> &'static str {
    match k {
        QuoteKind::Commit => "commit",
        QuoteKind::Adjust => "adjust",
        QuoteKind::Void => "void",
    }
}

fn parse_kind(s: &str) -> Result<QuoteKind, StoreError> {
    match s {
        "commit" => Ok(QuoteKind::Commit),
        "adjust" => Ok(QuoteKind::Adjust),
        "void" => Ok(QuoteKind::Void),
        other => Err(StoreError::Corrupt(format!("unknown version kind {other}"))),
    }
}

const HEAD_COLUMNS: &str =
    "account_id, quote_id, store_hash, status, external_key, version, priced";
const VERSION_COLUMNS: &str = "version, kind, request, response, adjust_description, at, audit";

fn head_of(row: &Row) -> Result<QuoteHead, StoreError> {
    Ok(QuoteHead {
        account: row.get(0),
        id: row.get(1),
        store_hash: row.get(2),
        status: match row.get::<_, &str>(3) {
            "committed" => QuoteStatus::Committed,
            "voided" => QuoteStatus::Voided,
            other => return Err(StoreError::Corrupt(format!("unknown status {other}"))),
        },
        external_key: row.get(4),
        version: row.get::<_, i32>(5) as u32,
        priced: row.get::<_, i32>(6) as u32,
    })
}

fn version_of(row: &Row) -> Result<QuoteVersion, StoreError> {
    version_of_at(row, 0)
}

/// Reads, decides and appends in one transaction (see [`Store::update_quote`]).
async fn update_quote<F>(
    pool: &Pool,
    key: &QuoteKey,
    change: &mut F,
) -> Result<QuoteState, StoreError>
where
    F: FnMut(Option<&QuoteState>) -> Result<QuoteChange, LevyError> + ?Sized,
{
    let mut c = pool.get().await.map_err(backend)?;
    let c = &mut c;
    loop {
        let tx = c.transaction().await.map_err(backend)?;
        let current = read_state(&tx, key, true).await?;
        let decided = change(current.as_ref())?;
        let QuoteChange::Append(head, version) = decided else {
            tx.commit().await.map_err(backend)?;
            return current.ok_or_else(|| StoreError::Backend("Keep on a missing quote".into()));
        };
        let expected = current.as_ref().map_or(1, |c| c.head.next_version());
        if version.version != expected || head.version != version.version {
            return Err(StoreError::Backend(format!(
                "version {} appended where {expected} was next",
                version.version
            )));
        }
        if current.is_none() {
            // A new quote: another node may create it first; then decide again.
            let insert = tx
                .prepare_cached(
                    "INSERT INTO quotes (account_id, quote_id, store_hash, status, \
                         external_key, version, priced) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(backend)?;
            let created = tx
                .execute(
                    &insert,
                    &[
                        &head.account,
                        &head.id,
                        &head.store_hash,
                        &status_text(head.status),
                        &head.external_key,
                        &(head.version as i32),
                        &(head.priced as i32),
                    ],
                )
                .await
                .map_err(backend)?;
            if created == 0 {
                tx.rollback().await.map_err(backend)?;
                continue;
            }
        } else {
            write_head(&tx, &head).await?;
        }
        write_version(&tx, &head, &version).await?;
        tx.commit().await.map_err(backend)?;
        let latest = if version.response.is_some() {
            Some(*version)
        } else {
            current.and_then(|c| c.latest)
        };
        return Ok(QuoteState { head, latest });
    }
}

async fn read_state(
    c: &impl GenericClient,
    key: &QuoteKey,
    lock: bool,
) -> Result<Option<QuoteState>, StoreError> {
    let sql = format!(
        "SELECT {HEAD_COLUMNS} FROM quotes WHERE account_id = $1 AND quote_id = $2 \
         AND store_hash = $3{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    // Prepared once per connection: a statement sent as text costs a round trip more.
    let statement = c.prepare_cached(&sql).await.map_err(backend)?;
    let Some(row) = c
        .query_opt(&statement, &[&key.account, &key.id, &key.store_hash])
        .await
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let head = head_of(&row)?;
    let latest = match head.priced {
        0 => None,
        n => {
            let statement = c
                .prepare_cached(&format!(
                    "SELECT {VERSION_COLUMNS} FROM quote_versions WHERE account_id = $1 \
                     AND quote_id = $2 AND store_hash = $3 AND version = $4"
                ))
                .await
                .map_err(backend)?;
            let row = c
                .query_one(
                    &statement,
                    &[&key.account, &key.id, &key.store_hash, &(n as i32)],
                )
                .await
                .map_err(backend)?;
            Some(version_of(&row)?)
        }
    };
    Ok(Some(QuoteState { head, latest }))
}

async fn read_record(c: &impl GenericClient, head: QuoteHead) -> Result<QuoteRecord, StoreError> {
    let rows = c
        .query(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM quote_versions WHERE account_id = $1 \
                 AND quote_id = $2 AND store_hash = $3 AND version <= $4 ORDER BY version"
            ),
            &[
                &head.account,
                &head.id,
                &head.store_hash,
                &(head.version as i32),
            ],
        )
        .await
        .map_err(backend)?;
    let versions = rows.iter().map(version_of).collect::<Result<_, _>>()?;
    Ok(QuoteRecord::from_parts(head, versions))
}

async fn write_version(
    c: &impl GenericClient,
    head: &QuoteHead,
    v: &QuoteVersion,
) -> Result<(), StoreError> {
    let request = v
        .request
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(backend)?;
    let response = v.response.as_ref().map(|r| r.get().to_string());
    let audit = v.audit.as_ref().map(|r| r.get().to_string());
    let statement = c
        .prepare_cached(
            "INSERT INTO quote_versions (account_id, quote_id, store_hash, version, kind, \
             request, response, adjust_description, at, audit) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10)",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &statement,
        &[
            &head.account,
            &head.id,
            &head.store_hash,
            &(v.version as i32),
            &kind_text(v.kind),
            &request,
            &response,
            &v.adjust_description,
            &v.at,
            &audit,
        ],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

async fn write_head(c: &impl GenericClient, head: &QuoteHead) -> Result<u64, StoreError> {
    let statement = c
        .prepare_cached(
            "INSERT INTO quotes (account_id, quote_id, store_hash, status, external_key, \
             version, priced) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, \
             quote_id, store_hash) DO UPDATE SET status = $4, external_key = $5, version = $6, \
             priced = $7",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &statement,
        &[
            &head.account,
            &head.id,
            &head.store_hash,
            &status_text(head.status),
            &head.external_key,
            &(head.version as i32),
            &(head.priced as i32),
        ],
    )
    .await
    .map_err(backend)
}

/// Every account (`ids`: None), or the accounts among `ids` that exist, in id order.
async fn read_accounts(
    c: &impl GenericClient,
    ids: Option<&[String]>,
) -> Result<Vec<Account>, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
    const ACCOUNTS: &str = "SELECT a.id, a.store_hashes, a.profiles, a.created_at, r.document, \
        a.app FROM accounts a LEFT JOIN rules r ON r.account_id = a.id";
    const CREDENTIALS: &str =
        "SELECT account_id, username, salt, hash, store_hash, created_at FROM credentials";
    use futures_util::TryStreamExt;
    // Rows are streamed, not collected: 50,000 accounts' documents never sit in memory at
    // once, and equal documents are parsed once (`RulesPool::document`).
    let stream = |sql: String| async move {
        match ids {
            None => c.query_raw(&sql, std::iter::empty::<&str>()).await,
            Some(ids) => c.query_raw(&sql, [&ids]).await,
        }
        .map_err(backend)
    };
    let filter = |column: &str| match ids {
        None => String::new(),
        Some(_) => format!(" WHERE {column} = ANY($1)"),
    };
    let rows = stream(format!("{ACCOUNTS}{}", filter("a.id"))).await?;
    futures_util::pin_mut!(rows);
    let pool = crate::accounts::RulesPool::global();
    let mut accounts = Vec::new();
    while let Some(row) = rows.try_next().await.map_err(backend)? {
        let document: Option<&str> = row.get(4);
        let app: Option<&str> = row.get(5);
        accounts.push(Account {
            id: row.get(0),
            store_hashes: row.get(1),
            profiles: row.get(2),
            created_at: row.get(3),
            credentials: Vec::new(),
            rules: match document {
                Some(d) => pool.document(d).map_err(|e| corrupt(&e))?,
                None => Default::default(),
            },
            app: match app {
                Some(a) => Some(serde_json::from_str(a).map_err(|e| corrupt(&e))?),
                None => None,
            },
        });
    }
    // Byte order, whatever the database's collation: the credentials are matched by
    // binary search, and callers pair ids in this order.
    accounts.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let creds = stream(format!(
        "{CREDENTIALS}{} ORDER BY account_id, position",
        filter("account_id")
    ))
    .await?;
    futures_util::pin_mut!(creds);
    while let Some(row) = creds.try_next().await.map_err(backend)? {
        let account: &str = row.get(0);
        if let Ok(i) = accounts.binary_search_by(|a| a.id.as_str().cmp(account)) {
            accounts[i].credentials.push(Credential {
                username: row.get(1),
                salt: row.get(2),
                hash: row.get(3),
                store_hash: row.get(4),
                created_at: row.get(5),
            });
        }
    }
    Ok(accounts)
}

async fn read_account(c: &impl GenericClient, id: &str) -> Result<Option<Account>, StoreError> {
    Ok(read_accounts(c, Some(&[id.to_string()])).await?.pop())
}

async fn read_revision(c: &impl GenericClient) -> Result<i64, StoreError> {
    let text: String = c
        .query_one(
            "SELECT value FROM levy_meta WHERE name = 'directory_revision'",
            &[],
        )
        .await
        .map_err(backend)?
        .get(0);
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("directory revision {text:?}: {e}")))
}

async fn write_account(c: &impl GenericClient, account: &Account) -> Result<(), StoreError> {
    let document = serde_json::to_string(&account.rules).map_err(backend)?;
    let app = match &account.app {
        Some(a) => Some(serde_json::to_string(a).map_err(backend)?),
        None => None,
    };
    c.execute(
        "INSERT INTO accounts (id, store_hashes, profiles, created_at, app) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET store_hashes = $2, profiles = $3, app = $5",
        &[
            &account.id,
            &account.store_hashes,
            &account.profiles,
            &account.created_at,
            &app,
        ],
    )
    .await
    .map_err(backend)?;
    c.execute(
        "INSERT INTO rules (account_id, document) VALUES ($1, $2) \
         ON CONFLICT (account_id) DO UPDATE SET document = $2",
        &[&account.id, &document],
    )
    .await
    .map_err(backend)?;
    c.execute(
        "DELETE FROM credentials WHERE account_id = $1",
        &[&account.id],
    )
    .await
    .map_err(backend)?;
    for (i, cr) in account.credentials.iter().enumerate() {
        c.execute(
            "INSERT INTO credentials (username, account_id, position, salt, hash, store_hash, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &cr.username,
                &account.id,
                &(i as i32),
                &cr.salt,
                &cr.hash,
                &cr.store_hash,
                &cr.created_at,
            ],
        )
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// Follows the directory revision: LISTEN on a connection of its own, and a re-check every
/// half second in case a notification is lost (a reconnect, a restart of the database).
async fn watch_directory(
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    pool: Pool,
    changes: tokio::sync::watch::Sender<i64>,
) {
    loop {
        let listener = async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let client = match &tls {
                Some(tls) => {
                    let (client, connection) = config.connect(tls.clone()).await.ok()?;
                    tokio::spawn(notifications(connection, tx));
                    client
                }
                None => {
                    let (client, connection) = config.connect(tokio_postgres::NoTls).await.ok()?;
                    tokio::spawn(notifications(connection, tx));
                    client
                }
            };
            client
                .batch_execute(&format!("LISTEN {DIRECTORY_CHANNEL}"))
                .await
                .ok()?;
            loop {
                let revision = pool
                    .get()
                    .await
                    .ok()?
                    .query_one(
                        "SELECT value FROM levy_meta WHERE name = 'directory_revision'",
                        &[],
                    )
                    .await
                    .ok()?
                    .get::<_, String>(0)
                    .parse::<i64>()
                    .ok()?;
                changes.send_if_modified(|seen| {
                    let newer = revision != *seen;
                    *seen = revision;
                    newer
                });
                let _ =
                    tokio::time::timeout(std::time::Duration::from_millis(500), rx.recv()).await;
                if client.is_closed() {
                    return None::<()>;
                }
            }
        };
        listener.await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// A read-only REPEATABLE READ transaction: one moment of the database, no writer waits.
async fn snapshot(
    c: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    c.build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(backend)
}

/// Drives the LISTEN connection and passes on each notification.
async fn notifications<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    tx: tokio::sync::mpsc::UnboundedSender<()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    let mut messages = futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
    while let Some(Ok(m)) = messages.next().await {
        if let tokio_postgres::AsyncMessage::Notification(_) = m {
            let _ = tx.send(());
        }
    }
}

impl Store for PgStore {
    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.block(async {
            let c = self.client().await?;
            read_accounts(&c, None).await
        })
    }

    fn put_account(&self, account: &Account) -> Result<(), StoreError> {
        let account = account.clone();
        self.modify_account(&account.id.clone(), &mut |_| Ok(Some(account.clone())))
            .map(|_| ())
    }

    fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        let mut existed = false;
        self.modify_account(id, &mut |current| {
            existed = current.is_some();
            Ok(None)
        })?;
        Ok(existed)
    }

    /// One transaction: the directory revision's row locked (every node's account changes
    /// wait for each other here), the account read, `change` applied, the result written,
    /// the revision bumped and `levy_directory` notified — all or nothing at COMMIT.
    fn modify_account(
        &self,
        id: &str,
        change: &mut dyn FnMut(Option<Account>) -> Result<Option<Account>, LevyError>,
    ) -> Result<Option<Account>, StoreError> {
        self.block(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(backend)?;
            tx.query_one(
                "SELECT value FROM levy_meta WHERE name = 'directory_revision' FOR UPDATE",
                &[],
            )
            .await
            .map_err(backend)?;
            let current = read_account(&tx, id).await?;
            let next = change(current)?;
            match &next {
                Some(account) => write_account(&tx, account).await?,
                None => {
                    tx.execute("DELETE FROM accounts WHERE id = $1", &[&id])
                        .await
                        .map_err(backend)?;
                }
            }
            let revision: String = tx
                .query_one(
                    "UPDATE levy_meta SET value = (value::bigint + 1)::text \
                     WHERE name = 'directory_revision' RETURNING value",
                    &[],
                )
                .await
                .map_err(backend)?
                .get(0);
            let number: i64 = revision.parse().map_err(backend)?;
            tx.execute(
                "INSERT INTO directory_log (revision, account_id) VALUES ($1, $2)",
                &[&number, &id],
            )
            .await
            .map_err(backend)?;
            tx.execute(
                "DELETE FROM directory_log WHERE revision <= $1",
                &[&(number - DIRECTORY_LOG_KEEP)],
            )
            .await
            .map_err(backend)?;
            tx.execute("SELECT pg_notify($1, $2)", &[&DIRECTORY_CHANNEL, &revision])
                .await
                .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(next)
        })
    }

    fn directory_changes(&self) -> Option<tokio::sync::watch::Receiver<i64>> {
        Some(self.changes.subscribe())
    }

    fn directory(&self) -> Result<(i64, Vec<Account>), StoreError> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = snapshot(&mut c).await?;
            let revision = read_revision(&tx).await?;
            let accounts = read_accounts(&tx, None).await?;
            tx.commit().await.map_err(backend)?;
            Ok((revision, accounts))
        })
    }

    /// One snapshot: the revision, the log since `revision` (contiguous, as revisions
    /// are taken under one lock), and the accounts it names as they stand.
    fn directory_since(&self, revision: i64) -> Result<DirectoryDelta, StoreError> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = snapshot(&mut c).await?;
            let now = read_revision(&tx).await?;
            let log = tx
                .query(
                    "SELECT revision, account_id FROM directory_log WHERE revision > $1 \
                     ORDER BY revision",
                    &[&revision],
                )
                .await
                .map_err(backend)?;
            let reaches = log
                .first()
                .map_or(now <= revision, |r| r.get::<_, i64>(0) == revision + 1);
            let delta = if reaches {
                let mut ids: Vec<String> = log.iter().map(|r| r.get(1)).collect();
                ids.sort_unstable();
                ids.dedup();
                let mut found = read_accounts(&tx, Some(&ids)).await?.into_iter().peekable();
                let accounts = ids
                    .into_iter()
                    .map(|id| {
                        let account = found.next_if(|a| a.id == id);
                        (id, account)
                    })
                    .collect();
                DirectoryDelta::Changed {
                    revision: now.max(revision),
                    accounts,
                }
            } else {
                DirectoryDelta::Reload {
                    revision: now,
                    accounts: read_accounts(&tx, None).await?,
                }
            };
            tx.commit().await.map_err(backend)?;
            Ok(delta)
        })
    }

    fn quote(&self, key: &QuoteKey) -> Result<Option<QuoteRecord>, StoreError> {
        let key = key.clone();
        self.block(async move {
            let mut c = self.client().await?;
            let c = &mut c;
            let tx = c.transaction().await.map_err(backend)?;
            let Some(state) = read_state(&tx, &key, false).await? else {
                return Ok(None);
            };
            let record = read_record(&tx, state.head).await?;
            tx.commit().await.map_err(backend)?;
            Ok(Some(record))
        })
    }

    fn quote_stores(&self, account: &str, id: &str) -> Result<Vec<String>, StoreError> {
        let (account, id) = (account.to_string(), id.to_string());
        self.block(async move {
            let mut c = self.client().await?;
            let c = &mut c;
            let rows = c
                .query(
                    "SELECT store_hash FROM quotes WHERE account_id = $1 AND quote_id = $2 \
                         ORDER BY store_hash",
                    &[&account, &id],
                )
                .await
                .map_err(backend)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn update_quote(
        &self,
        key: &QuoteKey,
        change: &mut dyn FnMut(Option<&QuoteState>) -> Result<QuoteChange, LevyError>,
    ) -> Result<QuoteState, StoreError> {
        self.block(update_quote(&self.pool, key, change))
    }

    fn spawn_update_quote(
        &self,
        key: QuoteKey,
        mut decide: super::Decide,
    ) -> Result<super::Updated, (QuoteKey, super::Decide)> {
        let Some(rt) = &self.runtime else {
            return Err((key, decide));
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let pool = self.pool.clone();
        rt.spawn(async move {
            let _ = tx.send(update_quote(&pool, &key, &mut *decide).await);
        });
        Ok(rx)
    }

    fn quotes(&self, account: &str) -> Result<Vec<QuoteRecord>, StoreError> {
        let account = account.to_string();
        self.block(async move {
            let mut c = self.client().await?;
            let c = &mut c;
            let tx = snapshot(c).await?;
            let rows = tx
                .query(
                    &format!(
                        "SELECT {HEAD_COLUMNS} FROM quotes WHERE account_id = $1 \
                             ORDER BY quote_id, store_hash"
                    ),
                    &[&account],
                )
                .await
                .map_err(backend)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(read_record(&tx, head_of(row)?).await?);
            }
            tx.commit().await.map_err(backend)?;
            Ok(out)
        })
    }

    fn scan_quotes(
        &self,
        account: &str,
        visit: &mut dyn FnMut(QuoteState) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let account = account.to_string();
        self.block(async move {
            let mut c = self.client().await?;
            let c = &mut c;
            let tx = snapshot(c).await?;
            // Heads with their latest priced version, a page at a time.
            let sql = "SELECT q.account_id, q.quote_id, q.store_hash, q.status, q.external_key, \
                     q.version, q.priced, v.version, v.kind, v.request, v.response, \
                     v.adjust_description, v.at, v.audit FROM quotes q LEFT JOIN quote_versions v ON \
                     v.account_id = q.account_id AND v.quote_id = q.quote_id AND v.store_hash = \
                     q.store_hash AND v.version = q.priced WHERE q.account_id = $1 \
                     ORDER BY q.quote_id, q.store_hash";
            let portal = tx.bind(sql, &[&account]).await.map_err(backend)?;
            loop {
                let rows = tx.query_portal(&portal, 500).await.map_err(backend)?;
                for row in &rows {
                    let head = head_of(row)?;
                    let latest = match row.get::<_, Option<i32>>(7) {
                        None => None,
                        Some(_) => Some(version_of_at(row, 7)?),
                    };
                    visit(QuoteState { head, latest })?;
                }
                if rows.len() < 500 {
                    break;
                }
            }
            tx.commit().await.map_err(backend)
        })
    }

    fn put_quote(&self, record: &QuoteRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.block(async move {
            let mut c = self.client().await?;
            let c = &mut c;
            let tx = c.transaction().await.map_err(backend)?;
            let head = record.head();
            write_head(&tx, &head).await?;
            tx.execute(
                "DELETE FROM quote_versions WHERE account_id = $1 AND quote_id = $2 AND \
                     store_hash = $3",
                &[&head.account, &head.id, &head.store_hash],
            )
            .await
            .map_err(backend)?;
            for v in &record.versions {
                write_version(&tx, &head, v).await?;
            }
            tx.commit().await.map_err(backend)
        })
    }

    fn marker(&self, name: &str) -> Result<bool, StoreError> {
        let key = format!("marker:{name}");
        self.block(async move {
            let mut c = self.client().await?;
            let c = &mut c;
            let row = c
                .query_opt("SELECT 1 FROM levy_meta WHERE name = $1", &[&key])
                .await
                .map_err(backend)?;
            Ok(row.is_some())
        })
    }

    fn set_marker(&self, name: &str) -> Result<(), StoreError> {
        let key = format!("marker:{name}");
        self.block(async move {
            let mut c = self.client().await?;
            let c = &mut c;
            c.execute(
                "INSERT INTO levy_meta (name, value) VALUES ($1, '1') ON CONFLICT DO NOTHING",
                &[&key],
            )
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    /// Every call returned after its COMMIT: nothing is left to make durable.
    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn durable_on_return(&self) -> bool {
        true
    }

    /// A REPEATABLE READ snapshot: one moment of the database, writers never wait.
    fn backup(&self, out: &mut dyn std::io::Write) -> Result<Counts, StoreError> {
        let mut writer = Writer::new(out)?;
        self.block(async move {
            let mut c = self.client().await?;
            let c = &mut c;
            let tx = snapshot(c).await?;
            for account in read_accounts(&tx, None).await? {
                writer.account(&account)?;
            }
            let portal = tx
                .bind(
                    &format!(
                        "SELECT {HEAD_COLUMNS} FROM quotes ORDER BY account_id, quote_id, \
                             store_hash"
                    ),
                    &[],
                )
                .await
                .map_err(backend)?;
            loop {
                let rows = tx.query_portal(&portal, 200).await.map_err(backend)?;
                for row in &rows {
                    writer.quote(&read_record(&tx, head_of(row)?).await?)?;
                }
                if rows.len() < 200 {
                    break;
                }
            }
            tx.commit().await.map_err(backend)?;
            writer.finish()
        })
    }
}

/// A version read from `row`'s columns starting at `at`.
fn version_of_at(row: &Row, at: usize) -> Result<QuoteVersion, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
    let request: Option<String> = row.get(at + 2);
    let response: Option<String> = row.get(at + 3);
    let audit: Option<String> = row.get(at + 6);
    let raw =
        |text: String| serde_json::value::RawValue::from_string(text).map_err(|e| corrupt(&e));
    Ok(QuoteVersion {
        version: row.get::<_, i32>(at) as u32,
        kind: parse_kind(row.get(at + 1))?,
        request: request
            .map(|r| serde_json::from_str(&r).map_err(|e| corrupt(&e)))
            .transpose()?,
        response: response.map(raw).transpose()?,
        audit: audit.map(raw).transpose()?,
        adjust_description: row.get(at + 4),
        at: row.get(at + 5),
    })
}
