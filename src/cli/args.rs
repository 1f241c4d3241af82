//! The command line's grammar: every sub-command, argument and help text, with examples.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "levy",
    version,
    about = "A tax provider for BigCommerce stores",
    after_help = "Examples:
  levy serve                                   # the service, with ./config.toml
  levy estimate --rules demo/rules.json quotes/estimate.json
  levy accounts list                           # needs a running `levy serve`
  levy --admin-url http://10.0.0.5:8081 accounts list"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub admin: Admin,
}

/// Where the admin API is and how to authenticate. Global: before or after a sub-command.
#[derive(Debug, clap::Args)]
pub struct Admin {
    /// The admin API's base URL.
    #[arg(
        long,
        env = "LEVY_ADMIN_URL",
        default_value = "http://127.0.0.1:8081",
        global = true
    )]
    pub admin_url: String,
    /// The admin bearer token.
    #[arg(
        long = "admin-token",
        env = "LEVY_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,
    /// A file holding the admin token [default: $LEVY_DATA_DIR/admin-token or data/admin-token].
    #[arg(
        long = "admin-token-file",
        env = "LEVY_ADMIN_TOKEN_FILE",
        value_name = "FILE",
        global = true
    )]
    pub admin_token_file: Option<PathBuf>,
}

/// Which BigCommerce store, and how to call its API.
#[derive(Debug, clap::Args)]
pub struct Store {
    /// The store's hash (as in https://api.bigcommerce.com/stores/HASH/v3).
    #[arg(long)]
    pub store_hash: String,
    /// An API account token of the store (X-Auth-Token).
    #[arg(long, env = "LEVY_BC_TOKEN", hide_env_values = true)]
    pub token: String,
    /// BigCommerce's API base URL.
    #[arg(long, env = "LEVY_BC_API_BASE", default_value = crate::connect::DEFAULT_API_BASE)]
    pub api_base: String,
    /// Seconds to wait for each BigCommerce call.
    #[arg(long, default_value_t = 20)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionCmd {
    /// What BigCommerce holds for this provider, and whether Levy accepts that username.
    #[command(after_help = "Example:
  levy connection status acme --store-hash abc123 --token $BC_TOKEN --provider-id levy")]
    Status {
        /// The Levy account connected to the store.
        account: String,
        #[command(flatten)]
        store: Store,
        /// The tax provider id BigCommerce gave Levy.
        #[arg(long)]
        provider_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountsCmd {
    /// List accounts, a page at a time (by id, like BigCommerce's `page` and `limit`).
    #[command(
        after_help = "Examples:\n  levy accounts list\n  levy accounts list --page 3 --limit 250"
    )]
    List {
        /// The page, from 1.
        #[arg(long, default_value_t = 1)]
        page: u64,
        /// Accounts per page, at most 250.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Create an account (an id slug, its store hashes and profiles).
    #[command(
        after_help = "Example:\n  levy accounts create acme --store-hash abc123 --profile acme"
    )]
    Create {
        /// The new account's id: letters, digits, `-` and `_`.
        id: String,
        /// A store hash allowed to call as this account (repeatable); none allows any.
        #[arg(long = "store-hash")]
        store_hashes: Vec<String>,
        /// A profile: a host name or a label under a base domain (repeatable).
        #[arg(long = "profile")]
        profiles: Vec<String>,
    },
    /// Show one account.
    #[command(after_help = "Example:\n  levy accounts show demo")]
    Show {
        /// The account's id.
        id: String,
    },
    /// Replace an account's store hashes and/or profiles.
    #[command(
        after_help = "Example:\n  levy accounts update acme --store-hash abc123 --store-hash def456"
    )]
    Update {
        /// The account's id.
        id: String,
        /// The store hashes, replacing the current ones (repeatable).
        #[arg(long = "store-hash")]
        store_hashes: Option<Vec<String>>,
        /// The profiles, replacing the current ones (repeatable).
        #[arg(long = "profile")]
        profiles: Option<Vec<String>>,
    },
    /// Delete an account with its rules, credentials and quotes.
    #[command(after_help = "Example:\n  levy accounts delete acme")]
    Delete {
        /// The account's id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCmd {
    /// Create a credential; the password is shown this once.
    #[command(after_help = "Example:\n  levy credentials create demo")]
    Create {
        /// The account the credential lets BigCommerce call as.
        account: String,
    },
    /// List an account's credentials (usernames and dates, never passwords).
    #[command(after_help = "Example:\n  levy credentials list demo")]
    List {
        /// The account's id.
        account: String,
    },
    /// Revoke one credential.
    #[command(after_help = "Example:\n  levy credentials revoke demo demo")]
    Revoke {
        /// The account's id.
        account: String,
        /// The credential's username (see `levy credentials list`).
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCmd {
    /// Print an account's rules document (export).
    #[command(after_help = "Examples:
  levy rules export demo
  levy rules export demo -o demo-rules.json")]
    Export {
        /// The account's id.
        account: String,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Replace an account's rules with a rules document (import), atomically.
    #[command(after_help = "Examples:
  levy rules import demo demo/rules.json
  levy rules import demo empty.json --allow-empty")]
    Import {
        /// The account's id.
        account: String,
        /// The rules document; `-` reads standard input.
        file: PathBuf,
        /// Accept a document with no zones and no rates, removing the account's.
        #[arg(long)]
        allow_empty: bool,
    },
    /// Import US ZIP-code rate tables (one CSV per state, or all states in one), as one
    /// rules change: one zone per ZIP with its state, county, city and special rates.
    #[command(after_help = "Examples:
  levy rules import-zip-rates acme TAXRATES_ZIP5_CA202401.csv TAXRATES_ZIP5_NY202401.csv
  levy rules import-zip-rates acme rates.csv --effective-from 2024-02-01 --dry-run")]
    ImportZipRates {
        /// The account that receives the rates.
        account: String,
        /// The tables (CSV with a header row naming State, ZipCode, TaxRegionName, StateRate, ...).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The day the rates take effect; by default the first day of the YYYYMM in the
        /// first file's name.
        #[arg(long, value_name = "YYYY-MM-DD")]
        effective_from: Option<String>,
        /// Print what would change, per state, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import a WooCommerce tax rate CSV, replacing what an earlier one imported.
    #[command(after_help = "Example:
  levy rules import-woocommerce acme tax_rates.csv")]
    ImportWoocommerce {
        /// The account that receives the rates.
        account: String,
        /// The CSV WooCommerce exports (Country code, State code, Postcode / ZIP, City, Rate %, ...).
        file: PathBuf,
    },
    /// Write an account's rules as a WooCommerce tax rate CSV.
    #[command(after_help = "Examples:
  levy rules export-woocommerce acme
  levy rules export-woocommerce acme -o tax_rates.csv")]
    ExportWoocommerce {
        /// The account's id.
        account: String,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Read a store's tax classes, zones and rates from BigCommerce and install them.
    #[command(after_help = "Example:
  levy rules pull acme --store-hash abc123 --token $BC_TOKEN")]
    Pull {
        /// The account that receives the rules.
        account: String,
        #[command(flatten)]
        store: Store,
    },
    /// Install a store's BigCommerce manual-tax setup from its v3 API responses.
    #[command(after_help = "Example:
  levy rules import-bigcommerce demo --zones demo/bigcommerce/zones.json \\
      --rates demo/bigcommerce/rates.json --classes demo/bigcommerce/classes.json")]
    ImportBigcommerce {
        /// The account that receives the rules.
        account: String,
        /// The JSON of GET /v3/tax/zones.
        #[arg(long)]
        zones: PathBuf,
        /// The JSON of GET /v3/tax/rates.
        #[arg(long)]
        rates: PathBuf,
        /// The JSON of the store's tax classes; without it, classes named by rates are created.
        #[arg(long)]
        classes: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuoteCmd {
    /// Show a committed quote with every version.
    #[command(after_help = "Examples:
  levy quote show demo 113
  levy quote show acme 113 --store-hash abc123")]
    Show {
        /// The account's id.
        account: String,
        /// The quote's id: the order id BigCommerce committed.
        quote_id: String,
        /// The store the quote belongs to; needed when several of the account's stores
        /// have a quote with this id.
        #[arg(long)]
        store_hash: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// Committed, non-voided tax by rate (or jurisdiction) and currency over a
    /// transaction-date range.
    #[command(after_help = "Examples:
  levy report liability demo --from 2019-01-01 --to 2019-12-31 --format csv
  levy report liability demo --from 2019-01-01 --to 2019-12-31 --group-by jurisdiction")]
    Liability {
        /// The account's id.
        account: String,
        /// First day (YYYY-MM-DD), inclusive.
        #[arg(long)]
        from: String,
        /// Last day (YYYY-MM-DD), inclusive.
        #[arg(long)]
        to: String,
        /// json or csv.
        #[arg(long, default_value = "json")]
        format: String,
        /// rate, or jurisdiction (from the audit kept with each committed quote).
        #[arg(long, default_value = "rate", value_parser = ["rate", "jurisdiction"])]
        group_by: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: the provider API BigCommerce calls (and the admin API).
    #[command(after_help = "Examples:
  levy serve
  levy serve --config /etc/levy/config.toml")]
    Serve {
        /// The configuration file [default: $LEVY_CONFIG or ./config.toml].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Compute a quote offline, as /estimate would, from a rules document and a request.
    #[command(after_help = "Examples:
  levy estimate --rules demo/rules.json quotes/estimate.json
  levy estimate --rules demo/rules.json < quotes/estimate.json")]
    Estimate {
        /// The rules document (`{\"classes\", \"zones\", \"rates\", \"settings\"}`).
        #[arg(long, value_name = "RULES.json")]
        rules: PathBuf,
        /// The QuoteRequest; `-` or nothing reads standard input.
        #[arg(value_name = "REQUEST.json", default_value = "-")]
        request: PathBuf,
        /// Print how each line was taxed instead of the response: the zone and why,
        /// each rate with its base and tax, or why it charged nothing.
        #[arg(long)]
        explain: bool,
    },
    /// Manage accounts (a client of the admin API).
    #[command(after_help = "Example:\n  levy accounts create acme --store-hash abc123")]
    Accounts {
        #[command(subcommand)]
        command: AccountsCmd,
    },
    /// Manage an account's credentials (a client of the admin API).
    #[command(after_help = "Example:\n  levy credentials create demo")]
    Credentials {
        #[command(subcommand)]
        command: CredentialsCmd,
    },
    /// Export, import and migrate rules (a client of the admin API).
    #[command(after_help = "Example:\n  levy rules export demo -o demo-rules.json")]
    Rules {
        #[command(subcommand)]
        command: RulesCmd,
    },
    /// Register (or rotate) the account's credentials with a BigCommerce store.
    #[command(after_help = "Example:
  levy connect acme --store-hash abc123 --token $BC_TOKEN --provider-id levy --profile acme")]
    Connect {
        /// The Levy account whose credential BigCommerce will use.
        account: String,
        #[command(flatten)]
        store: Store,
        /// The tax provider id BigCommerce gave Levy.
        #[arg(long)]
        provider_id: String,
        /// The profile BigCommerce puts in the provider URL (`https://PROFILE.<base domain>/estimate`).
        #[arg(long)]
        profile: Option<String>,
    },
    /// The connection of a store, as BigCommerce reports it.
    Connection {
        #[command(subcommand)]
        command: ConnectionCmd,
    },
    /// Remove a store's connection at BigCommerce, then revoke its credentials.
    #[command(after_help = "Example:
  levy disconnect acme --store-hash abc123 --token $BC_TOKEN --provider-id levy")]
    Disconnect {
        /// The Levy account connected to the store.
        account: String,
        #[command(flatten)]
        store: Store,
        /// The tax provider id BigCommerce gave Levy.
        #[arg(long)]
        provider_id: String,
    },
    /// Take a consistent backup of a running server's store into PATH.
    #[command(after_help = "Example:\n  levy backup levy-backup.bin")]
    Backup {
        /// The file to write (created or replaced once the backup is complete).
        path: PathBuf,
    },
    /// Restore a backup into a new, empty data directory (the server must not run on it).
    #[command(after_help = "Example:\n  levy restore levy-backup.bin --data-dir restored-data")]
    Restore {
        /// The backup file (`levy backup` wrote it).
        path: PathBuf,
        /// The data directory to create [default: LEVY_DATA_DIR or the config's data_dir].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The configuration file [default: $LEVY_CONFIG or ./config.toml].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Committed quotes (a client of the admin API).
    #[command(after_help = "Example:\n  levy quote show demo 113")]
    Quote {
        #[command(subcommand)]
        command: QuoteCmd,
    },
    /// Reports (a client of the admin API).
    #[command(
        after_help = "Example:\n  levy report liability demo --from 2019-01-01 --to 2019-12-31"
    )]
    Report {
        #[command(subcommand)]
        command: ReportCmd,
    },
}
