//! The Kubernetes manifests in deploy/kubernetes, checked without kubectl:
//! every file parses as YAML; the Deployment's probes, ports, config mount
//! and grace period agree with the runtime.toml of the ConfigMap; and the
//! binary, started with that very runtime.toml, answers each probe on the
//! listener the probe's port names.

mod support;

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use support::Modhost;

/// Every document of every manifest, as JSON values.
fn manifests() -> Vec<Value> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes");
    let mut documents = Vec::new();
    for entry in std::fs::read_dir(&folder).expect("deploy/kubernetes") {
        let path = entry.unwrap().path();
        assert_eq!(path.extension().unwrap(), "yaml", "{}", path.display());
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            documents.push(value);
        }
    }
    documents
}

/// The one document of `kind`.
fn of_kind<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = documents.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

/// The port of `addr` (`host:port`).
fn port_of(addr: &str) -> u64 {
    addr.rsplit_once(':').unwrap().1.parse().unwrap()
}

#[test]
fn the_manifests_agree_with_the_config_and_the_binary_answers_their_probes() {
    let documents = manifests();
    let config_map = of_kind(&documents, "ConfigMap");
    let deployment = of_kind(&documents, "Deployment");
    let service = of_kind(&documents, "Service");
    let secret = of_kind(&documents, "Secret");

    let runtime_toml = config_map["data"]["runtime.toml"].as_str().unwrap();
    let config: toml::Table = toml::from_str(runtime_toml).unwrap();
    let server = config["server"].as_table().unwrap();
    let public = port_of(server["listen"].as_str().unwrap());
    let admin = port_of(server["admin_listen"].as_str().unwrap());
    let grace_ms = server["shutdown_grace_ms"].as_integer().unwrap();

    let pod = &deployment["spec"]["template"]["spec"];
    let grace_s = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
    assert!(
        grace_s * 1000 > grace_ms,
        "the kubelet waits longer than modhost's grace"
    );
    let container = &pod["containers"][0];
    let ports: Vec<(&str, u64)> = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["containerPort"].as_u64().unwrap(),
            )
        })
        .collect();
    let port_named = |port: &Value| match port {
        Value::String(name) => {
            ports
                .iter()
                .find(|(n, _)| n == name)
                .expect("a named port")
                .1
        }
        number => number.as_u64().unwrap(),
    };
    assert_eq!(
        ports.iter().map(|p| p.1).collect::<Vec<_>>(),
        [public, admin]
    );

    // The config the container reads is the ConfigMap's runtime.toml.
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let config_arg = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "config")
        .unwrap();
    assert_eq!(
        config_arg,
        format!("{}/runtime.toml", mount["mountPath"].as_str().unwrap())
    );
    assert_eq!(args[0], "serve");
    // Every environment variable the config names comes from the Secret.
    let secret_keys = secret["stringData"].as_object().unwrap();
    for name in [
        "MODHOST_MONGODB_URI",
        "MODHOST_REDIS_URL",
        "MODHOST_AUTH_SECRET",
    ] {
        assert!(
            runtime_toml.contains(name) && secret_keys.contains_key(name),
            "{name}"
        );
    }
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"],
        secret["metadata"]["name"]
    );
    assert!(container["resources"]["limits"]["memory"].is_string());

    // The Service reaches the modules, never the admin listener.
    let target = port_named(&service["spec"]["ports"][0]["targetPort"]);
    assert_eq!(target, public);

    // The binary, on that runtime.toml (guests from this build, backends
    // of this machine: Redis, and a MongoDB that is not there), answers
    // each probe on the listener its port names.
    let guests = support::guest("wallet")
        .parent()
        .unwrap()
        .display()
        .to_string();
    let dir = support::temp_dir();
    let text = runtime_toml
        .replace("/srv/modhost/guests", &guests)
        .replace("/var/lib/modhost", &dir.path().display().to_string())
        .replace(
            "uri_env = \"MODHOST_MONGODB_URI\"",
            "uri_env = \"MODHOST_MONGODB_URI\"\ntimeout_ms = 200",
        );
    // SAFETY: set before the runtime starts, read only by its process.
    unsafe {
        std::env::set_var("MODHOST_MONGODB_URI", "mongodb://127.0.0.1:9/");
        std::env::set_var("MODHOST_REDIS_URL", "redis://127.0.0.1:6379/");
    }
    let modhost = Modhost::start(&text);
    let probes = ["readinessProbe", "livenessProbe", "startupProbe"];
    let present: Vec<&str> = probes
        .into_iter()
        .filter(|probe| !container[*probe].is_null())
        .collect();
    assert!(present.contains(&"readinessProbe") && present.contains(&"livenessProbe"));
    for probe in present {
        let get = &container[probe]["httpGet"];
        let path = get["path"].as_str().unwrap();
        let addr = match port_named(&get["port"]) {
            port if port == admin => modhost.admin,
            port if port == public => modhost.addr,
            other => panic!("{probe} probes port {other}, which modhost does not serve"),
        };
        let answer = support::http_request(addr, "GET", path, &[], b"");
        let body = answer.json();
        match probe {
            // No MongoDB here: not ready, saying so.
            "readinessProbe" => {
                answer.expect_status(503);
                assert!(body["reason"].as_str().unwrap().contains("db"), "{body}");
            }
            _ => {
                answer.expect_status(200);
                assert_eq!(body["status"], "live");
            }
        }
    }
}
