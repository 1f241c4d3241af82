//! A real PostgreSQL for the tests: one throwaway cluster per test run (started by
//! `scripts/pg-cluster`, stopped when the run exits), one fresh database per test.
//! There is no mock and no skip: a machine that cannot start PostgreSQL fails these tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

struct Cluster {
    dir: PathBuf,
    /// `postgres://levy@127.0.0.1:PORT/`, without a database name.
    base: String,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster")
}

extern "C" fn stop_cluster() {
    if let Some(c) = CLUSTER.get() {
        let _ = Command::new(script()).arg("stop").arg(&c.dir).output();
    }
}

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("levy-pg-{}", std::process::id()));
        let out = Command::new(script())
            .arg("start")
            .arg(&dir)
            .output()
            .expect("scripts/pg-cluster runs");
        assert!(
            out.status.success(),
            "PostgreSQL could not be started (scripts/pg-cluster start): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        unsafe {
            libc::atexit(stop_cluster);
        }
        Cluster {
            dir,
            base: url.trim_end_matches("levy").to_string(),
        }
    })
}

/// The URL of a new, empty database of the test cluster.
pub fn database() -> String {
    let c = cluster();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    sql(
        &format!("{}levy", c.base),
        &format!("CREATE DATABASE {name}"),
    );
    format!("{}{name}", c.base)
}

/// Runs one statement with psql against `url`; its output.
pub fn sql(url: &str, statement: &str) -> String {
    let bin = Command::new("sh")
        .arg("-c")
        .arg("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1")
        .output()
        .unwrap();
    let psql = PathBuf::from(String::from_utf8(bin.stdout).unwrap().trim()).join("psql");
    let out = Command::new(psql)
        .arg(url)
        .args(["-qAtc", statement])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
