//! The CPU a commit adds to an estimate, off the wire and the disk (criterion).
//! Run: `cargo bench --bench commit`. The durable write's own cost (sled, the commit log,
//! the sync) is measured over HTTP by `scripts/bench-commit` (BENCHMARKS.md, commits).
//!
//! * `parse`: the commit example's body (`quotes/commit.json`) parsed.
//! * `compute` / `compute_audited`: it priced without and with its audit.
//! * `audit_json`: the audit serialized, as a version keeps it.
//! * `decide_new_quote`: a new quote's version decided (response rendered with its
//!   external ids, audit serialized, external key minted).
//! * `record_json`: that version's record written as stored, before compression.
//! * `compress`: the record compressed as the sled store does (zstd at its default level,
//!   with the records' dictionary).
//! * `sled_insert`: the compressed record inserted under a new key into a sled tree of
//!   100,000 such records (sled's own log is written by its threads and synced by none:
//!   Levy's commit log makes a commit durable); `sled_insert_ordered` with keys in
//!   order; `sled_insert_small` a 120-byte value (a head's size) under a spread key.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use levy::engine::{compute, compute_audited, CompiledRules};
use levy::lifecycle::{self, Caller, QuoteLimits};
use levy::quote::QuoteRequest;
use levy::rules::RulesDocument;
use levy::store::QuoteChange;
use std::sync::Arc;
use std::time::Duration;

fn commit(c: &mut Criterion) {
    let root = env!("CARGO_MANIFEST_DIR");
    let body = std::fs::read(format!("{root}/quotes/commit.json")).unwrap();
    let rules: RulesDocument =
        serde_json::from_slice(&std::fs::read(format!("{root}/demo/rules.json")).unwrap()).unwrap();
    let rules = CompiledRules::new(rules).unwrap();
    let request: Arc<QuoteRequest> = Arc::new(levy::json::parse(&body).unwrap());
    let computed = compute_audited(&rules, &request).unwrap();
    let caller = Caller {
        account: "demo",
        store_hash: "demostore",
    };
    let limits = QuoteLimits {
        versions: 1000,
        response_bytes: 1 << 20,
    };
    let decide = || lifecycle::commit(None, &caller, &request, &computed, &limits).unwrap();
    let QuoteChange::Append(_, version) = decide() else {
        panic!("a new quote appends a version")
    };
    let mut g = c.benchmark_group("commit");
    g.bench_function("parse", |b| {
        b.iter(|| levy::json::parse::<QuoteRequest>(black_box(&body)).unwrap())
    });
    g.bench_function("compute", |b| {
        b.iter(|| compute(&rules, black_box(&request)).unwrap())
    });
    g.bench_function("compute_audited", |b| {
        b.iter(|| compute_audited(&rules, black_box(&request)).unwrap())
    });
    let audit = computed.audit.as_ref().unwrap();
    g.bench_function("audit_json", |b| {
        b.iter(|| serde_json::to_string(black_box(audit)).unwrap())
    });
    g.bench_function("decide_new_quote", |b| b.iter(decide));
    let mut out = Vec::with_capacity(16 << 10);
    g.bench_function("record_json", |b| {
        b.iter(|| {
            out.clear();
            serde_json::to_writer(&mut out, black_box(&version)).unwrap();
        })
    });
    let mut compressor = zstd::bulk::Compressor::with_dictionary(
        levy::store::sled_store::DEFAULT_ZSTD_LEVEL,
        include_bytes!("../src/store/records-1279612505.zdict"),
    )
    .unwrap();
    let mut packed = Vec::with_capacity(16 << 10);
    let record = serde_json::to_vec(&*version).unwrap();
    compressor.compress_to_buffer(&record, &mut packed).unwrap();
    // A reused buffer, as the store's encoder has.
    let mut scratch = Vec::with_capacity(16 << 10);
    g.bench_function("compress", |b| {
        b.iter(|| {
            scratch.clear();
            compressor
                .compress_to_buffer(black_box(&record), &mut scratch)
                .unwrap()
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    // Keys spread like quote ids (account, a hash-like id, the version), or in order.
    let random =
        |n: u64| format!("demo\0{:016x}\0v1", n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).into_bytes();
    let ordered = |n: u64| n.to_be_bytes().to_vec();
    for (name, key, len) in [
        (
            "sled_insert",
            &random as &dyn Fn(u64) -> Vec<u8>,
            packed.len(),
        ),
        ("sled_insert_ordered", &ordered, packed.len()),
        ("sled_insert_small", &random, 120),
    ] {
        let tree = db.open_tree(name).unwrap();
        let value = &packed[..len];
        // A tree of 100,000 records first, like a store in use.
        for n in 0..100_000u64 {
            tree.insert(key(n), value).unwrap();
        }
        let mut n = 100_000u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                tree.insert(key(n), value).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = commit
}
criterion_main!(benches);
