//! Every distinct component file of a deployment, read and compiled (or
//! loaded from the compile cache) before any module loads: as many at once
//! as the machine has cores, and each file once however many tenants deploy
//! it, so a host of many modules starts in the time its cores need, and
//! modules that share a file share its compiled code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::compile_cache::{CompileCache, Origin};
use crate::config::RuntimeConfig;
use crate::host_status::LoadProgress;

/// The first 8 bytes of a component (`\0asm`, version 0x0d, layer 1).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
/// The first 8 bytes of a core WebAssembly module.
const CORE_MODULE_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/// Each component file's compiled component, or why it has none (written
/// for the operator, naming the file as the config does).
pub struct CompiledComponents {
    by_path: HashMap<PathBuf, Result<Component, String>>,
    /// Each compiled component by the SHA-256 of its file's bytes, for the
    /// next reload to take as it is.
    by_digest: HashMap<Digest, Component>,
}

/// The SHA-256 of a component file's bytes.
type Digest = [u8; 32];

/// One file to compile, and the first module that deploys it (for the log).
struct Job {
    path: PathBuf,
    shown: PathBuf,
    module: String,
    deployments: usize,
}

impl CompiledComponents {
    /// Compiles every component the `views` (one per tenant) deploy; a
    /// file whose bytes `reusable` (the set being served) has compiled
    /// already is taken from there.
    pub async fn compile(
        views: &[RuntimeConfig],
        engine: &Engine,
        cache: &CompileCache,
        progress: &LoadProgress,
        reusable: Option<&CompiledComponents>,
    ) -> CompiledComponents {
        let reusable: Arc<HashMap<Digest, Component>> =
            Arc::new(reusable.map(|r| r.by_digest.clone()).unwrap_or_default());
        let mut jobs: HashMap<PathBuf, Job> = HashMap::new();
        for view in views {
            for (name, module) in &view.modules {
                let path = view.module_path(module);
                jobs.entry(path.clone())
                    .or_insert_with(|| Job {
                        path,
                        shown: view.shown_module_path(module),
                        module: view.module_key(name),
                        deployments: 0,
                    })
                    .deployments += 1;
            }
        }
        // wasmtime compiles one component's functions in parallel too;
        // one component per core keeps the cores busy between them.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let seats = Arc::new(Semaphore::new(cores));
        let modules = views.iter().map(|view| view.modules.len()).sum();
        progress.start(jobs.len(), modules);
        let mut running = JoinSet::new();
        let mut paths = HashMap::new();
        for job in jobs.into_values() {
            let (engine, cache, seats) = (engine.clone(), cache.clone(), seats.clone());
            let reusable = reusable.clone();
            let path = job.path.clone();
            let task = running.spawn(async move {
                let _seat = seats.acquire_owned().await.expect("never closed");
                compile_one(&job, engine, cache, &reusable).await
            });
            paths.insert(task.id(), path);
        }
        let mut by_path = HashMap::new();
        let mut by_digest = HashMap::new();
        while let Some(done) = running.join_next_with_id().await {
            let (id, compiled) = match done {
                Ok((id, compiled)) => (id, compiled),
                Err(err) => (
                    err.id(),
                    Err(format!("its compile task ended early: {err}")),
                ),
            };
            let compiled = compiled.map(|(component, digest)| {
                by_digest.insert(digest, component.clone());
                component
            });
            by_path.insert(
                paths.remove(&id).expect("every task has its path"),
                compiled,
            );
            progress.one_done();
        }
        CompiledComponents { by_path, by_digest }
    }

    /// The component at `path` (as `RuntimeConfig::module_path` gives it).
    pub fn get(&self, path: &Path) -> Result<Component, String> {
        match self.by_path.get(path) {
            Some(compiled) => compiled.clone(),
            None => Err(format!("{} was not compiled", path.display())),
        }
    }
}

/// Reads, checks and compiles one file (or takes it from `reusable`); the
/// error names it as shown.
async fn compile_one(
    job: &Job,
    engine: Engine,
    cache: CompileCache,
    reusable: &HashMap<Digest, Component>,
) -> Result<(Component, Digest), String> {
    let shown = job.shown.display();
    let bytes = tokio::fs::read(&job.path).await.map_err(|err| {
        format!("cannot read {shown}: {err}; build the guests (`just guests`) or fix the path")
    })?;
    let digest: Digest = Sha256::digest(&bytes).into();
    if let Some(component) = reusable.get(&digest) {
        crate::metrics::host().component("reused");
        tracing::info!(module = %job.module, "component unchanged; not compiled again");
        return Ok((component.clone(), digest));
    }
    check_is_component(&bytes, &job.shown)?;
    let (component, origin) = tokio::task::spawn_blocking(move || {
        cache.load_or_compile(&engine, &bytes)
    })
    .await
    .map_err(|err| format!("compiling {shown} panicked: {err}"))?
    .map_err(|err| match format!("{err:#}") {
        // wasmtime checks a component against the pool's slot
        // shape as it compiles it.
        err if err.contains("in the pooling allocator") => format!(
            "{shown} needs more than one instance slot holds: {err}; raise the counts under [pool]"
        ),
        err => format!("{shown} does not compile: {err}"),
    })?;
    let (module, deployments) = (&job.module, job.deployments);
    match origin {
        Origin::Cache => {
            crate::metrics::host().component("cached");
            tracing::info!(module = %module, deployments, "component loaded from the compile cache");
        }
        Origin::Compiled => {
            crate::metrics::host().component("compiled");
            tracing::info!(module = %module, deployments, "component compiled");
        }
    }
    Ok((component, digest))
}

fn check_is_component(bytes: &[u8], source: &Path) -> Result<(), String> {
    match bytes.get(..8) {
        Some(header) if header == COMPONENT_HEADER => Ok(()),
        Some(header) if header == CORE_MODULE_HEADER => Err(format!(
            "{} is a core WebAssembly module, not a component; link it with wasm-component-ld (or `wasm-tools component new`), or build for wasm32-wasip2",
            source.display()
        )),
        _ => Err(format!(
            "{} is not a WebAssembly component (it does not start with the component header)",
            source.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_modules_and_other_files_are_told_apart() {
        let core = check_is_component(&CORE_MODULE_HEADER, Path::new("x.wasm")).unwrap_err();
        assert!(core.contains("core WebAssembly module"), "{core}");
        let text = check_is_component(b"hello world", Path::new("x.wasm")).unwrap_err();
        assert!(text.contains("not a WebAssembly component"), "{text}");
        assert!(check_is_component(&COMPONENT_HEADER, Path::new("x.wasm")).is_ok());
    }
}
