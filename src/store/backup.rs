//! The backup format: zstd-compressed JSON lines, a header, one line per account and per
//! quote, and a trailer with the counts, so that a truncated copy is detected on restore.
//!
//! ```text
//! {"levy_backup":1,"created_at":"..."}
//! {"account":{...}}
//! {"quote":{...}}
//! {"end":{"accounts":N,"quotes":M}}
//! ```

use super::{QuoteRecord, Store, StoreError};
use crate::accounts::Account;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub accounts: usize,
    pub quotes: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Account(Box<Account>),
    Quote(Box<QuoteRecord>),
    End(Counts),
}

/// A line as written: borrowed, and serialized straight from the records, so a stored
/// response keeps its exact bytes (through a `serde_json::Value` it would lose its key order
/// and spacing, and a retry after a restore would answer different bytes).
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum LineOut<'a> {
    Account(&'a Account),
    Quote(&'a QuoteRecord),
    End(Counts),
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("backup: {e}"))
}

/// Writes a backup stream.
pub struct Writer<'a> {
    out: zstd::stream::write::Encoder<'static, &'a mut dyn Write>,
    counts: Counts,
}

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut dyn Write) -> Result<Writer<'a>, StoreError> {
        let mut w = Writer {
            out: zstd::stream::write::Encoder::new(out, 3).map_err(io)?,
            counts: Counts::default(),
        };
        w.line(&serde_json::json!({"levy_backup": 1, "created_at": chrono::Utc::now()}))?;
        Ok(w)
    }

    fn line(&mut self, v: &impl Serialize) -> Result<(), StoreError> {
        serde_json::to_writer(&mut self.out, v).map_err(io)?;
        self.out.write_all(b"\n").map_err(io)
    }

    pub fn account(&mut self, a: &Account) -> Result<(), StoreError> {
        self.counts.accounts += 1;
        self.line(&LineOut::Account(a))
    }

    pub fn quote(&mut self, q: &QuoteRecord) -> Result<(), StoreError> {
        self.counts.quotes += 1;
        self.line(&LineOut::Quote(q))
    }

    pub fn finish(mut self) -> Result<Counts, StoreError> {
        let counts = self.counts;
        self.line(&LineOut::End(counts))?;
        self.out.finish().map_err(io)?.flush().map_err(io)?;
        Ok(counts)
    }
}

/// Loads a backup into an (empty) store; fails on a damaged or truncated file.
pub fn restore(input: impl std::io::Read, store: &dyn Store) -> Result<Counts, StoreError> {
    let reader = std::io::BufReader::new(zstd::stream::read::Decoder::new(input).map_err(io)?);
    let mut counts = Counts::default();
    let mut lines = reader.lines();
    let damaged = |n: usize, e: &dyn std::fmt::Display| {
        io(format!("line {n}: {e} (damaged, or not a Levy backup?)"))
    };
    let first = lines
        .next()
        .ok_or_else(|| io("the backup is empty"))?
        .map_err(|e| damaged(1, &e))?;
    let header: serde_json::Value = serde_json::from_str(&first).map_err(|e| damaged(1, &e))?;
    match header["levy_backup"].as_u64() {
        Some(1) => {}
        Some(v) => return Err(io(format!("unsupported backup version {v}"))),
        None => return Err(io("not a Levy backup (no header)")),
    }
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|e| damaged(n + 2, &e))?;
        let parsed: Line = serde_json::from_str(&line).map_err(|e| damaged(n + 2, &e))?;
        match parsed {
            Line::Account(a) => {
                store.put_account(&a)?;
                counts.accounts += 1;
            }
            Line::Quote(q) => {
                store.put_quote(&q)?;
                counts.quotes += 1;
            }
            Line::End(expected) => {
                if expected != counts {
                    return Err(io(format!(
                        "the backup says {expected:?} but holds {counts:?}"
                    )));
                }
                store.sync()?;
                return Ok(counts);
            }
        }
    }
    Err(io("the backup is truncated (no end line)"))
}
