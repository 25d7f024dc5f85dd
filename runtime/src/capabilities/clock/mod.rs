//! `clock` and `lifecycle`: the host's wall clock, and when the module's
//! `init` finished, for guests that have no clock of their own.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime::component::{HasData, Linker};

use crate::bindings::modhost::module::clock::{self as wit_clock, Instant};
use crate::bindings::modhost::module::lifecycle as wit_lifecycle;
use crate::capabilities::{Capability, ModuleSetup};
use crate::config::RuntimeConfig;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;

/// The `clock` capability, with `lifecycle`.
pub struct Clock;

/// What one host call of `clock` or `lifecycle` reaches: when the module's
/// `init` finished.
pub struct ClockView<'a> {
    initialized_at: &'a OnceLock<SystemTime>,
}

impl HasData for Clock {
    type Data<'a> = ClockView<'a>;
}

impl Capability for Clock {
    type Host = ();
    type Module = ();
    type Call = ();

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        fn view(state: &mut HostState) -> ClockView<'_> {
            ClockView {
                initialized_at: &state.module.initialized_at,
            }
        }
        wit_clock::add_to_linker::<_, Clock>(linker, view)?;
        wit_lifecycle::add_to_linker::<_, Clock>(linker, view)
    }

    async fn start(_config: &RuntimeConfig) -> anyhow::Result<()> {
        Ok(())
    }

    fn for_module(_host: &(), _module: &ModuleSetup<'_>) -> anyhow::Result<()> {
        Ok(())
    }

    fn for_call(_module: &(), _limits: &ModuleLimits) {}
}

impl wit_clock::Host for ClockView<'_> {
    fn now(&mut self) -> Instant {
        to_instant(SystemTime::now())
    }
}

impl wit_lifecycle::Host for ClockView<'_> {
    fn initialized_at(&mut self) -> Option<Instant> {
        self.initialized_at.get().copied().map(to_instant)
    }
}

fn to_instant(time: SystemTime) -> Instant {
    // A clock set before 1970 reads as the epoch rather than failing a call.
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    Instant {
        seconds: since_epoch.as_secs(),
        nanoseconds: since_epoch.subsec_nanos(),
    }
}
