//! Calls into one module, each in a fresh instance with its own store, the
//! module's own context and a deadline. Nothing survives from one call to
//! the next, so a trap or a corrupted guest heap cannot leak into the next
//! request; unless the module opts into `instance_reuse`, which bounds what
//! may survive (see [`crate::instance_reuse`]). A module is a component of
//! the `module` world, or a standard `wasi:http/proxy` component mounted at
//! a path (see [`crate::http_proxy`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Result;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Instance, InstancePre, Lift, Linker, Lower,
};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::bindings::modhost::module::types::HealthStatus;
use crate::bindings::{self, Health, Manifest, Request, Response};
use crate::call_budget::{CallBudget, Exhausted};
use crate::host_state::{HostState, ModuleContext};
use crate::http_proxy;
use crate::instance_reuse::WarmInstances;
use crate::long_calls;

/// A module ready to be instantiated: compiled, linked and type-checked
/// against the world once, at load.
pub struct ModuleSandbox {
    pre: InstancePre<HostState>,
    exports: Exports,
    context: Arc<ModuleContext>,
    /// Idle instances, when the module's config lets them serve again.
    warm: Option<Arc<WarmInstances>>,
}

/// What kind of component a module is, and where its exports are.
enum Exports {
    /// A component of the `module` world.
    World(WorldExports),
    /// A `wasi:http/proxy` component, mounted at `mount`.
    Proxy {
        pre: ProxyPre<HostState>,
        mount: String,
    },
}

/// The future of one guest call's work on its store (boxed, so that it is
/// `Send` however it borrows the store).
pub type GuestRun<'a, R> = Pin<Box<dyn Future<Output = Result<R>> + Send + 'a>>;

/// What one guest call does on its fresh store: instantiate the component
/// and call into it.
pub trait GuestWork: Send {
    /// What the call gives back.
    type Output: Send;

    /// Runs the work in `store`.
    fn run<'a>(self, store: &'a mut Store<HostState>) -> GuestRun<'a, Self::Output>
    where
        Self: 'a;
}

/// A call of one export of the `module` world with `params`, on `instance`
/// (a reused one) or on a new instance of `pre`; gives back the instance
/// with the results.
pub(crate) struct CallExport<'x, Params, Results> {
    pub(crate) pre: &'x InstancePre<HostState>,
    pub(crate) instance: Option<Instance>,
    pub(crate) export: &'x ComponentExportIndex,
    pub(crate) params: Params,
    pub(crate) results: std::marker::PhantomData<fn() -> Results>,
}

impl<Params, Results> GuestWork for CallExport<'_, Params, Results>
where
    Params: ComponentNamedList + Lower + Send + Sync,
    Results: ComponentNamedList + Lift + Send + Sync + 'static,
{
    type Output = (Instance, Results);

    fn run<'a>(self, store: &'a mut Store<HostState>) -> GuestRun<'a, (Instance, Results)>
    where
        Self: 'a,
    {
        Box::pin(async move {
            let instance = match self.instance {
                Some(instance) => instance,
                None => self
                    .pre
                    .instantiate_async(&mut *store)
                    .await
                    .map_err(|err| err.context("could not instantiate the module"))?,
            };
            let func = instance.get_typed_func::<Params, Results>(&mut *store, self.export)?;
            let results = func.call_async(&mut *store, self.params).await?;
            Ok((instance, results))
        })
    }
}

/// Where the world's exports are in the component, found once at load so a
/// call looks up only the function it makes (the generated bindings look up
/// and type-check all four on every instantiation).
struct WorldExports {
    describe: ComponentExportIndex,
    init: ComponentExportIndex,
    handle: ComponentExportIndex,
    health: ComponentExportIndex,
}

impl WorldExports {
    fn find(component: &Component) -> Result<Self> {
        let index = |name: &str| {
            component
                .get_export_index(None, name)
                .ok_or_else(|| wasmtime::format_err!("the component does not export `{name}`"))
        };
        Ok(Self {
            describe: index("describe")?,
            init: index("init")?,
            handle: index("handle")?,
            health: index("health")?,
        })
    }
}

/// Why a guest call failed. The `Display` form is for the log; [`GuestCallError::public`]
/// is what a client may see.
#[derive(Debug)]
pub enum GuestCallError {
    /// The call was stopped because its budget ran out: the request's
    /// deadline passed, or the call used its CPU time.
    Exhausted {
        /// Which budget.
        budget: Exhausted,
        /// The limit that ran out: the module's own, or for a module call
        /// what was left of its caller's.
        limit: Duration,
    },
    /// The guest trapped (a panic, an out-of-bounds access, `unreachable`,
    /// memory or stack exhausted...) or the host could not run it.
    Failed(wasmtime::Error),
}

impl GuestCallError {
    /// A short description for the client: no trap text, no paths; the
    /// details are in the log under the request id.
    pub fn public(&self) -> String {
        match self {
            Self::Exhausted {
                budget: Exhausted::Deadline,
                ..
            } => "did not finish before the request's deadline".to_string(),
            Self::Exhausted {
                budget: Exhausted::Cpu,
                limit,
            } => format!("used up its CPU time limit of {} ms", limit.as_millis()),
            Self::Failed(_) => "failed while handling the request".to_string(),
        }
    }

    /// What a client (or a calling module) is told about `module`'s
    /// failure in request `request_id`: the short description and where
    /// the details are.
    pub fn for_client(&self, module: &str, request_id: &str) -> String {
        format!(
            "module {module} {}; see the runtime log for request {request_id}",
            self.public()
        )
    }

    /// Whether a budget ran out (a 504 for a request).
    pub fn is_exhausted(&self) -> bool {
        matches!(self, Self::Exhausted { .. })
    }

    /// The limit that stopped the call, as `/metrics` names it: `timeout`,
    /// `cpu`, or `trap` (memory or stack exhausted among others).
    pub fn limit_name(&self) -> &'static str {
        match self {
            Self::Exhausted {
                budget: Exhausted::Deadline,
                ..
            } => "timeout",
            Self::Exhausted {
                budget: Exhausted::Cpu,
                ..
            } => "cpu",
            Self::Failed(_) => "trap",
        }
    }

    /// The whole error with the guest's backtrace, one line, for debugging.
    pub fn detail(&self) -> String {
        match self {
            Self::Exhausted { .. } => self.to_string(),
            Self::Failed(err) => {
                let text = format!("{err:#}");
                let lines: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                lines.join(" | ")
            }
        }
    }
}

impl std::fmt::Display for GuestCallError {
    /// One short line: the trap itself without the backtrace, so a client
    /// that triggers traps on purpose cannot flood the log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exhausted {
                budget: Exhausted::Deadline,
                limit,
            } => write!(
                f,
                "ran past the request's deadline (time limit {} ms)",
                limit.as_millis()
            ),
            Self::Exhausted {
                budget: Exhausted::Cpu,
                limit,
            } => write!(f, "used up its CPU time limit of {} ms", limit.as_millis()),
            Self::Failed(err) => match err.downcast_ref::<Trap>() {
                Some(trap) => write!(f, "trapped: {trap}"),
                None => write!(f, "{}", err.to_string().lines().next().unwrap_or("failed")),
            },
        }
    }
}

impl ModuleSandbox {
    /// Links `component` against the world, or as a `wasi:http/proxy`
    /// component when the module's config gives it a `mount`; the error
    /// says which import or export does not fit, and what to do.
    pub fn new(
        linker: &Linker<HostState>,
        component: &Component,
        context: Arc<ModuleContext>,
    ) -> Result<Self, String> {
        let instance_pre = linker
            .instantiate_pre(component)
            .map_err(|err| format!("it cannot be linked: {err:#}"))?;
        let exports = match &context.mount {
            None if http_proxy::exports_incoming_handler(component) => {
                return Err(format!(
                    "it is a wasi:http/proxy component (it exports wasi:http/incoming-handler); serve it at a path with mount = \"/{}\" under its table",
                    context.name
                ));
            }
            // The bindings check every export's name and type against the
            // world, with errors that say which one does not fit.
            None => bindings::ModulePre::new(instance_pre.clone())
                .and_then(|_| WorldExports::find(component))
                .map(Exports::World)
                .map_err(|err| {
                    format!(
                        "it does not implement the modhost:module world: {err:#}; build it against wit/module.wit"
                    )
                })?,
            Some(_) if context.instance_reuse.is_some() => {
                return Err(
                    "instance_reuse applies to modules of the modhost:module world, not to a wasi:http component with a mount; remove one of the two".to_string(),
                );
            }
            Some(mount) => {
                http_proxy::check_mount(mount)?;
                let pre = ProxyPre::new(instance_pre.clone()).map_err(|err| {
                    format!(
                        "it has a mount but is not a wasi:http/proxy component: {err:#}; build it for the wasi:http/proxy world, or remove mount to load it as a modhost module"
                    )
                })?;
                Exports::Proxy {
                    pre,
                    mount: mount.clone(),
                }
            }
        };
        Ok(Self {
            pre: instance_pre,
            exports,
            warm: context.instance_reuse.clone().map(WarmInstances::start),
            context,
        })
    }

    /// What the module is told about itself.
    pub fn context(&self) -> &Arc<ModuleContext> {
        &self.context
    }

    /// The names of the interfaces the component imports, as it names them
    /// (`modhost:module/db@0.7.0`, `wasi:io/streams@0.2.0`...).
    pub fn imports(&self) -> Vec<String> {
        let component = self.pre.component();
        component
            .component_type()
            .imports(component.engine())
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// The world's exports, or the mount of a `wasi:http/proxy` component.
    fn world(&self) -> Result<&WorldExports, &str> {
        match &self.exports {
            Exports::World(exports) => Ok(exports),
            Exports::Proxy { mount, .. } => Err(mount),
        }
    }

    /// The component's `wasi:http/proxy` exports, when it is one.
    pub fn proxy(&self) -> Option<&ProxyPre<HostState>> {
        match &self.exports {
            Exports::Proxy { pre, .. } => Some(pre),
            Exports::World(_) => None,
        }
    }

    /// Calls `describe`; a `wasi:http/proxy` component is described by its
    /// config: one route for every method under its mount.
    pub async fn describe(&self) -> Result<Manifest, GuestCallError> {
        let exports = match self.world() {
            Ok(exports) => exports,
            Err(mount) => return Ok(http_proxy::manifest(&self.context.name, mount)),
        };
        let call = self.startup_call();
        let (manifest,) = self.call(call, &exports.describe, ()).await?;
        Ok(manifest)
    }

    /// Calls `init` (nothing to call for a `wasi:http/proxy` component);
    /// the inner error is the module's own reason.
    pub async fn init(&self) -> Result<Result<(), String>, GuestCallError> {
        let Ok(exports) = self.world() else {
            return Ok(Ok(()));
        };
        let call = self.startup_call();
        let (outcome,) = self.call(call, &exports.init, ()).await?;
        Ok(outcome)
    }

    /// Calls `handle` for one request; a `wasi:http/proxy` component
    /// serves HTTP only, not module calls.
    pub async fn handle(
        &self,
        request: &Request,
        call: GuestCall,
    ) -> Result<Response, GuestCallError> {
        let exports = self.world().map_err(|mount| {
            GuestCallError::Failed(wasmtime::format_err!(
                "module {} is a wasi:http component mounted at {mount}: it serves HTTP requests, not module calls",
                self.context.name
            ))
        })?;
        if let Some(warm) = &self.warm {
            return self
                .handle_reusing(warm, &self.pre, &exports.handle, request, call)
                .await;
        }
        let (response,) = self.call(call, &exports.handle, (request,)).await?;
        Ok(response)
    }

    /// Calls `health`; a `wasi:http/proxy` component has none, and is
    /// healthy while it is loaded.
    pub async fn health(&self, call: GuestCall) -> Result<Health, GuestCallError> {
        let exports = match self.world() {
            Ok(exports) => exports,
            Err(mount) => {
                return Ok(Health {
                    status: HealthStatus::Healthy,
                    details: serde_json::json!({ "kind": "wasi:http/proxy", "mount": mount })
                        .to_string(),
                });
            }
        };
        let (health,) = self.call(call, &exports.health, ()).await?;
        Ok(health)
    }

    /// A call of this module for `request_id`, `depth` module calls deep,
    /// starting now, within the module's time and CPU limits; a module
    /// call also within what is left of its `caller`'s, to which it
    /// charges the CPU time it uses.
    pub fn new_call(
        &self,
        request_id: Arc<str>,
        depth: u32,
        caller: Option<&CallBudget>,
    ) -> GuestCall {
        let limits = &self.context.limits;
        let deadline = Instant::now() + limits.timeout();
        GuestCall {
            request_id,
            depth,
            deadline: caller.map_or(deadline, |caller| caller.deadline.min(deadline)),
            cpu_limit: caller.map_or(limits.cpu(), |caller| caller.cpu_left().min(limits.cpu())),
            caller: caller.cloned(),
        }
    }

    /// A start-up call: its own full time limit.
    fn startup_call(&self) -> GuestCall {
        self.new_call("startup".into(), 0, None)
    }

    /// Calls `export` with `params` in a fresh instance with its own store,
    /// within the call's deadline and the module's CPU time.
    async fn call<Params, Results>(
        &self,
        call: GuestCall,
        export: &ComponentExportIndex,
        params: Params,
    ) -> Result<Results, GuestCallError>
    where
        Params: ComponentNamedList + Lower + Send + Sync,
        Results: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let work = CallExport {
            pre: &self.pre,
            instance: None,
            export,
            params,
            results: std::marker::PhantomData,
        };
        let (_instance, results) = self.run(call, work).await?;
        Ok(results)
    }

    /// Runs `work` on a fresh store of this module, within the call's
    /// deadline and the module's CPU time, memory and seats; reports the
    /// call's capabilities when it ends.
    pub async fn run<W: GuestWork>(
        &self,
        call: GuestCall,
        work: W,
    ) -> Result<W::Output, GuestCallError> {
        self.make_room_for_an_instance();
        let mut store = self.new_store(&call);
        self.run_in(&mut store, call, work).await
    }

    /// Drops idle instances of a module that reuses them, so that they and
    /// the calls running fit in its slots, before a new instance is made.
    pub(crate) fn make_room_for_an_instance(&self) {
        if let Some(warm) = &self.warm {
            let admission = &self.context.admission;
            warm.make_room(admission.in_use(), admission.slots());
        }
    }

    /// A fresh store for `call`, its limiter and epoch callback set.
    pub(crate) fn new_store(&self, call: &GuestCall) -> Store<HostState> {
        let budget = CallBudget::new(call.deadline, call.cpu_limit);
        let state = HostState::new(
            self.context.clone(),
            call.request_id.clone(),
            call.depth,
            budget,
        );
        let mut store = Store::new(self.pre.engine(), state);
        self.context.meters.instance_created();
        store.limiter(|state| &mut state.limits);
        // Every epoch tick a running guest yields its worker thread, so a
        // loop cannot hold a thread that other requests need, and a
        // long-running call waits for its turn on a seat; the tick also
        // checks the budget, and a spent one stops the guest.
        store.epoch_deadline_callback(|mut store| {
            let state = store.data_mut();
            Ok(match state.budget.exhausted() {
                None if long_calls::is_long(state.budget.cpu_used()) => {
                    UpdateDeadline::YieldCustom(
                        1,
                        Box::pin(state.module.long_calls.next_turn(&state.seat)),
                    )
                }
                None => UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())),
                Some(exhausted) => {
                    state.exhausted = Some(exhausted);
                    UpdateDeadline::Interrupt
                }
            })
        });
        store
    }

    /// Runs `work` in `store`, fresh or renewed for `call`, within the
    /// call's deadline and CPU time; reports the call's capabilities when
    /// it ends.
    pub(crate) async fn run_in<W: GuestWork>(
        &self,
        store: &mut Store<HostState>,
        call: GuestCall,
        work: W,
    ) -> Result<W::Output, GuestCallError> {
        let limits = &self.context.limits;
        let budget = store.data().budget.clone();
        store.set_epoch_deadline(1);
        let seat = store.data().seat.clone();
        let run = work.run(store);
        // The deadline also stops a call that waits on the host (a module
        // call, the database), where the epoch callback does not run.
        let running = seat.held_while_running(budget.metered(run));
        let outcome = tokio::time::timeout_at(call.deadline.into(), running).await;
        if let Some(caller) = &call.caller {
            caller.charge(budget.cpu_used());
        }
        let state = store.data();
        state
            .capabilities
            .end(&self.context.name, &state.request_id);
        let exhausted = |budget: Exhausted| GuestCallError::Exhausted {
            budget,
            limit: match budget {
                Exhausted::Deadline => limits.timeout(),
                Exhausted::Cpu => call.cpu_limit,
            },
        };
        match outcome {
            Err(_elapsed) => Err(exhausted(Exhausted::Deadline)),
            Ok(Ok(results)) => Ok(results),
            Ok(Err(err)) => match (err.downcast_ref::<Trap>(), state.exhausted) {
                (Some(Trap::Interrupt), Some(budget)) => Err(exhausted(budget)),
                _ => Err(GuestCallError::Failed(err)),
            },
        }
    }
}

/// Who a call serves and until when.
#[derive(Debug, Clone)]
pub struct GuestCall {
    /// The request this call serves, or a label such as `startup`.
    pub request_id: Arc<str>,
    /// How many module calls led to this one: 0 for a call from the host.
    pub depth: u32,
    /// When the request's time is up.
    pub deadline: Instant,
    /// The guest CPU time the call may use.
    pub cpu_limit: Duration,
    /// For a module call: the caller's budget, charged with this call's
    /// CPU time.
    pub caller: Option<CallBudget>,
}
