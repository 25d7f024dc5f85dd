//! The credit system's promises under crashes and crafted ids, end to end
//! over real HTTP with the real `user_management` and `wallet` guests on the
//! embedded database: transfers survive SIGKILL without making or losing a
//! credit, ids holding an encoded `?`, `/` or `#` never reach another route,
//! and reading a balance never writes.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use modhost_docstore::{EmbeddedStore, Filter, Limits, QueryBudget, Scope};
use serde_json::{Value, json};
use support::{Modhost, temp_dir, try_http_request, write_config};

const INITIAL_CREDITS: i64 = 100;
const USER_COUNT: usize = 7;

fn users() -> Vec<String> {
    (1..=USER_COUNT).map(|n| format!("u{n}")).collect()
}

/// `user_management` with the test's users, and `wallet`.
fn credit_system() -> String {
    support::credit_system(&users(), INITIAL_CREDITS)
}

/// Every transfer in `user`'s history, paged.
fn history(modhost: &Modhost, user: &str) -> Vec<Value> {
    modhost
        .as_user(user)
        .all_pages(&format!("/wallet/{user}/transactions"), "transactions")
}

/// Checks the books: no balance negative, the total what the users started
/// with, and each balance the initial credits plus what the recorded
/// transfers brought in minus what they took out (the record is written in
/// the same transaction as the balances). Returns the transfers recorded.
fn check_the_books(modhost: &Modhost, round: usize) -> u64 {
    let mut total = 0;
    let mut recorded = 0;
    for user in users() {
        let wallet = modhost.as_user(&user).get(&format!("/wallet/{user}"));
        wallet.expect_status(200);
        let balance = wallet.json()["balance"].as_i64().unwrap();
        assert!(
            balance >= 0,
            "round {round}: {user} is overdrawn: {balance}"
        );
        total += balance;
        let mut expected = INITIAL_CREDITS;
        let transfers = history(modhost, &user);
        for transfer in &transfers {
            let amount = transfer["amount"].as_i64().unwrap();
            if transfer["from"] == user.as_str() {
                expected -= amount;
                recorded += 1;
            } else {
                assert_eq!(transfer["to"], user.as_str(), "{transfer}");
                expected += amount;
            }
        }
        assert_eq!(
            balance,
            expected,
            "round {round}: {user}'s balance disagrees with the {} transfers recorded",
            transfers.len()
        );
    }
    assert_eq!(
        total,
        INITIAL_CREDITS * USER_COUNT as i64,
        "round {round}: credits were made or lost"
    );
    recorded
}

/// 32 clients transfer between the users until the runtime is killed;
/// returns how many transfers were acknowledged.
fn transfer_until_killed(modhost: &mut Modhost, round: usize) -> u64 {
    let addr = modhost.addr;
    let killing = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..32u64)
        .map(|client| {
            let (killing, acknowledged) = (killing.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                for n in 0u64.. {
                    let seed = client * 7919 + n * 104_729 + round as u64 * 31;
                    let from = format!("u{}", 1 + seed % USER_COUNT as u64);
                    let to = format!("u{}", 1 + (seed / 7 + 1 + seed) % USER_COUNT as u64);
                    if from == to {
                        continue;
                    }
                    let amount = 1 + (seed / 3) % 40;
                    let body = json!({"from": from, "to": to, "amount": amount}).to_string();
                    let bearer = format!("Bearer {}", support::token(&from, &["user"]));
                    let headers = [
                        ("content-type", "application/json"),
                        ("authorization", bearer.as_str()),
                    ];
                    let sent = try_http_request(
                        addr,
                        "POST",
                        "/wallet/transfer",
                        &headers,
                        body.as_bytes(),
                    );
                    match sent {
                        Ok(answer) if answer.status == 200 => {
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(answer) if answer.status == 409 => {}
                        Ok(answer) => panic!(
                            "round {round}: a transfer answered {}: {}",
                            answer.status,
                            String::from_utf8_lossy(&answer.body)
                        ),
                        // The runtime died under this request.
                        Err(err) => {
                            assert!(
                                killing.load(Ordering::SeqCst),
                                "round {round}: a transfer failed before the kill: {err}"
                            );
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    // Kill mid-load, once transfers are flowing.
    let started = Instant::now();
    while acknowledged.load(Ordering::Relaxed) < 150 && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    killing.store(true, Ordering::SeqCst);
    modhost.kill();
    for client in clients {
        client.join().unwrap();
    }
    acknowledged.load(Ordering::Relaxed)
}

/// The issue's finding: four rounds of "32 clients transferring, SIGKILL
/// the server, restart" used to take 700 credits to 628, 508, 391 and 298.
#[test]
fn sigkill_during_concurrent_transfers_never_makes_or_loses_a_credit() {
    let dir = temp_dir();
    let config = write_config(dir.path(), &credit_system());
    let mut recorded = 0;
    for round in 1..=4 {
        let mut modhost = Modhost::start_with(&config, dir.path());
        let acknowledged = transfer_until_killed(&mut modhost, round);
        assert!(
            acknowledged >= 150,
            "round {round}: only {acknowledged} transfers before the kill"
        );
        let restarted = Modhost::start_with(&config, dir.path());
        let now_recorded = check_the_books(&restarted, round);
        assert!(
            now_recorded >= recorded + acknowledged,
            "round {round}: {acknowledged} transfers were acknowledged but only {} more recorded",
            now_recorded - recorded
        );
        recorded = now_recorded;
    }
}

/// How many wallet documents the wallet module stored, read from the
/// database file after the runtime stopped.
async fn stored_wallets(db: &std::path::Path) -> u64 {
    let limits = Limits {
        max_document_bytes: 1 << 20,
        max_find_documents: 1000,
        max_query_bytes: 1 << 24,
        max_examined_documents: 1_000_000,
    };
    let store = EmbeddedStore::open(db, limits).unwrap();
    let wallets = Scope::new("default", "wallet")
        .unwrap()
        .collection("wallets")
        .unwrap();
    let everything = Filter::parse(&json!({})).unwrap();
    store
        .count(&wallets, everything, QueryBudget::default())
        .await
        .unwrap()
}

/// Route params arrive percent-decoded; the wallet puts them back into its
/// call to `user_management` with the SDK's `path!`, so an id holding `?`,
/// `/` or `#` is one unknown id (404), never a query, another route or
/// another user. No request here may write: not the refused transfers, and
/// not the balance reads, even of a known user without a wallet yet.
#[test]
fn ids_holding_an_encoded_query_slash_or_hash_reach_no_other_route_and_never_write() {
    let dir = temp_dir();
    let config = write_config(dir.path(), &credit_system());
    let mut modhost = Modhost::start_with(&config, dir.path());
    for forged in [
        "u1%3Fx",
        "u1%3F",
        "u1%2F..%2Fu2",
        "u1%23x",
        "%2E%2E",
        "u1%3Fid%3Du2",
    ] {
        let admin = modhost.as_admin();
        admin
            .get(&format!("/wallet/{forged}"))
            .expect_error(404, "no user with id");
        admin
            .get(&format!("/wallet/{forged}/transactions"))
            .expect_status(200);
    }
    for forged in ["u1?x", "u1?", "u1/../u2", "u1#x", "u2/", "u1%3Fx"] {
        for (from, to) in [(forged, "u2"), ("u2", forged)] {
            modhost
                .as_user(from)
                .post_json(
                    "/wallet/transfer",
                    &json!({"from": from, "to": to, "amount": 100}),
                )
                .expect_error(404, "no user with id");
        }
    }
    // A known user with no wallet yet reads the initial credits, and the
    // read stores nothing.
    let wallet = modhost.as_user("u3").get("/wallet/u3");
    wallet.expect_status(200);
    assert_eq!(wallet.json()["balance"], INITIAL_CREDITS);
    assert_eq!(
        modhost.as_user("u3").get("/wallet/u3").json()["balance"],
        INITIAL_CREDITS
    );
    modhost.kill();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = dir.path().join("data/modhost.redb");
    assert_eq!(runtime.block_on(stored_wallets(&db)), 0, "a read wrote");

    // The first transfer makes both wallets, in its transaction.
    let mut modhost = Modhost::start_with(&config, dir.path());
    modhost
        .as_user("u3")
        .post_json(
            "/wallet/transfer",
            &json!({"from": "u3", "to": "u4", "amount": 30}),
        )
        .expect_status(200);
    assert_eq!(
        modhost.as_user("u3").get("/wallet/u3").json()["balance"],
        70
    );
    assert_eq!(
        modhost.as_user("u4").get("/wallet/u4").json()["balance"],
        130
    );
    modhost.kill();
    assert_eq!(runtime.block_on(stored_wallets(&db)), 2);
}

/// A transfer the sender cannot pay is refused as a whole: no wallet is
/// made, no history is written, nothing moves.
#[test]
fn a_refused_transfer_changes_nothing() {
    let dir = temp_dir();
    let config = write_config(dir.path(), &credit_system());
    let mut modhost = Modhost::start_with(&config, dir.path());
    modhost
        .as_user("u5")
        .post_json(
            "/wallet/transfer",
            &json!({"from": "u5", "to": "u6", "amount": INITIAL_CREDITS + 1}),
        )
        .expect_error(409, "u5 has fewer than 101 credits");
    assert!(history(&modhost, "u5").is_empty());
    assert!(history(&modhost, "u6").is_empty());
    modhost.kill();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = dir.path().join("data/modhost.redb");
    assert_eq!(runtime.block_on(stored_wallets(&db)), 0);
}
