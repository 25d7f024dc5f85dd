//! `clock` and `lifecycle`: the host's wall clock, and when the module's
//! `init` finished, for guests that have no clock of their own.

use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime::Result;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::modhost::module::clock::{self, Instant};
use crate::bindings::modhost::module::lifecycle;
use crate::host_state::HostState;

/// Links the `clock` and `lifecycle` interfaces.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    clock::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    lifecycle::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

impl clock::Host for HostState {
    fn now(&mut self) -> Instant {
        to_instant(SystemTime::now())
    }
}

impl lifecycle::Host for HostState {
    fn initialized_at(&mut self) -> Option<Instant> {
        self.module.initialized_at.get().copied().map(to_instant)
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
