//! Power cuts in the middle of transactions. The embedded store runs on a
//! disk that loses power at its Nth mutating call (see [`faulty_backend`]),
//! for every N until a run of transfers finishes before it; each time, what
//! survives is opened as a fresh database and must hold every transfer that
//! was acknowledged, and each transfer wholly or not at all.
//!
//! A transfer is one transaction of three writes in two collections: a
//! conditional debit, a credit and a ledger entry, so half of one shows as
//! a ledger that disagrees with the balances. Transfers come one by one,
//! and in rounds of concurrent callers, whose writes the store makes
//! durable together (group commit).

mod faulty_backend;

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use common::{LIMITS, NO_DEADLINE};
use modhost_docstore::{
    DocumentStore, EmbeddedStore, Filter, Matches, Namespace, Scope, Sort, Upsert, Write,
    WriteAction,
};
use serde_json::{Value, json};

use faulty_backend::{FaultyBackend, PowerCut};

const ACCOUNTS: [&str; 4] = ["ann", "bob", "cat", "dan"];

/// Each account's balance before any transfer.
const OPENING: i64 = 100;

/// How many transfers a run makes.
const TRANSFERS: u64 = 12;

/// The most crash points a mode may need; more means the runs never end.
const MAX_CRASH_POINTS: u64 = 100_000;

fn accounts() -> Namespace {
    Scope::new("bank", "app")
        .unwrap()
        .collection("accounts")
        .unwrap()
}

fn ledger() -> Namespace {
    Scope::new("bank", "app")
        .unwrap()
        .collection("ledger")
        .unwrap()
}

/// Transfer `n`: from, to, amount; each account pays in turn.
fn transfer(n: u64) -> (&'static str, &'static str, i64) {
    let from = (n % 4) as usize;
    (ACCOUNTS[from], ACCOUNTS[(from + 1) % 4], 1 + (n % 7) as i64)
}

/// Transfer `n` as one transaction: debit (only when covered), credit,
/// ledger entry.
fn transfer_writes(n: u64) -> Vec<Write> {
    let (from, to, amount) = transfer(n);
    let update = |filter: Value, by: i64| Write {
        collection: accounts(),
        action: WriteAction::Update {
            filter,
            update: json!({"$inc": {"balance": by}}),
            which: Matches::First,
            upsert: Upsert::No,
        },
        expect_matched: Some(1),
    };
    vec![
        update(json!({"_id": from, "balance": {"$gte": amount}}), -amount),
        update(json!({"_id": to}), amount),
        Write {
            collection: ledger(),
            action: WriteAction::Insert(json!({"_id": n, "from": from, "amount": amount})),
            expect_matched: None,
        },
    ]
}

/// The accounts and the indexes, on a disk not yet armed.
async fn open_bank(disk: &FaultyBackend) -> DocumentStore {
    let store = DocumentStore::Embedded(EmbeddedStore::with_backend(disk.clone(), LIMITS).unwrap());
    store
        .create_index(&accounts(), "balance", false, NO_DEADLINE)
        .await
        .unwrap();
    store
        .create_index(&ledger(), "from", false, NO_DEADLINE)
        .await
        .unwrap();
    let opening = ACCOUNTS.map(|id| json!({"_id": id, "balance": OPENING}));
    store
        .insert(&accounts(), opening.to_vec(), NO_DEADLINE)
        .await
        .unwrap();
    store
}

/// How the transfers of a run are made.
#[derive(Debug, Clone, Copy)]
enum Callers {
    /// One after another, each acknowledged before the next.
    OneByOne,
    /// In rounds of this many at once, which the store's group commit
    /// makes durable together.
    Concurrent(u64),
}

/// One run with the power cut at mutating call `n` of the transfers.
/// Returns false when the transfers all finished before it.
async fn run(callers: Callers, cut: PowerCut, n: u64) -> bool {
    let disk = FaultyBackend::default();
    let store = open_bank(&disk).await;
    disk.crash_at(n);
    let round = match callers {
        Callers::OneByOne => 1,
        Callers::Concurrent(round) => round,
    };
    let mut acknowledged = Vec::new();
    for first in (0..TRANSFERS).step_by(round as usize) {
        let mut calls = tokio::task::JoinSet::new();
        for transfer in first..(first + round).min(TRANSFERS) {
            let store = store.clone();
            calls.spawn(async move {
                let answer = store.transact(transfer_writes(transfer), NO_DEADLINE).await;
                (transfer, answer)
            });
        }
        for (transfer, answer) in calls.join_all().await {
            match answer {
                Ok(_) => acknowledged.push(transfer),
                Err(err) => assert!(
                    disk.crashed(),
                    "transfer {transfer} failed with power on: {err:?}"
                ),
            }
        }
        if disk.crashed() {
            break;
        }
    }
    drop(store);
    if !disk.crashed() {
        return false;
    }
    let what = format!("{callers:?}, after a power cut ({cut:?}) at mutating call {n}");
    let survivor = FaultyBackend::holding(disk.surviving(cut));
    let store = EmbeddedStore::with_backend(survivor, LIMITS)
        .unwrap_or_else(|err| panic!("{what}, the database does not open: {err}"));
    let there = check(&store, &acknowledged, &what).await;
    if let Callers::OneByOne = callers {
        let first: Vec<u64> = (0..there.len() as u64).collect();
        assert_eq!(
            there, first,
            "{what}: the ledger is not the first transfers"
        );
    }
    // The survivor takes a new transfer, and its indexes stay right.
    DocumentStore::Embedded(store.clone())
        .transact(transfer_writes(TRANSFERS), NO_DEADLINE)
        .await
        .unwrap_or_else(|err| panic!("{what}, a new transfer fails: {err:?}"));
    let mut now = there;
    now.push(TRANSFERS);
    let after = check(&store, &now, &what).await;
    assert_eq!(after, now, "{what}: the ledger after one more transfer");
    true
}

/// The documents `filter` finds in `collection` in `_id` order, and the
/// index it used.
async fn find(
    store: &EmbeddedStore,
    collection: &Namespace,
    filter: Value,
) -> (Vec<Value>, Option<String>) {
    let found = store
        .find(
            collection,
            Filter::parse(&filter).unwrap(),
            Sort::parse(Some(&json!({"_id": 1}))).unwrap(),
            (0, None),
            None,
            NO_DEADLINE,
        )
        .await
        .unwrap();
    (found.docs, found.index)
}

async fn ledger_ids(store: &EmbeddedStore) -> Vec<u64> {
    let (entries, _) = find(store, &ledger(), json!({})).await;
    entries
        .iter()
        .map(|entry| entry["_id"].as_u64().unwrap())
        .collect()
}

/// What survived, returned as the ledger's transfers: every acknowledged
/// transfer, each wholly (its ledger entry, debit and credit, so the
/// balances are those of exactly these transfers, and their total is kept);
/// and a find through each index answers as a scan does.
async fn check(store: &EmbeddedStore, acknowledged: &[u64], what: &str) -> Vec<u64> {
    let there = ledger_ids(store).await;
    for transfer in acknowledged {
        assert!(
            there.contains(transfer),
            "{what}: transfer {transfer} was acknowledged and is lost"
        );
    }
    assert!(
        there.iter().all(|n| *n <= TRANSFERS),
        "{what}: transfers from nowhere: {there:?}"
    );

    let mut expected: BTreeMap<&str, i64> = ACCOUNTS.iter().map(|id| (*id, OPENING)).collect();
    for &n in &there {
        let (from, to, amount) = transfer(n);
        *expected.get_mut(from).unwrap() -= amount;
        *expected.get_mut(to).unwrap() += amount;
    }
    let (stored, _) = find(store, &accounts(), json!({})).await;
    let balances: BTreeMap<&str, i64> = stored
        .iter()
        .map(|doc| {
            (
                doc["_id"].as_str().unwrap(),
                doc["balance"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        balances, expected,
        "{what}: the balances are not those of the transfers in the ledger, {there:?}"
    );
    assert_eq!(
        balances.values().sum::<i64>(),
        OPENING * 4,
        "{what}: money made or lost"
    );

    // Every account found through the balance index, as the scan found it.
    let (by_index, index) = find(store, &accounts(), json!({"balance": {"$gte": i64::MIN}})).await;
    assert_eq!(index.as_deref(), Some("balance"), "{what}");
    assert_eq!(
        by_index, stored,
        "{what}: the balance index disagrees with a scan"
    );
    for doc in &stored {
        let (found, _) = find(store, &accounts(), json!({"balance": doc["balance"]})).await;
        assert!(
            found.contains(doc),
            "{what}: {doc} not found by its balance"
        );
    }
    let (entries, _) = find(store, &ledger(), json!({})).await;
    for account in ACCOUNTS {
        let (by_index, index) = find(store, &ledger(), json!({"from": account})).await;
        assert_eq!(index.as_deref(), Some("from"), "{what}");
        let scanned: Vec<Value> = entries
            .iter()
            .filter(|entry| entry["from"] == account)
            .cloned()
            .collect();
        assert_eq!(
            by_index, scanned,
            "{what}: the ledger index disagrees with a scan"
        );
    }
    there
}

/// Runs every crash point of `cut` in turn; returns how many there were.
async fn every_crash_point(callers: Callers, cut: impl Fn(u64) -> PowerCut) -> u64 {
    for n in 1..MAX_CRASH_POINTS {
        if !run(callers, cut(n), n).await {
            assert!(n > TRANSFERS, "the transfers wrote too little to cut: {n}");
            return n - 1;
        }
    }
    panic!("the transfers never finished within {MAX_CRASH_POINTS} mutating calls");
}

#[tokio::test]
async fn a_power_cut_keeps_every_acknowledged_transaction_whole() {
    let points = every_crash_point(Callers::OneByOne, |_| PowerCut::Clean).await;
    println!("{points} crash points, unsynced writes lost");
}

#[tokio::test]
async fn a_power_cut_keeps_every_acknowledged_transaction_of_a_group_commit() {
    let concurrent = Callers::Concurrent(4);
    let clean = every_crash_point(concurrent, |_| PowerCut::Clean).await;
    let torn = every_crash_point(concurrent, |n| PowerCut::Torn { seed: n }).await;
    println!("{clean} crash points (unsynced writes lost), {torn} (torn), 4 callers at once");
}

#[tokio::test]
async fn a_power_cut_tearing_unsynced_writes_keeps_every_transaction_whole() {
    let points = every_crash_point(Callers::OneByOne, |n| PowerCut::Torn { seed: n }).await;
    println!("{points} crash points, unsynced writes torn");
}
