//! The WAL checkpointer. Commits never copy the WAL back into the database file
//! (`wal_autocheckpoint = 0`), so no commit (an acknowledgement's among them) waits for a
//! checkpoint's page copies and fsync; this task does it, on its own schedule.
//!
//! A passive checkpoint takes no lock: writers go on appending meanwhile, which is also why,
//! under steady writes, it never catches up with the end of the WAL, and the WAL is only started
//! over by a writer that finds it wholly copied. So when the WAL has grown past
//! [`RESTART_FRAMES`], a second passive checkpoint runs in a write turn of this process, when
//! nothing appends: it copies the few frames written since the first one, and the next writer
//! starts the WAL over. A partial checkpoint does not sync the database file, the complete one
//! does, and would then flush in the write turn everything the partial ones wrote (tens of
//! milliseconds of acknowledgements waiting): the file is synced first, outside the turn.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::{Row, SqlitePool};

use super::turns::Turns;
use crate::store::StoreError;
use crate::telemetry::emit;
use crate::telemetry::events::STORE_CHECKPOINT_FAILED;

/// How often the WAL is copied back.
const EVERY: Duration = Duration::from_millis(500);
/// WAL frames (pages, 4 KiB by default) past which it is wholly copied so that it starts over:
/// SQLite's default auto-checkpoint size.
const RESTART_FRAMES: i64 = 1000;

/// Checkpoints the database at `file` (`None`: in memory) until the store is dropped (`alive`
/// gone) or the pool closed.
pub(super) async fn run(pool: SqlitePool, file: Option<PathBuf>, turns: Arc<Turns>, alive: Weak<()>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.upgrade().is_none() || pool.is_closed() {
            return;
        }
        if let Err(e) = once(&pool, file.as_ref(), &turns).await {
            emit!(WARN, STORE_CHECKPOINT_FAILED, error = %e);
        }
    }
}

/// One round: a passive checkpoint, and a second one in a write turn if the WAL is long.
async fn once(pool: &SqlitePool, file: Option<&PathBuf>, turns: &Turns) -> Result<(), StoreError> {
    let frames = passive(pool).await?;
    if frames > RESTART_FRAMES {
        if let Some(file) = file.cloned() {
            tokio::task::spawn_blocking(move || sync_file(&file))
                .await
                .map_err(std::io::Error::other)
                .and_then(|synced| synced)
                .map_err(sqlx::Error::Io)?;
        }
        let _turn = turns.ordinary().await;
        passive(pool).await?;
    }
    Ok(())
}

/// Flushes the database file to disk through a descriptor opened once per file and never closed.
///
/// Closing any descriptor of a file drops every POSIX advisory lock the process holds on it,
/// SQLite's own among them: a descriptor opened and closed for each sync let another process
/// write while this one believed it held its locks, and corrupted a database two hosts shared
/// (<https://www.sqlite.org/howtocorrupt.html#_posix_advisory_locks_canceled_by_a_separate_thread_doing_close_>).
fn sync_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static OPEN: Mutex<Option<HashMap<PathBuf, &'static std::fs::File>>> = Mutex::new(None);
    let file = {
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        let open = open.get_or_insert_with(HashMap::new);
        match open.get(path) {
            Some(f) => *f,
            None => {
                // Leaked on purpose: see above.
                let f: &'static std::fs::File = Box::leak(Box::new(std::fs::File::open(path)?));
                open.insert(path.to_owned(), f);
                f
            }
        }
    };
    file.sync_data()
}

/// A passive checkpoint; the WAL's length in frames.
async fn passive(pool: &SqlitePool) -> Result<i64, StoreError> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok(row.try_get::<i64, _>(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_long_wal_is_wholly_copied_and_started_over() {
        let dir = std::env::temp_dir().join(format!("patchbay-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.db");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (v BLOB)")
            .execute(&pool)
            .await
            .unwrap();
        for _ in 0..(RESTART_FRAMES + 200) {
            sqlx::query("INSERT INTO t VALUES (zeroblob(4000))")
                .execute(&pool)
                .await
                .unwrap();
        }
        let turns = Turns::default();
        once(&pool, Some(&file), &turns).await.unwrap();
        // The next writer finds the WAL wholly copied and starts it over.
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&pool)
            .await
            .unwrap();
        let frames = passive(&pool).await.unwrap();
        assert!(frames < 10, "the WAL started over: {frames} frames");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
