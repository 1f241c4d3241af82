//! The `levy` command line.

use crate::client::{AdminClient, Body};
use crate::engine::{compute, compute_audited, CompiledRules};
use crate::error::LevyError;
use crate::quote::QuoteRequest;
use crate::rules::RulesDocument;
pub mod args;

pub use args::*;
use clap::Parser;
use reqwest::Method;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        quiet_on_closed_pipe();
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("levy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `levy quote show ... | head`: a reader that stops early ends the command quietly, as
/// it ends `cat`, instead of a panic in `println!`. Not for `serve`, whose sockets
/// must report a closed peer as an error rather than end the process.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let admin = &cli.admin;
    match cli.command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::Estimate {
            rules,
            request,
            explain,
        } => {
            let out = estimate(&read(&rules)?, &read(&request)?, explain)
                .map_err(|(what, e)| anyhow::anyhow!("{what}: {e}"))?;
            println!("{out}");
            Ok(())
        }
        Command::Accounts { command } => admin_command(admin, |c| accounts(c, command)),
        Command::Credentials { command } => admin_command(admin, |c| credentials(c, command)),
        Command::Rules { command } => admin_command(admin, |c| rules(c, command)),
        Command::Backup { path } => admin_command(admin, |c| {
            let bytes = c.download("/admin/backup", &path)?;
            Ok(Body::Text(format!(
                "wrote {} ({bytes} bytes)\n",
                path.display()
            )))
        }),
        Command::Restore {
            path,
            data_dir,
            config,
        } => restore(&path, data_dir, config.as_deref()),
        Command::Connect {
            account,
            store,
            provider_id,
            profile,
        } => admin_command(admin, |c| {
            let bc = bigcommerce(&store)?;
            let done = crate::connect::connect(c, &bc, &account, &provider_id, profile.as_deref())?;
            Ok(Body::Json(serde_json::to_value(done)?))
        }),
        Command::Connection {
            command:
                ConnectionCmd::Status {
                    account,
                    store,
                    provider_id,
                },
        } => admin_command(admin, |c| {
            Ok(Body::Json(crate::connect::status(
                c,
                &bigcommerce(&store)?,
                &account,
                &provider_id,
            )?))
        }),
        Command::Disconnect {
            account,
            store,
            provider_id,
        } => admin_command(admin, |c| {
            Ok(Body::Json(crate::connect::disconnect(
                c,
                &bigcommerce(&store)?,
                &account,
                &provider_id,
            )?))
        }),
        Command::Quote {
            command:
                QuoteCmd::Show {
                    account,
                    quote_id,
                    store_hash,
                },
        } => admin_command(admin, |c| {
            let store = store_hash.map_or(String::new(), |h| format!("?store_hash={}", seg(&h)));
            c.call(
                Method::GET,
                &format!(
                    "/admin/accounts/{}/quotes/{}{store}",
                    seg(&account),
                    seg(&quote_id)
                ),
                None,
            )
        }),
        Command::Report {
            command:
                ReportCmd::Liability {
                    account,
                    from,
                    to,
                    format,
                    group_by,
                },
        } => admin_command(admin, |c| {
            c.call(
                Method::GET,
                &format!(
                    "/admin/accounts/{}/reports/liability?from={}&to={}&format={}&group_by={}",
                    seg(&account),
                    seg(&from),
                    seg(&to),
                    seg(&format),
                    seg(&group_by)
                ),
                None,
            )
        }),
    }
}

/// One path segment, percent-encoded (RFC 3986 unreserved characters stay as they are).
fn seg(s: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

fn admin_command(
    admin: &Admin,
    f: impl FnOnce(&AdminClient) -> anyhow::Result<Body>,
) -> anyhow::Result<()> {
    let client = AdminClient::new(
        Some(admin.admin_url.clone()),
        admin.admin_token.clone(),
        admin.admin_token_file.clone(),
    )?;
    match f(&client)? {
        Body::Json(v) => println!("{}", serde_json::to_string_pretty(&v)?),
        Body::Text(t) => print!("{t}"),
        Body::Empty => println!("done"),
    }
    Ok(())
}

fn accounts(c: &AdminClient, command: AccountsCmd) -> anyhow::Result<Body> {
    match command {
        AccountsCmd::List { page, limit } => c.call(
            Method::GET,
            &format!("/admin/accounts?page={page}&limit={limit}"),
            None,
        ),
        AccountsCmd::Create {
            id,
            store_hashes,
            profiles,
        } => c.call(
            Method::POST,
            "/admin/accounts",
            Some(
                &serde_json::json!({"id": id, "store_hashes": store_hashes, "profiles": profiles}),
            ),
        ),
        AccountsCmd::Show { id } => {
            c.call(Method::GET, &format!("/admin/accounts/{}", seg(&id)), None)
        }
        AccountsCmd::Update {
            id,
            store_hashes,
            profiles,
        } => {
            let mut patch = serde_json::Map::new();
            if let Some(h) = store_hashes {
                patch.insert("store_hashes".into(), serde_json::json!(h));
            }
            if let Some(p) = profiles {
                patch.insert("profiles".into(), serde_json::json!(p));
            }
            c.call(
                Method::PATCH,
                &format!("/admin/accounts/{}", seg(&id)),
                Some(&serde_json::Value::Object(patch)),
            )
        }
        AccountsCmd::Delete { id } => c.call(
            Method::DELETE,
            &format!("/admin/accounts/{}", seg(&id)),
            None,
        ),
    }
}

fn credentials(c: &AdminClient, command: CredentialsCmd) -> anyhow::Result<Body> {
    match command {
        CredentialsCmd::Create { account } => c.call(
            Method::POST,
            &format!("/admin/accounts/{}/credentials", seg(&account)),
            None,
        ),
        CredentialsCmd::List { account } => c.call(
            Method::GET,
            &format!("/admin/accounts/{}/credentials", seg(&account)),
            None,
        ),
        CredentialsCmd::Revoke { account, username } => c.call(
            Method::DELETE,
            &format!(
                "/admin/accounts/{}/credentials/{}",
                seg(&account),
                seg(&username)
            ),
            None,
        ),
    }
}

fn restore(path: &Path, data_dir: Option<PathBuf>, config: Option<&Path>) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut config = crate::config::Config::load(config)?;
    if let Some(d) = data_dir {
        config.data_dir = d;
        config.store.path = None;
    }
    let dir = config.store_path().to_path_buf();
    let postgres = config.store.kind == crate::config::StoreKind::Postgres;
    if !postgres && dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        anyhow::bail!(
            "{} is not empty: restore only into a new data directory",
            dir.display()
        );
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let store = crate::store::open(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    if postgres
        && !store
            .accounts()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .is_empty()
    {
        anyhow::bail!("the database already holds accounts: restore only into a new database");
    }
    let counts = crate::store::backup::restore(file, store.as_ref())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let target = if postgres {
        "the database".to_string()
    } else {
        dir.display().to_string()
    };
    println!(
        "restored {} accounts and {} quotes into {target}",
        counts.accounts, counts.quotes,
    );
    Ok(())
}

fn bigcommerce(store: &Store) -> anyhow::Result<crate::connect::BigCommerce> {
    crate::connect::BigCommerce::new(
        &store.api_base,
        &store.store_hash,
        &store.token,
        store.timeout,
    )
}

/// Sends the tables as one body (each file's lines in turn) and prints the summary; an
/// error's line in that body is told as the file and line it came from.
fn import_zip_rates(
    c: &AdminClient,
    account: &str,
    files: &[PathBuf],
    effective_from: Option<String>,
    dry_run: bool,
) -> anyhow::Result<Body> {
    use crate::rules::import::zip_rates::{date_in_file_name, ZipImportSummary};
    use anyhow::Context;
    let from = match effective_from {
        Some(day) => day,
        None => files
            .first()
            .and_then(|f| f.file_name())
            .and_then(|n| date_in_file_name(&n.to_string_lossy()))
            .map(|d| d.to_string())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no YYYYMM in the file name {}: pass --effective-from YYYY-MM-DD",
                    files[0].display()
                )
            })?,
    };
    // Where each file starts in the body, in lines; files are joined by a line end.
    let mut starts = Vec::new();
    let mut input: Box<dyn Read + Send> = Box::new(std::io::empty());
    let mut lines = 0u64;
    for file in files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        starts.push((lines, file.clone()));
        lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        let ends_with_newline = bytes.last() == Some(&b'\n');
        input = Box::new(input.chain(std::io::Cursor::new(bytes)));
        if !ends_with_newline {
            lines += 1;
            input = Box::new(input.chain(std::io::Cursor::new(b"\n".to_vec())));
        }
    }
    let path = format!(
        "/admin/accounts/{}/rules/zip-rates?effective_from={}&dry_run={dry_run}",
        seg(account),
        seg(&from)
    );
    let answer = c.upload(&path, "text/csv", input).map_err(|e| {
        let text = e.to_string();
        let line = text
            .rsplit_once("(at line ")
            .and_then(|(_, rest)| rest.trim_end_matches(')').parse::<u64>().ok());
        match line.and_then(|n| {
            starts
                .iter()
                .rev()
                .find(|(s, _)| *s < n)
                .map(|(s, f)| (n - s, f))
        }) {
            Some((n, file)) => anyhow::anyhow!("{}, line {n}: {text}", file.display()),
            None => e,
        }
    })?;
    match answer {
        Body::Json(v) => {
            let summary: ZipImportSummary = serde_json::from_value(v["data"].clone())?;
            Ok(Body::Text(summary.to_text(dry_run)))
        }
        other => Ok(other),
    }
}

fn rules(c: &AdminClient, command: RulesCmd) -> anyhow::Result<Body> {
    match command {
        RulesCmd::Pull { account, store } => {
            let doc = crate::connect::pull(c, &bigcommerce(&store)?, &account)?;
            Ok(Body::Text(format!(
                "{account}: installed {} from store {}\n",
                rules_summary(&doc),
                store.store_hash
            )))
        }
        RulesCmd::ImportZipRates {
            account,
            files,
            effective_from,
            dry_run,
        } => import_zip_rates(c, &account, &files, effective_from, dry_run),
        RulesCmd::ImportWoocommerce { account, file } => {
            use anyhow::Context;
            let input = std::fs::File::open(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let path = format!("/admin/accounts/{}/rules/woocommerce", seg(&account));
            match c
                .upload(&path, "text/csv", input)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
            {
                Body::Json(v) => Ok(Body::Text(format!(
                    "{account}: imported {} zones and {} rates from {}{}\n",
                    v["data"]["zones"],
                    v["data"]["rates"],
                    file.display(),
                    match v["data"]["classes_added"].as_array() {
                        Some(c) if !c.is_empty() => format!(
                            "; new classes: {}",
                            c.iter()
                                .filter_map(|x| x.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        _ => String::new(),
                    }
                ))),
                other => Ok(other),
            }
        }
        RulesCmd::ExportWoocommerce { account, output } => {
            let body = c.call(
                Method::GET,
                &format!("/admin/accounts/{}/rules/woocommerce", seg(&account)),
                None,
            )?;
            match (output, body) {
                (Some(path), Body::Text(csv)) => {
                    std::fs::write(&path, csv)
                        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
                    Ok(Body::Text(format!("wrote {}\n", path.display())))
                }
                (_, body) => Ok(body),
            }
        }
        RulesCmd::Export { account, output } => {
            let body = c.call(
                Method::GET,
                &format!("/admin/accounts/{}/rules", seg(&account)),
                None,
            )?;
            match (output, body) {
                (Some(path), Body::Json(v)) => {
                    std::fs::write(&path, serde_json::to_string_pretty(&v)? + "\n")
                        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
                    Ok(Body::Text(format!("wrote {}\n", path.display())))
                }
                (_, body) => Ok(body),
            }
        }
        RulesCmd::Import {
            account,
            file,
            allow_empty,
        } => {
            let doc: RulesDocument = crate::json::parse(&read(&file)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let doc = doc
                .validate()
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            install(c, &account, &doc.into_document(), allow_empty)
        }
        RulesCmd::ImportBigcommerce {
            account,
            zones,
            rates,
            classes,
        } => {
            let zones = crate::rules::import::bigcommerce::items(
                &zones.display().to_string(),
                &read(&zones)?,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let rates = crate::rules::import::bigcommerce::items(
                &rates.display().to_string(),
                &read(&rates)?,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let classes = match classes {
                Some(f) => Some(
                    crate::rules::import::bigcommerce::items(&f.display().to_string(), &read(&f)?)
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                ),
                None => None,
            };
            // Keep the account's own settings (rounding, exemptions...).
            let current = c.call(
                Method::GET,
                &format!("/admin/accounts/{}/rules", seg(&account)),
                None,
            )?;
            let settings = match current {
                Body::Json(v) => serde_json::from_value(v["settings"].clone()).unwrap_or_default(),
                _ => Default::default(),
            };
            let doc = crate::rules::import::bigcommerce::rules(zones, rates, classes, settings)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            install(c, &account, &doc, false)
        }
    }
}

/// Replaces an account's rules and says so in one line: what was installed, what it replaced.
fn install(
    c: &AdminClient,
    account: &str,
    doc: &RulesDocument,
    allow_empty: bool,
) -> anyhow::Result<Body> {
    let path = format!("/admin/accounts/{}/rules", seg(account));
    let before = match c.call(Method::GET, &path, None)? {
        Body::Json(v) => serde_json::from_value::<RulesDocument>(v).ok(),
        _ => None,
    };
    let query = if allow_empty { "?allow_empty=true" } else { "" };
    c.call(
        Method::PUT,
        &format!("{path}{query}"),
        Some(&serde_json::to_value(doc)?),
    )?;
    Ok(Body::Text(format!(
        "{account}: installed {}{}\n",
        rules_summary(doc),
        before.map_or(String::new(), |b| format!(
            " (replacing {})",
            rules_summary(&b)
        ))
    )))
}

/// `2 classes, 3 zones, 4 rates`.
pub fn rules_summary(doc: &RulesDocument) -> String {
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{}, {}, {}",
        count(doc.classes.len(), "class", "classes"),
        count(doc.zones.len(), "zone", "zones"),
        count(doc.rates.len(), "rate", "rates")
    )
}

fn serve(config: Option<&Path>) -> anyhow::Result<()> {
    let config = crate::config::Config::load(config)?;
    let _flush_logs_at_exit = crate::logging::init(config.log_format);
    actix_web::rt::System::new().block_on(async move {
        let app = crate::startup::Application::build(config).await?;
        println!("levy: public listener on http://{}", app.public_addr());
        println!("levy: admin listener on http://{}", app.admin_addr());
        use std::io::Write;
        std::io::stdout().flush().ok();
        app.run_until_stopped().await
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
    } else {
        buf = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(buf)
}

/// The offline estimate: rules and request bytes in, pretty JSON out, or with `explain`
/// how each line was taxed (SPEC 10.8). The error says which input was wrong (`rules`
/// or `request`) and where.
pub fn estimate(
    rules: &[u8],
    request: &[u8],
    explain: bool,
) -> Result<String, (&'static str, LevyError)> {
    let doc: RulesDocument = crate::json::parse(rules).map_err(|e| ("rules", e))?;
    let rules = CompiledRules::new(doc).map_err(|e| ("rules", e))?;
    let request: QuoteRequest = crate::json::parse(request).map_err(|e| ("request", e))?;
    if explain {
        let computed = compute_audited(&rules, &request).map_err(|e| ("request", e))?;
        let audit = computed
            .audit
            .expect("an audited computation has its audit");
        return Ok(crate::audit::explain(&audit).trim_end().to_string());
    }
    let computed = compute(&rules, &request).map_err(|e| ("request", e))?;
    Ok(serde_json::to_string_pretty(&computed.response).expect("responses serialize"))
}
