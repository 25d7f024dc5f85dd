//! Tenants sharing one host and nothing else, against the real binary:
//! `acme` mounted at `/acme`, `globex` on its own host name, each running
//! the same credit-system components with its own data, cache, tokens and
//! module calls; bad mounts stop the start naming the tenants.

mod support;

use serde_json::{Value, json};
use support::{HttpResponse, Modhost, auth_section, guest, run_modhost, temp_dir, write_config};

const GLOBEX: &str = "globex.test";

/// Module `name` of `tenant`, granted `grants`.
fn deploy(tenant: &str, name: &str, grants: &[&str]) -> String {
    format!(
        "[tenants.{tenant}.modules.{name}]\npath = {:?}\ngrants = {grants:?}\n",
        guest(name).display().to_string()
    )
}

/// The credit system deployed for `tenant`.
fn credit_system(tenant: &str) -> String {
    format!(
        "{}{}[tenants.{tenant}.modules.wallet.config]\ninitial_credits = 100\n",
        deploy(
            tenant,
            "user_management",
            &["db", "cache", "auth.passwords", "auth.issue"]
        ),
        deploy(tenant, "wallet", &["db", "cache", "modules"]),
    )
}

/// `acme` at `/acme` and `globex` on [`GLOBEX`], both running the credit
/// system; `acme` also runs `trap_module`, `globex` `misbehaving_module`
/// (with `spin_module`, which it depends on) and `trap_module`.
fn two_tenants() -> String {
    format!(
        "{}[tenants.acme]\nprefix = \"/acme\"\n{}{}[tenants.globex]\nhosts = [{GLOBEX:?}]\n{}{}{}{}",
        auth_section(),
        credit_system("acme"),
        deploy("acme", "trap_module", &[]),
        credit_system("globex"),
        deploy("globex", "misbehaving_module", &["db", "cache", "modules"]),
        deploy("globex", "spin_module", &[]),
        deploy("globex", "trap_module", &[]),
    )
}

/// Requests to one tenant: a prefix before every path, or a `Host`.
struct At<'a> {
    modhost: &'a Modhost,
    prefix: &'a str,
    host: Option<&'a str>,
}

impl At<'_> {
    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> HttpResponse {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer));
        }
        if let Some(host) = self.host {
            headers.push(("host", host));
        }
        let body = body.map(Value::to_string).unwrap_or_default();
        let path = format!("{}{path}", self.prefix);
        self.modhost
            .request(method, &path, &headers, body.as_bytes())
    }

    fn get(&self, path: &str, token: Option<&str>) -> HttpResponse {
        self.send("GET", path, token, None)
    }

    fn post(&self, path: &str, token: Option<&str>, body: &Value) -> HttpResponse {
        self.send("POST", path, token, Some(body))
    }

    /// Registers `id` (password `<id>-password`) and logs in: the token.
    fn user(&self, id: &str) -> String {
        let password = format!("{id}-password");
        let user = json!({"id": id, "name": id, "email": format!("{id}@example.com"), "password": password});
        self.post("/auth/register", None, &user).expect_status(201);
        let login = json!({"email": format!("{id}@example.com"), "password": password});
        let answer = self.post("/auth/login", None, &login);
        answer.expect_status(200);
        answer.json()["token"].as_str().unwrap().to_string()
    }

    fn balance(&self, user: &str, token: &str) -> Value {
        let answer = self.get(&format!("/wallet/{user}"), Some(token));
        answer.expect_status(200);
        answer.json()
    }
}

fn acme(modhost: &Modhost) -> At<'_> {
    At {
        modhost,
        prefix: "/acme",
        host: None,
    }
}

fn globex(modhost: &Modhost) -> At<'_> {
    At {
        modhost,
        prefix: "",
        host: Some(GLOBEX),
    }
}

#[test]
fn the_same_wallet_in_two_tenants_keeps_separate_users_balances_and_tokens() {
    let modhost = Modhost::start(&two_tenants());
    let (acme, globex) = (acme(&modhost), globex(&modhost));
    let acme_alice = acme.user("alice");
    acme.user("bob");
    let globex_alice = globex.user("alice");

    // The same user id in each tenant: one transfer in acme moves acme's
    // credits only (the balance cached in globex under the same key is
    // globex's own).
    assert_eq!(globex.balance("alice", &globex_alice)["balance"], 100);
    let sent = acme.post(
        "/wallet/transfer",
        Some(&acme_alice),
        &json!({"to": "bob", "amount": 30}),
    );
    sent.expect_status(200);
    assert_eq!(acme.balance("alice", &acme_alice)["balance"], 70);
    let theirs = globex.balance("alice", &globex_alice);
    assert_eq!(
        (theirs["balance"].clone(), theirs["cached"].clone()),
        (json!(100), json!(true))
    );
    // Module calls stay in the tenant: globex's wallet asks globex's
    // user_management, which has no bob.
    globex
        .post(
            "/wallet/transfer",
            Some(&globex_alice),
            &json!({"to": "bob", "amount": 1}),
        )
        .expect_error(404, "no user with id bob");

    // Each tenant's token is refused by the other, on every route that
    // needs one, though one key signs both.
    globex
        .get("/wallet/alice", Some(&acme_alice))
        .expect_error(403, "the token is for another tenant");
    acme.get("/users/me", Some(&globex_alice))
        .expect_error(403, "the token is for another tenant");
    // And a token without the claim (an outside issuer's) is the default
    // tenant's, not acme's.
    acme.get("/users/me", Some(&support::token("alice", &["user"])))
        .expect_error(403, "another tenant");
}

#[test]
fn a_module_of_one_tenant_reaches_no_data_of_another_by_name_or_path() {
    let modhost = Modhost::start(&two_tenants());
    let acme = acme(&modhost);
    let u1 = acme.user("u1");
    acme.user("bob");
    let transfer = json!({"to": "bob", "amount": 5});
    acme.post("/wallet/transfer", Some(&u1), &transfer)
        .expect_status(200);
    // acme's wallet now holds wallets and caches balance:u1.
    assert_eq!(acme.balance("u1", &u1)["cached"], false);
    assert_eq!(acme.balance("u1", &u1)["cached"], true);
    // globex's misbehaving module looks for wallets and balance:u1 under
    // the wallet's names, and climbs out of its scope by path: it finds
    // its own (empty), and is refused. (The tenant-level proof is the same
    // module in both tenants, below and in the test above.)
    let peek = globex(&modhost).get("/misbehave/peek", None);
    peek.expect_status(200);
    assert_eq!(
        peek.json(),
        json!({"my_module_data": 0, "wallets": 0, "cached_balance": false, "climbing_refused": true})
    );
    // globex's own wallet module, under the very names acme's uses (the
    // collections, the filter {"parties": "u1"}, the key balance:u1), sees
    // only globex's: u1 registers afresh (acme's u1 would be a 409), has
    // no transfers (acme's has one), and no cached balance (acme's is 95).
    let globex = globex(&modhost);
    let globex_u1 = globex.user("u1");
    let history = globex.get("/wallet/u1/transactions", Some(&globex_u1));
    assert_eq!(history.json()["count"], 0);
    let balance = globex.balance("u1", &globex_u1);
    assert_eq!(
        (balance["balance"].clone(), balance["cached"].clone()),
        (json!(100), json!(false))
    );
    assert_eq!(acme.balance("u1", &u1)["balance"], 95);
}

#[test]
fn a_tenant_is_reached_by_prefix_or_host_and_its_modules_see_the_path_below_the_prefix() {
    let modhost = Modhost::start(&two_tenants());
    let echo = acme(&modhost).post("/trap/echo/7/a/b?q=1", None, &json!({}));
    echo.expect_status(200);
    let body = echo.json();
    assert_eq!(body["path"], "/trap/echo/7/a/b");
    assert_eq!(body["prefix"], "/acme");
    assert_eq!(body["route"], "/trap/echo/:id/...");
    let on_host = globex(&modhost)
        .post("/trap/echo/8/c", None, &json!({}))
        .json();
    assert_eq!(
        (on_host["path"].clone(), on_host["prefix"].clone()),
        (json!("/trap/echo/8/c"), json!(""))
    );

    // The runtime's endpoints, per tenant, name it.
    let listing = acme(&modhost).get("/modules", None).json();
    assert_eq!(listing["tenant"], "acme");
    assert_eq!(listing["modules"].as_array().unwrap().len(), 3);
    let health = globex(&modhost).get("/modules/wallet/health", None).json();
    assert_eq!(
        (health["tenant"].clone(), health["status"].clone()),
        (json!("globex"), json!("healthy"))
    );
    assert_eq!(
        globex(&modhost).get("/health", None).json()["tenant"],
        "globex"
    );

    // No top-level modules: a host no tenant claims, or a path under no
    // prefix, reaches nothing.
    let nowhere = At {
        modhost: &modhost,
        prefix: "",
        host: Some("nowhere.test"),
    };
    nowhere.get("/wallet/alice", None).expect_error(
        404,
        "no tenant is served at /wallet/alice on host nowhere.test",
    );
    modhost
        .get("/acmeish/modules")
        .expect_error(404, "no tenant");
}

#[test]
fn tenants_mounted_twice_or_unreachable_stop_the_start_naming_them() {
    let dir = temp_dir();
    let check = |text: &str| {
        let config = write_config(dir.path(), text);
        let (status, _, stderr) = run_modhost(&["check", "--config", config.to_str().unwrap()]);
        assert!(!status.success(), "{text}");
        stderr
    };
    let twice = check(&format!(
        "[tenants.acme]\nprefix = \"/shop\"\n{}[tenants.globex]\nprefix = \"/shop\"\n",
        deploy("acme", "trap_module", &[]),
    ));
    assert!(
        twice.contains("tenants acme and globex are both mounted at /shop on every host"),
        "{twice}"
    );
    let unreachable = check(&deploy("acme", "trap_module", &[]));
    assert!(
        unreachable
            .contains("[tenants.acme] (modules: trap_module) has neither hosts nor a prefix"),
        "{unreachable}"
    );
    let default = check("[tenants.default]\nprefix = \"/d\"\n");
    assert!(
        default.contains("[tenants.default]: the default tenant is the top-level [modules]"),
        "{default}"
    );
    let bad_prefix = check("[tenants.acme]\nprefix = \"/acme/\"\n");
    assert!(bad_prefix.contains("tenants.acme.prefix"), "{bad_prefix}");
    let hiding = check("[tenants.acme]\nprefix = \"/health\"\n");
    assert!(
        hiding.contains("would hide the runtime's own /health"),
        "{hiding}"
    );
    let bad_host = check("[tenants.acme]\nhosts = [\"https://acme.test:8080\"]\n");
    assert!(bad_host.contains("tenants.acme.hosts"), "{bad_host}");
}

#[test]
fn a_tenant_with_its_own_auth_signs_and_checks_its_own_tokens() {
    let keys = temp_dir();
    let secret = keys.path().join("initech.secret");
    std::fs::write(&secret, "initech-has-a-secret-of-its-own-32-bytes").unwrap();
    let config = format!(
        "{}{}[modules.user_management.config]\nusers = []\n\
         [tenants.initech]\nprefix = \"/initech\"\n\
         [tenants.initech.auth]\nissuer = \"https://id.initech.test\"\naudience = \"initech\"\nissue_key = \"own\"\n\
         [[tenants.initech.auth.keys]]\nkid = \"own\"\nalgorithm = \"HS256\"\nsecret_file = {:?}\n{}",
        auth_section(),
        support::module_table_granted(
            "user_management",
            &["db", "cache", "auth.passwords", "auth.issue"]
        ),
        secret.display().to_string(),
        credit_system("initech"),
    );
    let modhost = Modhost::start(&config);
    let initech = At {
        modhost: &modhost,
        prefix: "/initech",
        host: None,
    };
    let theirs = initech.user("milton");
    let claims = support::claims(&theirs);
    assert_eq!(claims["iss"], "https://id.initech.test");
    assert_eq!(claims["tenant"], "initech");
    initech.get("/users/me", Some(&theirs)).expect_status(200);

    // The host's key and issuer are not initech's, and initech's not the
    // default tenant's: each is a 401 at the other.
    let host_token = support::token("milton", &["user"]);
    initech
        .get("/users/me", Some(&host_token))
        .expect_error(401, "the token's key id (kid) is not known");
    let default = At {
        modhost: &modhost,
        prefix: "",
        host: None,
    };
    default
        .get("/users/me", Some(&theirs))
        .expect_error(401, "the token's key id (kid) is not known");
}

#[test]
fn a_tenants_sandbox_sets_its_modules_limits_between_the_hosts_and_their_own() {
    let dir = temp_dir();
    let config = write_config(
        dir.path(),
        &format!(
            "[sandbox]\ntimeout_ms = 9000\n{}\
             [tenants.acme]\nprefix = \"/acme\"\n[tenants.acme.sandbox]\ntimeout_ms = 4000\nmax_concurrency = 2\n{}{}[tenants.acme.modules.spin_module.limits]\ntimeout_ms = 3000\n",
            support::module_table("trap_module"),
            deploy("acme", "trap_module", &[]),
            deploy("acme", "spin_module", &[]),
        ),
    );
    let (status, json, stderr) = run_modhost(&[
        "check",
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(status.success(), "{stderr}");
    let report: Value = serde_json::from_str(&json).unwrap();
    let limits = |tenant: &str, name: &str| {
        let module = report["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|module| module["tenant"] == tenant && module["name"] == name)
            .unwrap();
        let limits = &module["limits"];
        (
            limits["timeout_ms"].clone(),
            limits["max_concurrency"].clone(),
        )
    };
    assert_eq!(limits("default", "trap_module"), (json!(9000), json!(8)));
    assert_eq!(limits("acme", "trap_module"), (json!(4000), json!(2)));
    assert_eq!(limits("acme", "spin_module"), (json!(3000), json!(2)));

    let zero = write_config(
        dir.path(),
        "[tenants.acme]\nprefix = \"/acme\"\n[tenants.acme.sandbox]\ntimeout_ms = 0\n",
    );
    let (status, _, stderr) = run_modhost(&["check", "--config", zero.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr.contains("tenants.acme.sandbox.timeout_ms"),
        "{stderr}"
    );
}
