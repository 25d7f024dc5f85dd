//! The document database the config asks for: the embedded store or MongoDB.

use std::time::Duration;

use anyhow::{Result, anyhow};
use modhost_docstore::{DocumentStore, EmbeddedStore, Limits, MongoStore};

use crate::config::{DbBackend, RuntimeConfig};

/// Opens the document database `config` asks for. An error names the
/// config file and what to change.
pub(super) async fn open(config: &RuntimeConfig) -> Result<DocumentStore> {
    let file = config.source.display();
    let db = &config.db;
    let limits = Limits {
        max_document_bytes: db.max_document_bytes,
        max_find_documents: db.max_find_documents,
        max_query_bytes: db.max_query_bytes,
        max_examined_documents: db.max_examined_documents,
    };
    match db.backend {
        DbBackend::Embedded => {
            let path = config.db_path();
            let store = EmbeddedStore::open(&path, limits)
                .map_err(|why| anyhow!("{file}: db.path: {why}"))?;
            tracing::info!(path = %path.display(), "documents are kept in the embedded database");
            Ok(DocumentStore::Embedded(store))
        }
        DbBackend::Mongodb => {
            let uri = db.uri.as_deref().unwrap_or_default();
            let timeout = Duration::from_millis(db.timeout_ms);
            let store = MongoStore::connect(uri, &db.database_prefix, timeout, limits)
                .await
                .map_err(|why| anyhow!("{file}: {why}"))?;
            tracing::info!("documents are kept in MongoDB");
            Ok(DocumentStore::Mongo(store))
        }
    }
}
