//! A cluster of `patchbay` processes on one PostgreSQL database behind nginx, as
//! `scripts/cluster.sh` starts it, for the tests and benches that run several hosts: start,
//! kill and restart a host, restart the database, read its addresses and admin token; stopped
//! when dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    serve_args: String,
    env: HashMap<String, String>,
}

impl Cluster {
    /// Starts `hosts` hosts of the binary `bin` (with more `serve` arguments) in `dir`.
    pub fn start(dir: &Path, bin: &Path, hosts: usize, serve_args: &str) -> Self {
        let mut cluster = Self {
            dir: dir.to_owned(),
            bin: bin.to_owned(),
            serve_args: serve_args.to_owned(),
            env: HashMap::new(),
        };
        cluster.run(&["start", &hosts.to_string()]);
        cluster.env = std::fs::read_to_string(dir.join("cluster.env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        cluster
    }

    /// A value of its `cluster.env` (`LB_URL`, `HOST_URL_<i>`, `DATABASE_URL`, `ADMIN_TOKEN`).
    pub fn env(&self, key: &str) -> &str {
        &self.env[key]
    }

    /// The cluster's directory (logs, pid files, PostgreSQL's data in `pg/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `kill -9` of host `i` (1-based).
    pub fn kill(&self, i: usize) {
        self.run(&["kill", &i.to_string()]);
    }

    /// Starts host `i` again on its port and waits until it is healthy.
    pub fn start_host(&self, i: usize) {
        self.run(&["start-host", &i.to_string()]);
    }

    /// Restarts PostgreSQL; the hosts stay up.
    pub fn restart_db(&self) {
        self.run(&["restart-db"]);
    }

    fn run(&self, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cluster.sh");
        let (command, rest) = args.split_first().unwrap();
        let out = Command::new(script)
            .arg(command)
            .arg(&self.dir)
            .args(rest)
            .env("PATCHBAY_BIN", &self.bin)
            .env("PATCHBAY_SERVE_ARGS", &self.serve_args)
            .env("PATCHBAY_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cluster.sh {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cluster.sh");
        let _ = Command::new(script).arg("stop").arg(&self.dir).output();
    }
}
