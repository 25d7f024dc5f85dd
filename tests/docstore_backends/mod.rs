//! The backends every docstore suite runs on: each check, a function of a
//! store and a scope, runs on a fresh embedded store and, ignored unless
//! the run asks for it (as `just test` does when
//! `MODHOST_TEST_MONGODB_URI` is set), on a MongoDB server.

#![allow(dead_code)] // Each suite uses its own part.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use modhost_docstore::{DocumentStore, EmbeddedStore, Limits, MongoStore, QueryBudget, Scope};

/// The limits every suite's stores run under.
pub const LIMITS: Limits = Limits {
    max_document_bytes: 4096,
    max_find_documents: 50,
    max_query_bytes: 64 * 1024,
    max_examined_documents: 10_000,
};

/// The budget of a call with no deadline.
pub const NO_DEADLINE: QueryBudget = QueryBudget { deadline: None };

/// The MongoDB database prefix of test runs.
const MONGO_PREFIX: &str = "modhost_test";

static NEXT_TENANT: AtomicU32 = AtomicU32::new(0);

/// A tenant name of its own for each check in this process.
pub fn fresh_tenant() -> String {
    format!(
        "t{}-{}",
        std::process::id(),
        NEXT_TENANT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `check` on a fresh embedded store, in a fresh tenant.
pub async fn on_embedded<F, Fut>(check: F)
where
    F: FnOnce(DocumentStore, Scope) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(&dir.path().join("db.redb"), LIMITS).unwrap();
    check(
        DocumentStore::Embedded(embedded),
        Scope::new(&fresh_tenant(), "suite").unwrap(),
    )
    .await;
}

/// Runs `check` on the MongoDB server `MODHOST_TEST_MONGODB_URI` names, in
/// a fresh tenant whose database is dropped afterwards.
pub async fn on_mongodb<F, Fut>(check: F)
where
    F: FnOnce(DocumentStore, Scope) -> Fut,
    Fut: Future<Output = ()>,
{
    let uri = std::env::var("MODHOST_TEST_MONGODB_URI").expect(
        "the MongoDB checks need MODHOST_TEST_MONGODB_URI (`just test` runs them when it is set)",
    );
    let store = MongoStore::connect(&uri, MONGO_PREFIX, Duration::from_secs(10), LIMITS)
        .await
        .unwrap();
    let tenant = fresh_tenant();
    check(
        DocumentStore::Mongo(store),
        Scope::new(&tenant, "suite").unwrap(),
    )
    .await;
    let client = ::mongodb::Client::with_uri_str(&uri).await.unwrap();
    client
        .database(&format!("{MONGO_PREFIX}_{tenant}"))
        .drop()
        .await
        .unwrap();
}

/// Each check, a function of a store and a scope, becomes two tests:
/// `embedded::<check>`, always run, and `mongodb::<check>`, ignored (so an
/// absent server shows as skipped, never as passed) unless the test run
/// asks for ignored tests, as `just test` does when
/// `MODHOST_TEST_MONGODB_URI` is set.
#[macro_export]
macro_rules! on_every_backend {
    ($($check:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $check() {
                    $crate::docstore_backends::on_embedded(super::$check).await;
                }
            )*
        }
        mod mongodb {
            $(
                #[tokio::test]
                #[ignore = "needs a MongoDB server: set MODHOST_TEST_MONGODB_URI"]
                async fn $check() {
                    $crate::docstore_backends::on_mongodb(super::$check).await;
                }
            )*
        }
    };
}
