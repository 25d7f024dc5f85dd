//! Transfers per second on the embedded store: the wallet's transaction
//! (make both wallets if missing, conditional debit, credit, history record:
//! five writes, one durable commit) next to the three separate writes the
//! wallet made before transactions (debit, credit, record: three commits,
//! and credits lost when a crash falls between them). Sequential, and from
//! 32 concurrent tasks.

use std::time::Instant;

use modhost_docstore::{
    DocumentStore, EmbeddedStore, Matches, Namespace, QueryBudget, Scope, Upsert, Write,
    WriteAction,
};
use serde_json::{Value, json};

use crate::db::LIMITS;
use crate::{per_second, row};

const ACCOUNTS: u64 = 16;
const NONE: QueryBudget = QueryBudget { deadline: None };

/// Measures and prints: `transfers` in all, for each way and concurrency.
pub fn run(transfers: u64) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let mut rates = Vec::new();
    for way in [Way::SeparateWrites, Way::Transaction] {
        rates.push([1, 32].map(|tasks| runtime.block_on(measure(way, tasks, transfers))));
    }
    println!("embedded db, {transfers} wallet transfers");
    println!("{:<28}{:>14}{:>14}", "", "1 task", "32 tasks");
    row("3 separate writes (before)", &rates[0]);
    row("1 transaction of 5 writes", &rates[1]);
    let ratios: Vec<f64> = rates[1].iter().zip(&rates[0]).map(|(t, s)| t / s).collect();
    print!("{:<28}", "ratio transaction / before");
    for ratio in ratios {
        print!("{ratio:>14.2}");
    }
    println!();
}

#[derive(Clone, Copy)]
enum Way {
    SeparateWrites,
    Transaction,
}

struct Wallets {
    store: DocumentStore,
    wallets: Namespace,
    history: Namespace,
}

async fn measure(way: Way, tasks: u64, transfers: u64) -> f64 {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = EmbeddedStore::open(&dir.path().join("bench.redb"), LIMITS).expect("the store");
    let scope = Scope::new("default", "wallet").unwrap();
    let wallets = std::sync::Arc::new(Wallets {
        store: DocumentStore::Embedded(store),
        wallets: scope.collection("wallets").unwrap(),
        history: scope.collection("transactions").unwrap(),
    });
    let accounts = (0..ACCOUNTS).map(|n| json!({"_id": format!("u{n}"), "balance": 1_000_000}));
    let inserted = wallets
        .store
        .insert(&wallets.wallets, accounts.collect(), NONE);
    inserted.await.unwrap();
    let started = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|task| {
            let wallets = wallets.clone();
            tokio::spawn(async move {
                for n in (task..transfers).step_by(tasks as usize) {
                    let from = format!("u{}", n % ACCOUNTS);
                    let to = format!("u{}", (n + 1 + n / ACCOUNTS) % ACCOUNTS);
                    if from != to {
                        wallets.transfer(way, &from, &to, 1 + n % 7).await;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    per_second(transfers, started.elapsed())
}

impl Wallets {
    async fn transfer(&self, way: Way, from: &str, to: &str, amount: u64) {
        let debit = json!({"_id": from, "balance": {"$gte": amount}});
        let credit = json!({"_id": to});
        let record = json!({"from": from, "to": to, "parties": [from, to], "amount": amount});
        let inc = |by: i64| json!({"$inc": {"balance": by}});
        let amount = amount as i64;
        match way {
            Way::SeparateWrites => {
                let update = |filter: &Value, by| {
                    let update = inc(by);
                    let filter = filter.clone();
                    async move {
                        let done = self.store.update(
                            &self.wallets,
                            &filter,
                            &update,
                            Matches::First,
                            Upsert::No,
                            NONE,
                        );
                        assert_eq!(done.await.unwrap().modified, 1);
                    }
                };
                update(&debit, -amount).await;
                update(&credit, amount).await;
                let recorded = self.store.insert(&self.history, vec![record], NONE);
                recorded.await.unwrap();
            }
            Way::Transaction => {
                let initial = json!({"$setOnInsert": {"balance": 100}});
                let write = |collection: &Namespace, action, expect_matched| Write {
                    collection: collection.clone(),
                    action,
                    expect_matched,
                };
                let update = |filter: &Value, update: Value, upsert| WriteAction::Update {
                    filter: filter.clone(),
                    update,
                    which: Matches::First,
                    upsert,
                };
                let writes = vec![
                    write(
                        &self.wallets,
                        update(&json!({"_id": from}), initial.clone(), Upsert::Yes),
                        None,
                    ),
                    write(&self.wallets, update(&credit, initial, Upsert::Yes), None),
                    write(
                        &self.wallets,
                        update(&debit, inc(-amount), Upsert::No),
                        Some(1),
                    ),
                    write(
                        &self.wallets,
                        update(&credit, inc(amount), Upsert::No),
                        Some(1),
                    ),
                    write(&self.history, WriteAction::Insert(record), None),
                ];
                self.store.transact(writes, NONE).await.unwrap();
            }
        }
    }
}
