//! The `levy` command line.

use crate::engine::{compute, CompiledRules};
use crate::error::LevyError;
use crate::quote::QuoteRequest;
use crate::rules::RulesDocument;
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "levy",
    version,
    about = "A tax provider for BigCommerce stores"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: the provider API BigCommerce calls (and the admin API).
    Serve {
        /// The configuration file [default: $LEVY_CONFIG or ./config.toml].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Compute a quote offline, as /estimate would, from a rules document and a request.
    Estimate {
        /// The rules document (`{"classes", "zones", "rates", "settings"}`).
        #[arg(long, value_name = "RULES.json")]
        rules: PathBuf,
        /// The QuoteRequest; `-` or nothing reads standard input.
        #[arg(value_name = "REQUEST.json", default_value = "-")]
        request: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("levy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::Estimate { rules, request } => {
            let out = estimate(&read(&rules)?, &read(&request)?)
                .map_err(|(what, e)| anyhow::anyhow!("{what}: {e}"))?;
            println!("{out}");
            Ok(())
        }
    }
}

fn serve(config: Option<&Path>) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LEVY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = crate::config::Config::load(config)?;
    actix_web::rt::System::new().block_on(async move {
        let app = crate::startup::Application::build(config).await?;
        println!("levy: public listener on http://{}", app.public_addr());
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

/// The offline estimate: rules and request bytes in, pretty JSON out. The error says
/// which input was wrong (`rules` or `request`) and where.
pub fn estimate(rules: &[u8], request: &[u8]) -> Result<String, (&'static str, LevyError)> {
    let doc: RulesDocument = crate::json::parse(rules).map_err(|e| ("rules", e))?;
    let rules = CompiledRules::new(doc).map_err(|e| ("rules", e))?;
    let request: QuoteRequest = crate::json::parse(request).map_err(|e| ("request", e))?;
    let computed = compute(&rules, &request).map_err(|e| ("request", e))?;
    Ok(serde_json::to_string_pretty(&computed.response).expect("responses serialize"))
}
