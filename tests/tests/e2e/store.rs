//! The store's coordination contract, on whichever backend the run uses (a SQLite file, or a
//! PostgreSQL database in the backend matrix's run): two stores on one database stand for two
//! hosts, and what one claims, leases, takes or numbers, the other never gets too.

use std::collections::HashMap;

use patchbay::store::{Change, NewVersion, OAuthStateRow, Store, TokenUpdate};
use patchbay::webhooks::model::NewInbound;
use patchbay_test_support::database::fresh_database;
use patchbay_test_support::scratch_dir;
use serde_json::json;

/// Two stores ("hosts") on one fresh database.
async fn two_hosts() -> (Store, Store) {
    let url = fresh_database(&scratch_dir("store"));
    let a = Store::connect(&url).await.expect("first store opens");
    let b = Store::connect(&url).await.expect("second store opens");
    (a, b)
}

fn inbound(i: usize) -> NewInbound {
    NewInbound {
        id: uuid_like(i),
        connector: "acme".into(),
        account_id: None,
        tenant_id: None,
        method: "POST".into(),
        url: "http://h/webhooks/acme".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: format!("{{\"n\":{i}}}").into_bytes(),
        received_at: i as i64,
    }
}

/// Ids that sort in insertion order, as UUIDv7s do.
fn uuid_like(i: usize) -> String {
    format!("0000-{i:08}")
}

#[tokio::test]
async fn concurrent_claims_of_the_inbound_queue_never_share_a_request() {
    let (a, b) = two_hosts().await;
    let batch: Vec<NewInbound> = (0..300).map(inbound).collect();
    a.insert_inbound(&batch).await.unwrap();
    // Four claimers, two per store, take batches of 7 until the queue is empty.
    let mut claimers = Vec::new();
    for (n, store) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let rows = store
                    .claim_inbound(1_000, 1_000 + 60_000, 7)
                    .await
                    .unwrap_or_else(|e| panic!("claimer {n}: {e}"));
                if rows.is_empty() {
                    return mine;
                }
                mine.extend(rows.into_iter().map(|r| r.request.id));
            }
        }));
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for c in claimers {
        for id in c.await.unwrap() {
            *seen.entry(id).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 300, "every request was claimed");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "claimed more than once: {twice:?}");
    // A lease that expired is claimable again, once.
    let again = b.claim_inbound(1_000 + 60_001, 200_000, 1000).await.unwrap();
    assert_eq!(again.len(), 300);
    assert!(again.iter().all(|r| r.attempts == 2));
}

#[tokio::test]
async fn a_refresh_lease_is_held_by_one_owner_and_only_its_owner_writes_tokens() {
    let (a, b) = two_hosts().await;
    let account = patchbay::accounts::model::AccountRow::new(
        "acct-lease".into(),
        "acme".into(),
        "t1".into(),
        b"sealed".to_vec(),
        json!({}),
        None,
    );
    a.create_account(&account, "test").await.unwrap();
    assert!(a.try_lease("acct-lease", "host-a", 30_000).await.unwrap());
    assert!(
        !b.try_lease("acct-lease", "host-b", 30_000).await.unwrap(),
        "a live lease is exclusive"
    );
    let update = TokenUpdate {
        credentials: b"new-sealed".to_vec(),
        obtained_at: 1,
        expires_at: Some(2),
        next_refresh_at: Some(3),
        context: None,
    };
    assert!(
        !b.store_tokens("acct-lease", "host-b", &update).await.unwrap(),
        "a non-owner writes nothing"
    );
    b.release_lease("acct-lease", "host-b").await.unwrap();
    assert!(
        !b.try_lease("acct-lease", "host-b", 30_000).await.unwrap(),
        "a non-owner cannot release it"
    );
    assert!(a.store_tokens("acct-lease", "host-a", &update).await.unwrap());
    let stored = b.account("acct-lease").await.unwrap().unwrap();
    assert_eq!(stored.credentials, b"new-sealed");
    assert!(
        b.try_lease("acct-lease", "host-b", 30_000).await.unwrap(),
        "storing released it"
    );
}

#[tokio::test]
async fn an_oauth_state_is_taken_once_by_racing_callbacks() {
    let (a, b) = two_hosts().await;
    for round in 0..20 {
        let hash = format!("state-{round}");
        a.insert_oauth_state(&OAuthStateRow {
            state_hash: hash.clone(),
            connector: "acme".into(),
            tenant_id: "t1".into(),
            redirect_uri: "http://app/done".into(),
            account_id: None,
            sealed_verifier: b"v".to_vec(),
            expires_at: i64::MAX,
            auth_method: None,
            context: json!({"sub": "x"}),
        })
        .await
        .unwrap();
        let (x, y) = tokio::join!(a.take_oauth_state(&hash), b.take_oauth_state(&hash));
        let taken = [x.unwrap(), y.unwrap()].into_iter().flatten().count();
        assert_eq!(taken, 1, "round {round}: exactly one callback proceeds");
    }
}

#[tokio::test]
async fn racing_hosts_number_connector_revisions_without_gaps_and_log_each_activation() {
    let (a, b) = two_hosts().await;
    let start = b.last_change().await.unwrap();
    let put = |store: Store, who: &'static str| async move {
        for i in 0..10 {
            let manifest = format!("{{\"name\":\"acme\",\"v\":\"{who}{i}\"}}");
            store
                .store_connector_version(
                    NewVersion {
                        name: "acme",
                        version: "1.0.0",
                        content_hash: &format!("{who}-{i}"),
                        manifest: &manifest,
                        component: None,
                        source: "test",
                    },
                    true,
                )
                .await
                .unwrap_or_else(|e| panic!("{who} {i}: {e}"));
        }
    };
    tokio::join!(put(a.clone(), "a"), put(b.clone(), "b"));
    let (versions, active) = a.connector_versions("acme").await.unwrap();
    let mut revisions: Vec<i64> = versions.iter().map(|v| v.revision).collect();
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=20).collect::<Vec<_>>());
    assert!(active.is_some());
    let changes = b.changes_since(start, 100).await.unwrap();
    assert_eq!(changes.len(), 20, "one change per activation");
    assert!(
        changes
            .iter()
            .all(|c| c.kind == Change::CONNECTOR && c.subject == "acme")
    );
}

#[tokio::test]
async fn fanning_out_an_event_from_two_hosts_creates_its_deliveries_once() {
    use patchbay::webhooks::model::OutboxEvent;
    let (a, b) = two_hosts().await;
    let events: Vec<(OutboxEvent, Vec<String>)> = (0..50)
        .map(|i| {
            (
                OutboxEvent {
                    id: uuid_like(i),
                    event_type: "crm.contact.created".into(),
                    account_id: None,
                    tenant_id: Some("t1".into()),
                    endpoint_id: None,
                    data: json!({"i": i}),
                    created_at: i as i64,
                },
                vec!["ep-1".to_owned(), "ep-2".to_owned()],
            )
        })
        .collect();
    for (e, _) in &events {
        a.insert_event(e).await.unwrap();
    }
    let (x, y) = tokio::join!(a.fan_out(&events, 10), b.fan_out(&events, 10));
    x.unwrap();
    y.unwrap();
    let counts: HashMap<String, i64> = a.delivery_counts().await.unwrap().into_iter().collect();
    assert_eq!(
        counts.get("pending"),
        Some(&100),
        "50 events × 2 endpoints, once: {counts:?}"
    );
    assert!(b.unfanned_events(100).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_reader_following_the_change_log_misses_no_change_two_hosts_write_at_once() {
    use patchbay::accounts::model::{AccountRow, AccountStatus};
    use patchbay::accounts::state_machine::{AccountEvent, Transition};
    let (a, b) = two_hosts().await;
    let start = a.last_change().await.unwrap();
    for i in 0..8 {
        let row = AccountRow::new(
            format!("acct-{i}"),
            "acme".into(),
            "t1".into(),
            b"s".to_vec(),
            json!({}),
            None,
        );
        a.create_account(&row, "test").await.unwrap();
    }
    // The reader does what a host's change watcher does: every id after the last one it saw.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (b.clone(), done.clone());
        tokio::spawn(async move {
            let (mut seen, mut ids) = (start, Vec::new());
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                for c in store.changes_since(seen, 1000).await.unwrap() {
                    seen = c.id;
                    ids.push(c.id);
                }
                if finished {
                    return ids;
                }
            }
        })
    };
    // Eight writers, four per store, each moving its own account back and forth.
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                for _ in 0..15 {
                    let row = store.account(&format!("acct-{i}")).await.unwrap().unwrap();
                    let (to, event) = match row.status {
                        AccountStatus::Connecting => (AccountStatus::Active, AccountEvent::Active),
                        _ => (AccountStatus::Connecting, AccountEvent::Updated),
                    };
                    store
                        .transition(&Transition::new(&row, to, event, "test"))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let read = reader.await.unwrap();
    let written: Vec<i64> = a
        .changes_since(start, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(written.len(), 8 * 15, "one change per transition");
    assert_eq!(read, written, "the reader saw every change, in order");
}
