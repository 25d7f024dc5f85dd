//! Compiled components kept on disk, so a start-up compiles only what
//! changed. An entry is keyed by the SHA-256 of the component and the
//! engine's compatibility hash (wasmtime's settings, version and target),
//! and stored with the SHA-256 of the compiled bytes beside it. Loading a
//! compiled component is `unsafe` in wasmtime (the bytes are trusted as
//! native code it made), so an entry is loaded only when its bytes match
//! the hash beside them; a missing, corrupted, stale or unreadable entry is
//! compiled again and rewritten, never trusted.

use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// `[compile_cache]`: where compiled components are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompileCacheConfig {
    /// Whether compiled components are kept at all.
    pub enabled: bool,
    /// The folder, relative to the config file.
    pub path: PathBuf,
}

impl Default for CompileCacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            path: PathBuf::from("data/compile-cache"),
        }
    }
}

/// The cache of one engine: a folder, or nothing when disabled.
#[derive(Debug, Clone)]
pub struct CompileCache {
    folder: Option<PathBuf>,
}

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Loaded from a verified cache entry.
    Cache,
    /// Compiled now (and, with the cache on, stored).
    Compiled,
}

impl CompileCache {
    /// The cache `config` asks for, its folder resolved against `folder`.
    pub fn new(config: &CompileCacheConfig, folder: &Path) -> CompileCache {
        CompileCache {
            folder: config.enabled.then(|| folder.join(&config.path)),
        }
    }

    /// The component of `bytes` for `engine`: from a verified entry, else
    /// compiled (and stored). Runs on the blocking pool's thread it is
    /// called from: it reads, hashes and compiles.
    pub fn load_or_compile(&self, engine: &Engine, bytes: &[u8]) -> Result<(Component, Origin)> {
        let Some(folder) = &self.folder else {
            return Ok((Component::new(engine, bytes)?, Origin::Compiled));
        };
        let entry = Entry::of(folder, engine, bytes);
        match entry.load(engine) {
            Ok(Some(component)) => return Ok((component, Origin::Cache)),
            Ok(None) => {}
            Err(why) => {
                tracing::warn!(entry = %entry.compiled.display(), "compile cache entry not used, compiling again: {why:#}")
            }
        }
        let compiled = engine.precompile_component(bytes)?;
        if let Err(why) = entry.store(&compiled) {
            tracing::warn!(folder = %folder.display(), "cannot keep the compiled component: {why:#}");
        }
        // Safety: these bytes were made by `precompile_component` of this
        // very engine just now. They are loaded from memory this once; the
        // next start maps the entry.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, Origin::Compiled))
    }
}

/// One entry's files.
struct Entry {
    compiled: PathBuf,
    hash: PathBuf,
}

impl Entry {
    fn of(folder: &Path, engine: &Engine, bytes: &[u8]) -> Entry {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let key = format!("{}-{:016x}", hex(&Sha256::digest(bytes)), hasher.finish());
        Entry {
            compiled: folder.join(format!("{key}.cwasm")),
            hash: folder.join(format!("{key}.sha256")),
        }
    }

    /// The entry's component when both files are there and agree; `None`
    /// when there is no entry; an error when there is one that cannot be
    /// used.
    fn load(&self, engine: &Engine) -> Result<Option<Component>> {
        let (file, compiled, expected) = match (
            read_open(&self.compiled),
            std::fs::read_to_string(&self.hash),
        ) {
            (Ok((file, compiled)), Ok(expected)) => (file, compiled, expected),
            (Err(err), _) | (_, Err(err)) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None);
            }
            (Err(err), _) | (_, Err(err)) => return Err(err).context("cannot read the entry"),
        };
        let actual = hex(&Sha256::digest(&compiled));
        if actual != expected.trim() {
            anyhow::bail!("its bytes do not match the hash beside them (corrupted or changed)");
        }
        // Safety: the bytes are those this cache stored, as their hash
        // shows, made by `precompile_component` of an engine with the same
        // compatibility hash (part of the key); wasmtime checks the
        // engine's settings again as it loads them. The file is mapped
        // through the handle its bytes were just read and checked from
        // (`/proc/self/fd`), so a rename in between cannot swap it; mapped,
        // not copied, its pages are clean page cache, shared and
        // reclaimable, not the host's anonymous memory. Where the file
        // cannot be mapped executable (a `noexec` folder), the checked
        // bytes are loaded from memory. The folder must be writable by the
        // host's user alone: anyone who can write it can write a matching
        // hash too.
        let handle = format!("/proc/self/fd/{}", file.as_raw_fd());
        let component = unsafe { Component::deserialize_file(engine, &handle) }
            .or_else(|why| {
                tracing::warn!(entry = %self.compiled.display(), "compile cache entry not mapped, loaded from memory: {why:#}");
                unsafe { Component::deserialize(engine, &compiled) }
            })
            .map_err(|err| anyhow::anyhow!("wasmtime refused the entry: {err:#}"))?;
        Ok(Some(component))
    }

    /// Writes the entry: each file to a temporary name, then renamed, the
    /// hash last, so a reader never sees a hash without its bytes.
    fn store(&self, compiled: &[u8]) -> Result<()> {
        let folder = self.compiled.parent().expect("an entry is in a folder");
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot make {}", folder.display()))?;
        write_then_rename(&self.compiled, compiled)?;
        write_then_rename(&self.hash, hex(&Sha256::digest(compiled)).as_bytes())
    }
}

/// Opens `path` and reads it whole, keeping the handle.
fn read_open(path: &Path) -> std::io::Result<(File, Vec<u8>)> {
    let mut file = File::open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok((file, bytes))
}

/// Writes `bytes` under a name of this write alone, then renames it to
/// `path`: two compiles of one component never share a temporary file.
fn write_then_rename(path: &Path, bytes: &[u8]) -> Result<()> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot rename to {}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
