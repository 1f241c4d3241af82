//! The README's command lines run as written, in order, on a copy of the repository's
//! tracked files (a fresh clone): the server of its first line, then every `sh` line but
//! those that need what a test machine lacks (a real BigCommerce store and its token, the
//! test run itself, fuzzing). `levy` and `cargo run --release --` are this build's binary;
//! the fixed ports 8080/8081 are the ports the server actually bound.

use crate::common::process;
use std::path::Path;
use std::process::Command;

/// Lines a test cannot run: they need a store's API token, or are the tests, fuzzing
/// or a release build themselves.
fn needs_more_than_a_test_machine(line: &str) -> bool {
    line.contains("$BC_API_TOKEN")
        || line.starts_with("cargo test")
        || line.starts_with("cargo install")
        || line.contains("cargo fuzz")
        || line.starts_with("cargo build --release")
        || line.starts_with("cargo bench")
        || line.starts_with("scripts/")
}

/// The README's `sh` lines, continuation lines joined.
fn readme_lines(readme: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh || line.trim().is_empty() {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(line);
        lines.push(std::mem::take(&mut pending));
    }
    lines
}

fn copy_tracked_files(to: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .expect("git lists the tracked files");
    assert!(listed.status.success());
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let (from, dest) = (root.join(name), to.join(name));
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&from, &dest).unwrap();
    }
}

#[test]
fn the_readme_command_lines_run_as_written_in_order() {
    let clone = tempfile::tempdir().unwrap();
    copy_tracked_files(clone.path());
    let readme = std::fs::read_to_string(clone.path().join("README.md")).unwrap();
    let lines = readme_lines(&readme);
    assert!(
        lines[0].starts_with("cargo run --release -- serve"),
        "{}",
        lines[0]
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_levy"));
    let server = process::start_in(clone.path(), &["serve"]);
    let mut script = String::from("set -e\n");
    let mut ran = 0;
    for line in &lines[1..] {
        if needs_more_than_a_test_machine(line) {
            continue;
        }
        let line = line
            .replace("cargo run --release -- ", "levy ")
            .replace("http://127.0.0.1:8080", &server.address)
            .replace("http://127.0.0.1:8081", &server.admin);
        script.push_str(&format!(
            "echo '>>> {}' >&2\n{line}\n",
            line.replace('\'', "")
        ));
        ran += 1;
    }
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // curl exits non-zero on a 4xx or 5xx too (the README's lines stay as written).
    let curl_home = tempfile::tempdir().unwrap();
    std::fs::write(
        curl_home.path().join(".curlrc"),
        "fail-with-body\nsilent\nshow-error\n",
    )
    .unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(clone.path())
        .env("PATH", path)
        .env("LEVY_ADMIN_URL", &server.admin)
        .env("CURL_HOME", curl_home.path())
        .env_remove("LEVY_ADMIN_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "a README line failed; the last line shown ran last:\n{stderr}\nstdout:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(ran >= 20, "{ran} lines ran");
    // The lines did what they say: the demo quote exists, the backup was restored.
    assert!(clone.path().join("acme-rules.json").is_file());
    assert!(clone.path().join("levy.backup").is_file());
    assert!(clone.path().join("data-new").is_dir());
}
