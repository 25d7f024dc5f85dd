//! `auth`: tokens the host signs for the module's tenant (granted
//! `auth.issue`) and password hashing done by the host (granted
//! `auth.passwords`), whose time counts against the calling module's CPU
//! budget.

mod calls;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::bail;
use wasmtime::component::{HasData, Linker};

use crate::auth::{PasswordHashing, TokenIssuer, per_tenant};
use crate::bindings::modhost::module::auth as wit;
use crate::call_budget::CallBudget;
use crate::capabilities::{Capability, ModuleSetup};
use crate::config::RuntimeConfig;
use crate::grants::Grant;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;

/// The `auth` capability.
pub struct Auth;

/// Each tenant's signing key (when its `[auth]` names an `issue_key`) and
/// the host's password hashing.
pub struct HostAuth {
    issuers: HashMap<String, Arc<TokenIssuer>>,
    passwords: Arc<PasswordHashing>,
}

/// What one module may do: each part present only when granted.
pub struct ModuleAuth {
    tenant: String,
    issuer: Option<Arc<TokenIssuer>>,
    passwords: Option<Arc<PasswordHashing>>,
}

/// What one host call of `auth` reaches.
pub struct AuthView<'a> {
    auth: &'a ModuleAuth,
    module: &'a str,
    tenant: &'a str,
    budget: &'a CallBudget,
}

impl HasData for Auth {
    type Data<'a> = AuthView<'a>;
}

impl Capability for Auth {
    type Host = HostAuth;
    type Module = ModuleAuth;
    type Call = ();

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<_, Auth>(linker, |state| AuthView {
            auth: &state.module.capabilities.auth,
            module: &state.module.name,
            tenant: &state.module.tenant,
            budget: &state.budget,
        })
    }

    async fn start(config: &RuntimeConfig) -> anyhow::Result<HostAuth> {
        Ok(HostAuth {
            issuers: per_tenant(config, |auth, section| {
                TokenIssuer::new(auth, section, config)
            })?,
            passwords: Arc::new(PasswordHashing::from_config(
                &config.passwords,
                &config.source,
            )?),
        })
    }

    /// The parts the module is granted; `auth.issue` without a key to sign
    /// with is an error naming the module and the fix.
    fn for_module(host: &HostAuth, module: &ModuleSetup<'_>) -> anyhow::Result<ModuleAuth> {
        let issuer = if module.grants.contains(&Grant::AuthIssue) {
            match host.issuers.get(module.tenant) {
                Some(issuer) => Some(issuer.clone()),
                None => bail!(
                    "module {}: grants name auth.issue, but the [auth] of its tenant ({}) has no issue_key to sign with; set issue_key to the kid of an HS256 key or of a key with a private_key_file",
                    module.name,
                    module.tenant
                ),
            }
        } else {
            None
        };
        let passwords = module
            .grants
            .contains(&Grant::AuthPasswords)
            .then(|| host.passwords.clone());
        Ok(ModuleAuth {
            tenant: module.tenant.to_string(),
            issuer,
            passwords,
        })
    }

    fn for_call(_module: &ModuleAuth, _limits: &ModuleLimits) {}
}
