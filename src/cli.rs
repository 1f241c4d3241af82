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
#[command(name = "levy", version, about = "A tax provider for BigCommerce stores")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
        Command::Estimate { rules, request } => {
            let out = estimate(&read(&rules)?, &read(&request)?).map_err(|(what, e)| anyhow::anyhow!("{what}: {e}"))?;
            println!("{out}");
            Ok(())
        }
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
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
