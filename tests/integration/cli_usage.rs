//! The command line as a newcomer meets it: help that explains every argument with an
//! example that parses, advice that names only flags and commands that exist, global
//! options in any position, and a quiet end when the reader of its output goes away.

use crate::common::*;
use clap::{CommandFactory, Parser};
use levy::cli::Cli;
use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};

fn levy(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_levy"));
    c.args(args)
        .env_remove("LEVY_ADMIN_TOKEN")
        .env_remove("LEVY_ADMIN_URL")
        .env_remove("LEVY_ADMIN_TOKEN_FILE")
        .env("LEVY_DATA_DIR", "/nonexistent-levy-data");
    c
}

async fn output(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

/// Every sub-command, as the words that name it (`["rules", "import"]`).
fn every_command() -> Vec<(Vec<String>, clap::Command)> {
    fn walk(path: Vec<String>, cmd: &clap::Command, out: &mut Vec<(Vec<String>, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            out.push((p.clone(), sub.clone()));
            walk(p, sub, out);
        }
    }
    let mut out = Vec::new();
    walk(Vec::new(), &Cli::command(), &mut out);
    out.retain(|(p, _)| p.last().is_some_and(|n| n != "help"));
    out
}

/// The `levy ...` lines of a help text's examples, as arguments.
fn example_lines(help: &str) -> Vec<Vec<String>> {
    let mut lines = Vec::new();
    let mut pending = String::new();
    for line in help.lines() {
        let line = line.trim();
        if !pending.is_empty() || line.starts_with("levy ") {
            pending.push_str(line.trim_end_matches('\\'));
            pending.push(' ');
            if !line.ends_with('\\') {
                let command = pending.split(['#', '<']).next().unwrap().to_string();
                lines.push(
                    command
                        .split_whitespace()
                        .map(|w| w.replace("$BC_TOKEN", "token"))
                        .collect(),
                );
                pending.clear();
            }
        }
    }
    lines
}

#[test]
fn every_command_explains_its_arguments_and_shows_an_example_that_parses() {
    let mut examples = 0;
    for (path, cmd) in every_command() {
        if cmd.has_subcommands() && path.len() == 1 && cmd.get_after_help().is_none() {
            // A group (`levy connection`): its sub-commands carry the examples.
            continue;
        }
        for arg in cmd.get_positionals() {
            assert!(
                arg.get_help().is_some(),
                "levy {}: argument {} has no description",
                path.join(" "),
                arg.get_id()
            );
        }
        let help = cmd
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let lines = example_lines(&help);
        assert!(
            !lines.is_empty(),
            "levy {} shows no example",
            path.join(" ")
        );
        for line in lines {
            let parsed = Cli::try_parse_from(&line);
            assert!(
                parsed.is_ok(),
                "example `{}`: {:?}",
                line.join(" "),
                parsed.err()
            );
            examples += 1;
        }
    }
    let top = Cli::command().get_after_help().unwrap().to_string();
    for line in example_lines(&top) {
        assert!(Cli::try_parse_from(&line).is_ok(), "{line:?}");
    }
    assert!(examples > 20, "{examples}");
}

/// `--flag` words in a message.
fn flags_in(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(str::to_string)
        .collect()
}

#[test]
fn advice_in_the_sources_names_only_commands_and_flags_that_exist() {
    // Every string in src/ that suggests `levy <command>` or a `--flag`.
    let mut known_flags = BTreeSet::new();
    for (path, _) in every_command() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let o = levy(&args).output().unwrap();
        assert!(o.status.success(), "levy {}", args.join(" "));
        known_flags.extend(flags_in(&String::from_utf8_lossy(&o.stdout)));
    }
    let mut checked = 0;
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        // zstd dictionaries (the store's records) are binary, with no advice in them.
        if p.extension().is_some_and(|e| e == "zdict") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for literal in text.split('"').skip(1).step_by(2) {
            if literal.contains("{\\\"") {
                continue;
            }
            for flag in flags_in(literal) {
                assert!(
                    known_flags.contains(&flag),
                    "{}: {literal:?} names {flag}, which no command takes",
                    p.display()
                );
                checked += 1;
            }
            for (i, _) in literal.match_indices("`levy ") {
                let words: Vec<&str> = literal[i + 6..]
                    .split(['`', ' ', ')'])
                    .take_while(|w| {
                        w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.is_empty()
                    })
                    .collect();
                let mut args = words.clone();
                args.push("--help");
                let o = levy(&args).output().unwrap();
                assert!(
                    o.status.success(),
                    "{}: `levy {}` does not exist",
                    p.display(),
                    words.join(" ")
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 5, "{checked}");
}

/// Runs `levy accounts list` with each flag the advice names, given a good value.
async fn follow(app: &TestApp, advice: &str, token_file: &str) {
    for flag in flags_in(advice) {
        let value = if flag.ends_with("-file") {
            token_file
        } else {
            ADMIN_TOKEN
        };
        let o = output(levy(&[
            "accounts",
            "list",
            "--admin-url",
            &app.admin_address,
            &flag,
            value,
        ]))
        .await;
        assert!(
            o.status.success(),
            "{advice}\n{flag}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_advice_for_a_missing_or_refused_token_works_as_written() {
    let app = spawn_app().await;
    let token_file = app.dir.path().join("token");
    std::fs::write(&token_file, ADMIN_TOKEN).unwrap();
    let token_file = token_file.to_str().unwrap().to_string();

    let o = output(levy(&[
        "accounts",
        "list",
        "--admin-url",
        &app.admin_address,
    ]))
    .await;
    assert!(!o.status.success());
    let advice = String::from_utf8_lossy(&o.stderr).to_string();
    let flags = flags_in(&advice);
    assert!(flags.contains("--admin-token-file"), "{advice}");
    follow(&app, &advice, &token_file).await;

    let o = output(levy(&[
        "accounts",
        "list",
        "--admin-url",
        &app.admin_address,
        "--admin-token",
        "wrong",
    ]))
    .await;
    let advice = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(advice.contains("refused"), "{advice}");
    follow(&app, &advice, &token_file).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_options_go_before_or_after_the_sub_command() {
    let app = spawn_app().await;
    let url = app.admin_address.as_str();
    for args in [
        vec![
            "--admin-url",
            url,
            "--admin-token",
            ADMIN_TOKEN,
            "accounts",
            "list",
        ],
        vec![
            "accounts",
            "--admin-url",
            url,
            "list",
            "--admin-token",
            ADMIN_TOKEN,
        ],
        vec![
            "accounts",
            "list",
            "--admin-url",
            url,
            "--admin-token",
            ADMIN_TOKEN,
        ],
    ] {
        let o = output(levy(&args)).await;
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v["data"].is_array());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_goes_away_ends_the_command_quietly() {
    let app = spawn_app().await;
    app.account("shop", &["s"], &[], ten_percent()).await;
    let url = app.admin_address.clone();
    let o = tokio::task::spawn_blocking(move || {
        let mut child = levy(&[
            "rules",
            "export",
            "shop",
            "--admin-url",
            &url,
            "--admin-token",
            ADMIN_TOKEN,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        drop(child.stdout.take()); // `| head -0`: the reader is gone before the output
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(o.status.code(), Some(101), "{err}");
}
