//! `modhost serve --watch`: once a second, looks at the config file and
//! every component file it deploys (modification time and size); when one
//! has changed and then stays the same for a moment (a copy has finished),
//! asks for a reload. Polling rather than inotify (the `notify` crate):
//! Kubernetes updates a mounted ConfigMap by swapping a symlink, which a
//! watch on the file misses, and a poll of a few dozen files a second
//! costs nothing measurable.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::config::RuntimeConfig;
use crate::reload::ReloadRequest;

/// How often the files are looked at.
const POLL: Duration = Duration::from_secs(1);
/// How long a change must hold before it is reloaded.
const SETTLE: Duration = Duration::from_millis(300);

/// What was seen of each watched file: none when it cannot be read.
type Fingerprint = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

/// Watches the config at `config_path` and its components until `reloads`
/// is closed.
pub async fn watch(config_path: PathBuf, reloads: mpsc::Sender<ReloadRequest>) {
    let mut seen = fingerprint(&config_path).await;
    let mut ticks = tokio::time::interval(POLL);
    loop {
        ticks.tick().await;
        let now = fingerprint(&config_path).await;
        if now == seen {
            continue;
        }
        tokio::time::sleep(SETTLE).await;
        if fingerprint(&config_path).await != now {
            continue; // still being written: look again at the next tick
        }
        seen = now;
        let request = ReloadRequest {
            cause: "a watched file changed",
            reply: None,
        };
        if reloads.send(request).await.is_err() {
            return;
        }
    }
}

/// The config file's and its components' times and sizes.
async fn fingerprint(config_path: &Path) -> Fingerprint {
    let config_path = config_path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut files = vec![config_path.clone()];
        if let Ok(config) = RuntimeConfig::load(&config_path) {
            for view in config.tenant_views() {
                files.extend(view.modules.values().map(|module| view.module_path(module)));
            }
        }
        files
            .into_iter()
            .map(|file| {
                let seen = std::fs::metadata(&file)
                    .ok()
                    .and_then(|meta| Some((meta.modified().ok()?, meta.len())));
                (file, seen)
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}
