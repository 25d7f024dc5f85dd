//! `config`: a module reads its own `[modules.<name>.config]` table, and no
//! other. The table is converted to JSON once at load; values cross the
//! boundary as JSON text.

use serde_json::{Map, Value};
use wasmtime::component::{HasData, Linker};

use crate::bindings::modhost::module::config as wit;
use crate::capabilities::{Capability, ModuleSetup};
use crate::config::RuntimeConfig;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;

/// The `config` capability.
pub struct Config;

/// What one host call of `config` reaches: the module's own table.
pub struct ConfigView<'a> {
    table: &'a Map<String, Value>,
}

impl HasData for Config {
    type Data<'a> = ConfigView<'a>;
}

impl Capability for Config {
    type Host = ();
    type Module = Map<String, Value>;
    type Call = ();

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<_, Config>(linker, |state| ConfigView {
            table: &state.module.capabilities.config,
        })
    }

    async fn start(_config: &RuntimeConfig) -> anyhow::Result<()> {
        Ok(())
    }

    fn for_module(_host: &(), module: &ModuleSetup<'_>) -> anyhow::Result<Map<String, Value>> {
        Ok(toml_table_to_json(module.config))
    }

    fn for_call(_module: &Map<String, Value>, _limits: &ModuleLimits) {}
}

impl wit::Host for ConfigView<'_> {
    fn get(&mut self, key: String) -> Option<String> {
        self.table.get(&key).map(Value::to_string)
    }

    fn get_all(&mut self) -> String {
        // Serialising a map of JSON values cannot fail.
        serde_json::to_string(self.table).unwrap_or_else(|_| "{}".to_string())
    }
}

/// Converts a TOML table to JSON once at load. Datetimes, which JSON lacks,
/// become their RFC 3339 text.
fn toml_table_to_json(table: &toml::Table) -> Map<String, Value> {
    table
        .iter()
        .map(|(key, value)| (key.clone(), toml_to_json(value)))
        .collect()
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(toml_table_to_json(table)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_values_become_json_with_datetimes_as_text() {
        let table: toml::Table =
            toml::from_str("n = 3\nf = 1.5\nok = true\nat = 1979-05-27T07:32:00Z\nlist = [\"a\"]\n[nested]\nk = \"v\"\n")
                .unwrap();
        let json = Value::Object(toml_table_to_json(&table));
        assert_eq!(
            json,
            serde_json::json!({
                "n": 3, "f": 1.5, "ok": true, "at": "1979-05-27T07:32:00Z",
                "list": ["a"], "nested": {"k": "v"}
            })
        );
    }
}
