//! Running the real `levy` binary as a separate process (for kill -9 tests).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const USER: &str = "demo";
pub const PASSWORD: &str = "levy-demo-password-for-tests";
pub const ADMIN_TOKEN: &str = "process-test-admin-token";

/// Writes a config for `data_dir` with the demo account and loopback port 0.
pub fn write_config(dir: &Path, data_dir: &Path) -> std::path::PathBuf {
    write_config_with(dir, data_dir, "")
}

/// As [`write_config`], with more TOML tables after the demo (e.g. `[limits]`).
pub fn write_config_with(dir: &Path, data_dir: &Path, extra: &str) -> std::path::PathBuf {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/rules.json");
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            r#"data_dir = "{}"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[demo]
account = "demo"
username = "{USER}"
password = "{PASSWORD}"
rules = "{}"
{extra}
"#,
            data_dir.display(),
            rules.display()
        ),
    )
    .unwrap();
    path
}

pub struct Server {
    pub child: Child,
    pub address: String,
    pub admin: String,
}

/// Starts `levy serve` and waits for the line that names its public address.
pub fn start(config: &Path) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_levy"));
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("LEVY_ADMIN_TOKEN", ADMIN_TOKEN);
    spawn(command)
}

/// Starts `levy <args>` in `dir` as a newcomer would there (its `config.toml`, no admin
/// token in the environment), but on ports the system picks.
pub fn start_in(dir: &Path, args: &[&str]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_levy"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("LEVY_ADMIN_TOKEN")
        .env_remove("LEVY_CONFIG")
        .env_remove("LEVY_DATA_DIR")
        .env("LEVY_LISTEN", "127.0.0.1:0")
        .env("LEVY_ADMIN_LISTEN", "127.0.0.1:0");
    spawn(command)
}

/// Starts `levy serve` with `env` set and its standard error (the log) written to `log`.
pub fn start_logging(config: &Path, env: &[(&str, &str)], log: &Path) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_levy"));
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("LEVY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("LEVY_LOG", "info")
        .envs(env.iter().copied())
        .stderr(std::fs::File::create(log).unwrap());
    spawn(command)
}

pub fn spawn(mut command: Command) -> Server {
    if command.get_envs().all(|(k, _)| k != "LEVY_LOG") {
        command.env("LEVY_LOG", "warn").stderr(Stdio::inherit());
    }
    let mut child = command.stdout(Stdio::piped()).spawn().expect("levy starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut address, mut admin) = (None, None);
    while address.is_none() || admin.is_none() {
        let line = lines.next().expect("levy printed its addresses").unwrap();
        if let Some(rest) = line.strip_prefix("levy: public listener on ") {
            address = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.strip_prefix("levy: admin listener on ") {
            admin = Some(rest.trim().to_string());
        }
    }
    let (address, admin) = (address.unwrap(), admin.unwrap());
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        address,
        admin,
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Stops the server with SIGTERM and waits for it (its log is complete after).
    pub fn stop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }

    /// Resident memory of the server process, in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}
