//! Group commit in the embedded store, watched from its disk: writes that
//! wait while another is being synced share the next sync; each caller
//! hears only of its own write's failure; a batch has a bounded size; and a
//! write whose caller left while it waited is never applied.
//!
//! The disk holds every sync until the test opens it, so the test knows
//! which writes wait together.

mod common;

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{LIMITS, NO_DEADLINE};
use modhost_docstore::{
    DbError, DocumentStore, EmbeddedStore, Filter, MAX_BATCH_WRITES, Matches, Namespace, Scope,
    Sort, Upsert, Write, WriteAction,
};
use redb::StorageBackend;
use redb::backends::InMemoryBackend;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// How long the test lets spawned callers take to queue their writes.
const QUEUEING: Duration = Duration::from_millis(200);

/// A disk in memory that counts syncs and, while held, keeps a sync from
/// finishing (the writer waits in it). A durable commit syncs, and so does
/// a write that grows the file.
#[derive(Debug, Clone, Default)]
struct HeldDisk(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    memory: InMemoryBackend,
    state: Mutex<SyncState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    held: bool,
    waiting: bool,
    syncs: u64,
    /// The disk as the last sync left it: what a power cut would keep.
    durable: Vec<u8>,
}

impl HeldDisk {
    /// A disk holding `image`.
    fn holding(image: &[u8]) -> HeldDisk {
        let disk = HeldDisk::default();
        disk.0.memory.set_len(image.len() as u64).unwrap();
        disk.0.memory.write(0, image).unwrap();
        disk
    }

    /// What a power cut now would leave on the disk.
    fn after_a_power_cut(&self) -> HeldDisk {
        HeldDisk::holding(&self.state().durable)
    }

    fn state(&self) -> MutexGuard<'_, SyncState> {
        self.0.state.lock().unwrap()
    }

    fn syncs(&self) -> u64 {
        self.state().syncs
    }

    fn hold(&self) {
        self.state().held = true;
    }

    fn release(&self) {
        self.state().held = false;
        self.0.changed.notify_all();
    }

    /// Waits until a sync is held.
    async fn until_a_sync_waits(&self) {
        let started = Instant::now();
        while !self.state().waiting {
            assert!(started.elapsed() < Duration::from_secs(10), "no sync came");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl StorageBackend for HeldDisk {
    fn len(&self) -> io::Result<u64> {
        self.0.memory.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.0.memory.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.memory.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut state = self.state();
        state.waiting = true;
        while state.held {
            state = self.0.changed.wait(state).unwrap();
        }
        state.waiting = false;
        state.syncs += 1;
        let mut image = vec![0; self.0.memory.len()? as usize];
        self.0.memory.read(0, &mut image)?;
        state.durable = image;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.memory.write(offset, data)
    }
}

fn items() -> Namespace {
    Scope::new("shop", "app")
        .unwrap()
        .collection("items")
        .unwrap()
}

fn open() -> (HeldDisk, DocumentStore) {
    let disk = HeldDisk::default();
    let store = EmbeddedStore::with_backend(disk.clone(), LIMITS).unwrap();
    (disk, DocumentStore::Embedded(store))
}

fn insert(store: &DocumentStore, id: &str) -> JoinHandle<Result<(), DbError>> {
    let (store, doc) = (store.clone(), json!({"_id": id}));
    tokio::spawn(async move {
        store.insert(&items(), vec![doc], NO_DEADLINE).await?;
        Ok(())
    })
}

/// Waits until the writes started so far are queued.
async fn queued() {
    tokio::time::sleep(QUEUEING).await;
}

/// The `_id`s stored, in order.
async fn stored(store: &DocumentStore) -> Vec<String> {
    let sort = Sort::parse(Some(&json!({"_id": 1}))).unwrap();
    let DocumentStore::Embedded(embedded) = store else {
        unreachable!()
    };
    let filter = Filter::parse(&json!({})).unwrap();
    let found = embedded
        .find(&items(), filter, sort, (0, None), None, NO_DEADLINE)
        .await
        .unwrap();
    found
        .docs
        .iter()
        .map(|doc| doc["_id"].as_str().unwrap().to_string())
        .collect()
}

/// How many syncs one durable write makes on this disk.
async fn syncs_per_commit(disk: &HeldDisk, store: &DocumentStore) -> u64 {
    let before = disk.syncs();
    insert(store, "first").await.unwrap().unwrap();
    disk.syncs() - before
}

/// Holds the writer in the sync of a write of its own, so the writes
/// started next wait together.
async fn hold_the_writer(
    disk: &HeldDisk,
    store: &DocumentStore,
) -> JoinHandle<Result<(), DbError>> {
    disk.hold();
    let holder = insert(store, "holder");
    disk.until_a_sync_waits().await;
    holder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_wait_together_share_one_sync_and_keep_their_own_failures() {
    let (disk, store) = open();
    let per_commit = syncs_per_commit(&disk, &store).await;
    assert!(per_commit > 0);

    let holder = hold_the_writer(&disk, &store).await;
    let fine: Vec<_> = ["b", "c", "d", "e"].map(|id| insert(&store, id)).into();
    let twins = [insert(&store, "twin"), insert(&store, "twin")];
    let taken = insert(&store, "first");
    let unmet = {
        let store = store.clone();
        tokio::spawn(async move {
            let write = |id: &str, expect| Write {
                collection: items(),
                action: WriteAction::Update {
                    filter: json!({"_id": id}),
                    update: json!({"$set": {"seen": true}}),
                    which: Matches::First,
                    upsert: Upsert::Yes,
                },
                expect_matched: expect,
            };
            let writes = vec![write("f", None), write("nobody", Some(1))];
            store.transact(writes, NO_DEADLINE).await
        })
    };
    queued().await;
    let before = disk.syncs();
    disk.release();
    holder.await.unwrap().unwrap();

    for answer in fine {
        answer.await.unwrap().unwrap();
    }
    let [one, other] = twins;
    let twins = [one.await.unwrap(), other.await.unwrap()];
    assert_eq!(
        twins.iter().filter(|answer| answer.is_ok()).count(),
        1,
        "of two inserts of one _id, exactly one succeeds: {twins:?}"
    );
    assert!(
        twins
            .iter()
            .any(|answer| matches!(answer, Err(DbError::DuplicateKey(_))))
    );
    assert!(matches!(
        taken.await.unwrap(),
        Err(DbError::DuplicateKey(_))
    ));
    let unmet = unmet.await.unwrap().unwrap_err();
    assert_eq!(unmet.index, Some(1), "{unmet:?}");
    assert!(
        matches!(unmet.error, DbError::ExpectationFailed(_)),
        "{unmet:?}"
    );

    // The holder's sync, then one for all eight that waited (and perhaps
    // one more where the file grew), not one each.
    let syncs = disk.syncs() - before;
    assert!(syncs <= 3 * per_commit, "nine writes made {syncs} syncs");
    assert_eq!(
        stored(&store).await,
        ["b", "c", "d", "e", "first", "holder", "twin"],
        "the failed writes, and only they, left nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_holds_at_most_its_bound_of_writes() {
    let (disk, store) = open();
    let per_commit = syncs_per_commit(&disk, &store).await;
    let holder = hold_the_writer(&disk, &store).await;
    let waiting = 3 * MAX_BATCH_WRITES;
    let writes: Vec<_> = (0..waiting)
        .map(|n| insert(&store, &format!("w{n:03}")))
        .collect();
    queued().await;
    let before = disk.syncs();
    disk.release();
    holder.await.unwrap().unwrap();
    for write in writes {
        write.await.unwrap().unwrap();
    }
    // The holder's sync, then one a batch (and one where the file grew).
    let syncs = (disk.syncs() - before) / per_commit;
    assert!(
        (4..waiting as u64 / 4).contains(&syncs),
        "{waiting} waiting writes made {syncs} syncs"
    );
    assert_eq!(stored(&store).await.len(), waiting + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_caller_left_while_it_waited_is_not_applied() {
    let (disk, store) = open();
    let holder = hold_the_writer(&disk, &store).await;
    let left = insert(&store, "left");
    let stayed = insert(&store, "stayed");
    queued().await;
    left.abort();
    assert!(left.await.unwrap_err().is_cancelled());
    disk.release();
    holder.await.unwrap().unwrap();
    stayed.await.unwrap().unwrap();
    assert_eq!(stored(&store).await, ["holder", "stayed"]);
    let ids: Vec<Value> = vec![json!({"_id": "after"})];
    store.insert(&items(), ids, NO_DEADLINE).await.unwrap();
    assert_eq!(stored(&store).await, ["after", "holder", "stayed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_last_write_fails_is_made_durable_all_the_same() {
    let (disk, store) = open();
    insert(&store, "taken").await.unwrap().unwrap();
    let holder = hold_the_writer(&disk, &store).await;
    // In this order: the batch's last write is the one that fails.
    let kept = insert(&store, "kept");
    queued().await;
    let refused = insert(&store, "taken");
    queued().await;
    disk.release();
    holder.await.unwrap().unwrap();
    kept.await.unwrap().unwrap();
    assert!(matches!(
        refused.await.unwrap(),
        Err(DbError::DuplicateKey(_))
    ));
    // What the disk kept is what was acknowledged.
    let survivor = EmbeddedStore::with_backend(disk.after_a_power_cut(), LIMITS).unwrap();
    let survivor = DocumentStore::Embedded(survivor);
    assert_eq!(stored(&survivor).await, ["holder", "kept", "taken"]);
}
