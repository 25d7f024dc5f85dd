//! The version of the file's encoding, kept in the `meta` table, so a
//! runtime never reads keys it would misread: an older file is migrated on
//! open, a newer one refused.
//!
//! Versions: 1, files written before the version was stored, keyed numbers
//! by their `f64` (9-byte keys); 2, every `i64` keyed exactly (17 bytes).

use redb::{Database, ReadableDatabase, TableDefinition, TableError};

use super::rekey;

/// `"format" -> version`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The row of [`META`] holding the version.
const FORMAT: &str = "format";

/// The version this code writes and reads.
pub const CURRENT: u64 = 2;

/// The version of a file that has no version row: numbers keyed as `f64`.
const F64_KEYS: u64 = 1;

/// Brings the database `name` to [`CURRENT`]: nothing when it is there, a
/// migration in one write transaction when it is older (a new, empty file
/// just gets the version), an error when it is newer than this code.
pub fn prepare(db: &Database, name: &str) -> Result<(), String> {
    let failed = |err: &dyn std::fmt::Display| {
        format!("cannot read the format version of the database {name}: {err}")
    };
    let stored = {
        let txn = db.begin_read().map_err(|err| failed(&err))?;
        match txn.open_table(META) {
            Ok(table) => table
                .get(FORMAT)
                .map_err(|err| failed(&err))?
                .map(|v| v.value()),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(err) => return Err(failed(&err)),
        }
    };
    match stored.unwrap_or(F64_KEYS) {
        CURRENT => Ok(()),
        F64_KEYS => upgrade(db, name),
        newer if newer > CURRENT => Err(format!(
            "the database {name} is in format version {newer}, but this runtime reads version {CURRENT} (and migrates older ones); run a newer modhost on it, or restore a backup made by this version"
        )),
        unknown => Err(format!(
            "the database {name} says it is in format version {unknown}, which no modhost wrote; restore a backup"
        )),
    }
}

/// Re-keys a version-1 file and stores the current version, all in one
/// write transaction: a crash or an error leaves the file as it was.
fn upgrade(db: &Database, name: &str) -> Result<(), String> {
    let failed = |err: &dyn std::fmt::Display| {
        format!(
            "cannot migrate the database {name} from format version {F64_KEYS} to {CURRENT}: {err}. The file is unchanged; restore a backup, or report this with the file"
        )
    };
    let txn = db.begin_write().map_err(|err| failed(&err))?;
    let migrated = rekey::exact_number_keys(&txn).map_err(|err| failed(&err))?;
    let mut meta = txn.open_table(META).map_err(|err| failed(&err))?;
    meta.insert(FORMAT, CURRENT).map_err(|err| failed(&err))?;
    drop(meta);
    txn.commit().map_err(|err| failed(&err))?;
    if migrated.collections > 0 {
        tracing::info!(
            database = name,
            collections = migrated.collections,
            documents = migrated.documents,
            indexes = migrated.indexes,
            scopes = migrated.scopes,
            "migrated the database from format version {F64_KEYS} (f64 number keys) to {CURRENT} (exact integer keys)"
        );
    }
    Ok(())
}
