//! `[modules.<name>.instance_reuse]`: an opt-in for heavy guests (a Python
//! or JavaScript interpreter costs about a millisecond to instantiate) to
//! serve several requests from one instance instead of a fresh one each.
//!
//! What it gives up: whatever the guest keeps in memory (globals, caches, a
//! heap a bug corrupted) outlives the request, so the next request of the
//! same principal may see it. Bounds: an instance serves only requests of
//! the principal of its first request (the token's subject and tenant, or
//! none), never another's, and its module's tenant only; it is retired
//! after `max_requests` requests, after `max_age_ms` (idle or not: a sweep
//! drops idle instances past their age), after any trap, timeout or CPU
//! limit, and after a call that used `wasi:http` (an outgoing request
//! must end with its call); idle instances count against the module's
//! `max_concurrency` (an idle one is dropped before a call would exceed it).
//! Only `handle` reuses instances; `init`, `health` and module calls' own
//! calls of other exports start fresh as always.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use serde::Deserialize;
use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, Instance, InstancePre};

use crate::bindings::{Request, Response};
use crate::host_state::HostState;
use crate::sandbox::{CallExport, GuestCall, GuestCallError, ModuleSandbox};

/// The most requests one instance may serve.
const MAX_REQUESTS: u32 = 100_000;
/// The longest one instance may live.
const MAX_AGE_MS: u64 = 3_600_000;

/// `[modules.<name>.instance_reuse]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceReuse {
    /// Requests one instance serves before it is retired (2 to 100,000).
    pub max_requests: u32,
    /// How long after its first request an instance is retired.
    #[serde(default = "default_max_age_ms")]
    pub max_age_ms: u64,
}

fn default_max_age_ms() -> u64 {
    60_000
}

impl InstanceReuse {
    /// Checks the bounds; the error names `table`'s keys.
    pub fn check(&self, table: &str) -> Result<(), String> {
        if !(2..=MAX_REQUESTS).contains(&self.max_requests) {
            return Err(format!(
                "{table}.max_requests is {}: give 2 to {MAX_REQUESTS} (remove the table for a fresh instance per request)",
                self.max_requests
            ));
        }
        if !(1..=MAX_AGE_MS).contains(&self.max_age_ms) {
            return Err(format!(
                "{table}.max_age_ms is {}: give 1 to {MAX_AGE_MS}",
                self.max_age_ms
            ));
        }
        Ok(())
    }
}

/// Who an instance serves: a token's subject and tenant, or no one.
type PrincipalKey = Option<(String, Option<String>)>;

fn principal_key(request: &Request) -> PrincipalKey {
    request
        .principal
        .as_ref()
        .map(|principal| (principal.subject.clone(), principal.tenant.clone()))
}

/// An instance between requests, with its store.
struct Warm {
    store: Store<HostState>,
    instance: Instance,
    principal: PrincipalKey,
    served: u32,
    born: Instant,
}

/// One module's idle instances.
pub struct WarmInstances {
    config: InstanceReuse,
    idle: Mutex<Vec<Warm>>,
}

impl WarmInstances {
    /// Idle instances kept under `config`, and a task that drops those
    /// past their age while the module is quiet (it ends with them).
    pub fn start(config: InstanceReuse) -> Arc<Self> {
        let warm = Arc::new(Self {
            config,
            idle: Mutex::new(Vec::new()),
        });
        let every = warm.max_age() / 2;
        tokio::spawn(sweep(
            Arc::downgrade(&warm),
            every.max(Duration::from_millis(1)),
        ));
        warm
    }

    fn max_age(&self) -> Duration {
        Duration::from_millis(self.config.max_age_ms)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Warm>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops idle instances until they and the `running` calls fit in
    /// `slots`: a new instance is about to be made.
    pub fn make_room(&self, running: usize, slots: usize) {
        let keep = slots.saturating_sub(running);
        let dropped: Vec<Warm> = {
            let mut idle = self.lock();
            // The oldest go first (at the front).
            let excess = idle.len().saturating_sub(keep);
            idle.drain(..excess).collect()
        };
        // Dropped outside the lock: dropping a store returns its slot.
        drop(dropped);
    }

    /// Drops idle instances past their age.
    fn drop_expired(&self) {
        let max_age = self.max_age();
        let dropped: Vec<Warm> = {
            let mut idle = self.lock();
            let (expired, young) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|warm| warm.born.elapsed() >= max_age);
            *idle = young;
            expired
        };
        drop(dropped);
    }

    /// An idle instance of `principal`, if one is young enough.
    fn take(&self, principal: &PrincipalKey) -> Option<Warm> {
        self.drop_expired();
        let mut idle = self.lock();
        let found = idle.iter().rposition(|warm| warm.principal == *principal)?;
        Some(idle.remove(found))
    }

    /// Keeps `warm` for a next request, unless it has served its share or
    /// its call used `wasi:http`.
    fn give_back(&self, warm: Warm) {
        let young = warm.born.elapsed() < self.max_age();
        let used_http = warm.store.data().capabilities.wasi.used_http();
        if warm.served < self.config.max_requests && young && !used_http {
            self.lock().push(warm);
        }
    }
}

/// Every `every`, drops `warm`'s idle instances past their age, until the
/// module is gone.
async fn sweep(warm: Weak<WarmInstances>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(warm) = warm.upgrade() else {
            return;
        };
        warm.drop_expired();
    }
}

impl ModuleSandbox {
    /// Calls `handle` for `request` on an idle instance of its principal,
    /// or a new one kept afterwards; an instance whose call failed is
    /// dropped.
    pub(crate) async fn handle_reusing(
        &self,
        warm: &WarmInstances,
        pre: &InstancePre<HostState>,
        export: &ComponentExportIndex,
        request: &Request,
        call: GuestCall,
    ) -> Result<Response, GuestCallError> {
        let principal = principal_key(request);
        let (mut store, instance, served, born) = match warm.take(&principal) {
            Some(mut warm) => {
                warm.store.data_mut().renew(&call);
                (warm.store, Some(warm.instance), warm.served, warm.born)
            }
            None => {
                self.make_room_for_an_instance();
                (self.new_store(&call), None, 0, Instant::now())
            }
        };
        let work = CallExport {
            pre,
            instance,
            export,
            params: (request,),
            results: PhantomData::<fn() -> (Response,)>,
        };
        let (instance, (response,)) = self.run_in(&mut store, call, work).await?;
        warm.give_back(Warm {
            store,
            instance,
            principal,
            served: served + 1,
            born,
        });
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_name_the_key_and_the_range() {
        let reuse = |max_requests, max_age_ms| InstanceReuse {
            max_requests,
            max_age_ms,
        };
        assert!(reuse(2, 1).check("t").is_ok());
        assert!(reuse(MAX_REQUESTS, MAX_AGE_MS).check("t").is_ok());
        let err = reuse(1, 1000)
            .check("modules.m.instance_reuse")
            .unwrap_err();
        assert!(
            err.contains("modules.m.instance_reuse.max_requests is 1"),
            "{err}"
        );
        let err = reuse(10, MAX_AGE_MS + 1).check("t").unwrap_err();
        assert!(err.contains("t.max_age_ms"), "{err}");
        let err = reuse(10, 0).check("t").unwrap_err();
        assert!(err.contains("t.max_age_ms is 0"), "{err}");
    }
}
