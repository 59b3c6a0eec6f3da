//! The database a test's host stores in: a fresh SQLite file by default, or, when
//! `PATCHBAY_TEST_POSTGRES` names a PostgreSQL server (`scripts/postgres.sh start` prints one), a
//! fresh database on it, so the same suites run against both backends.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the PostgreSQL server of the backend matrix.
pub const POSTGRES_ENV: &str = "PATCHBAY_TEST_POSTGRES";

/// The server URL of the matrix's PostgreSQL run, if this is one.
pub fn postgres_server() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty())
}

/// A new, empty database for one host (or several sharing it): on the matrix's PostgreSQL
/// server when there is one, else a SQLite file `patchbay.db` in `dir`.
pub fn fresh_database(dir: &Path) -> String {
    match postgres_server() {
        Some(server) => fresh_postgres_database(&server),
        None => format!("sqlite://{}", dir.join("patchbay.db").display()),
    }
}

/// Creates a database on `server` (a URL naming any database there) and returns its URL.
pub fn fresh_postgres_database(server: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "pb_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let out = Command::new("psql")
        .args([
            server,
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql runs (PostgreSQL's client)");
    assert!(
        out.status.success(),
        "CREATE DATABASE on {server}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    with_database(server, &name)
}

/// Writes a PostgreSQL database's whole content (`pg_dump`, data included) into `dir`, so a
/// test can scan the bytes at rest as it scans a SQLite file; nothing for a SQLite database.
pub fn dump_into(database_url: &str, dir: &Path) {
    if !database_url.starts_with("postgres") {
        return;
    }
    let out = Command::new("pg_dump")
        .args([database_url, "--file"])
        .arg(dir.join("pg_dump.sql"))
        .output()
        .expect("pg_dump runs (PostgreSQL's client)");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The first column of a query's rows, read with the database's own client (`psql`, or Python's
/// `sqlite3` module for a SQLite file), for tests that look at what hosts in other processes
/// stored.
pub fn query_column(database_url: &str, sql: &str) -> Vec<String> {
    let out = if database_url.starts_with("postgres") {
        Command::new("psql")
            .args([database_url, "-v", "ON_ERROR_STOP=1", "-Atc", sql])
            .output()
            .expect("psql runs")
    } else {
        let path = database_url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        Command::new("python3")
            .args([
                "-c",
                "import sqlite3, sys\nfor row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]): print(row[0])",
                path,
                sql,
            ])
            .output()
            .expect("python3 runs")
    };
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `server` with its database name replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).expect("a PostgreSQL URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_name_replaces_the_servers() {
        assert_eq!(
            super::with_database("postgres://u@127.0.0.1:5/postgres?sslmode=disable", "pb_1"),
            "postgres://u@127.0.0.1:5/pb_1?sslmode=disable"
        );
    }
}
