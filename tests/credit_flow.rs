//! The credit system as its users meet it, against the real binary: they
//! register and log in with `user_management` (the host hashes the
//! passwords and signs the tokens), read their own profile, move their own
//! credits with their own tokens and no one else's; an admin credits an
//! account. Tokens the host issued carry the module's tenant.

mod support;

use serde_json::{Value, json};
use support::{HttpResponse, Modhost, auth_section, claims, module_table_granted};

/// The credit system with `admin` (password "admin-password-1") able to log in.
fn deployment(admin_hash: &str) -> String {
    format!(
        "{}{}[modules.user_management.config]\nusers = [{{ id = \"admin\", name = \"Admin\", email = \"admin@example.com\", roles = [\"admin\"], password_hash = {admin_hash:?} }}]\n{}[modules.wallet.config]\ninitial_credits = 100\n",
        auth_section(),
        module_table_granted(
            "user_management",
            &["db", "cache", "auth.passwords", "auth.issue"]
        ),
        module_table_granted("wallet", &["db", "cache", "modules"]),
    )
}

/// The hash `modhost hash-password` prints for `password`.
fn hash_password(password: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = support::temp_dir();
    let config = support::write_config(dir.path(), "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_modhost"))
        .args(["hash-password", "--config"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn post(modhost: &Modhost, path: &str, token: Option<&str>, body: &Value) -> HttpResponse {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    modhost.request("POST", path, &headers, body.to_string().as_bytes())
}

fn get(modhost: &Modhost, path: &str, token: &str) -> HttpResponse {
    let bearer = format!("Bearer {token}");
    modhost.request("GET", path, &[("authorization", &bearer)], b"")
}

fn register(modhost: &Modhost, id: &str, password: &str) -> HttpResponse {
    let user =
        json!({"id": id, "name": id, "email": format!("{id}@example.com"), "password": password});
    post(modhost, "/auth/register", None, &user)
}

fn login(modhost: &Modhost, email: &str, password: &str) -> HttpResponse {
    post(
        modhost,
        "/auth/login",
        None,
        &json!({"email": email, "password": password}),
    )
}

/// The token of a login that must succeed.
fn token(modhost: &Modhost, email: &str, password: &str) -> String {
    let answer = login(modhost, email, password);
    answer.expect_status(200);
    let body = answer.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    body["token"].as_str().unwrap().to_string()
}

fn balance(modhost: &Modhost, user: &str, token: &str) -> i64 {
    let answer = get(modhost, &format!("/wallet/{user}"), token);
    answer.expect_status(200);
    answer.json()["balance"].as_i64().unwrap()
}

#[test]
fn users_register_log_in_and_move_only_their_own_credits() {
    let modhost = Modhost::start(&deployment(&hash_password("admin-password-1")));

    // Register: the profile back, the password nowhere.
    let alice = register(&modhost, "alice", "alice-password");
    alice.expect_status(201);
    assert_eq!(
        alice.json(),
        json!({"id": "alice", "name": "alice", "email": "alice@example.com"})
    );
    register(&modhost, "bob", "bob-password").expect_status(201);
    register(&modhost, "alice", "another-password").expect_error(409, "exists");
    register(&modhost, "carol", "short").expect_error(400, "at least 8 characters");
    register(&modhost, "me", "me-password").expect_error(400, "the id me is reserved");

    // Log in: a token the host signed, stamped with issuer, audience and
    // tenant; a wrong password and an unknown email are the same 401.
    let alice_token = token(&modhost, "alice@example.com", "alice-password");
    let stamped = claims(&alice_token);
    assert_eq!(stamped["sub"], "alice");
    assert_eq!(stamped["iss"], support::ISSUER);
    assert_eq!(stamped["aud"], support::ISSUER);
    assert_eq!(stamped["tenant"], "default");
    assert_eq!(stamped["roles"], json!(["user"]));
    let wrong = login(&modhost, "alice@example.com", "alice-passwork");
    wrong.expect_error(401, "wrong email or password");
    let unknown = login(&modhost, "nobody@example.com", "alice-password");
    unknown.expect_error(401, "wrong email or password");
    let bob_token = token(&modhost, "bob@example.com", "bob-password");

    // GET /users/me needs the token, and answers for its subject.
    modhost.get("/users/me").expect_status(401);
    let me = get(&modhost, "/users/me", &alice_token);
    me.expect_status(200);
    assert_eq!(
        me.json(),
        json!({"id": "alice", "name": "alice", "email": "alice@example.com", "roles": ["user"]})
    );

    // A transfer with the sender's own token.
    let sent = post(
        &modhost,
        "/wallet/transfer",
        Some(&alice_token),
        &json!({"to": "bob", "amount": 30}),
    );
    sent.expect_status(200);
    assert_eq!(sent.json()["from"], "alice");
    assert_eq!(balance(&modhost, "alice", &alice_token), 70);
    assert_eq!(balance(&modhost, "bob", &bob_token), 130);

    // Bob cannot spend Alice's credits, nor see her wallet; without a token
    // nothing moves at all.
    let theft = json!({"from": "alice", "to": "bob", "amount": 70});
    post(&modhost, "/wallet/transfer", Some(&bob_token), &theft)
        .expect_error(403, "only spend your own credits");
    post(&modhost, "/wallet/transfer", None, &theft).expect_status(401);
    get(&modhost, "/wallet/alice", &bob_token).expect_error(403, "another user's wallet");
    get(&modhost, "/wallet/alice/transactions", &bob_token).expect_status(403);
    assert_eq!(balance(&modhost, "alice", &alice_token), 70);

    // Crediting takes the admin role; the admin's own login carries it.
    let credit = json!({"user_id": "bob", "amount": 500});
    post(&modhost, "/wallet/credit", Some(&bob_token), &credit)
        .expect_error(403, "lacks the role admin");
    let admin_token = token(&modhost, "admin@example.com", "admin-password-1");
    assert_eq!(claims(&admin_token)["roles"], json!(["admin"]));
    let credited = post(&modhost, "/wallet/credit", Some(&admin_token), &credit);
    credited.expect_status(200);
    assert_eq!(credited.json()["balance"], 630);
    assert_eq!(balance(&modhost, "bob", &bob_token), 630);
    let history = get(&modhost, "/wallet/bob/transactions", &bob_token).json();
    assert_eq!(history["transactions"][0]["by"], "admin");
    assert_eq!(history["count"], 2);
    // An admin sees any wallet.
    assert_eq!(balance(&modhost, "alice", &admin_token), 70);
}

#[test]
fn passwords_are_stored_only_as_argon2id_hashes() {
    let dir = support::temp_dir();
    let config = support::write_config(dir.path(), &deployment(&hash_password("admin-password-1")));
    let mut modhost = Modhost::start_with(&config, dir.path());
    register(&modhost, "dave", "dave-password-1234").expect_status(201);
    token(&modhost, "dave@example.com", "dave-password-1234");
    modhost.kill();
    let stored = std::fs::read(dir.path().join("data/modhost.redb")).unwrap();
    let holds = |needle: &[u8]| stored.windows(needle.len()).any(|window| window == needle);
    assert!(
        holds(b"$argon2id$v=19$m=19456,t=2,p=1$"),
        "the hash is stored"
    );
    assert!(!holds(b"dave-password-1234"), "the password is not");
}

#[test]
fn the_readmes_quick_start_flow_runs_on_the_example_deployment() {
    // runtime.toml as `just run` serves it, with its demo admin.
    let modhost = Modhost::start(&support::example_deployment());
    register(&modhost, "alice", "alice-password").expect_status(201);
    register(&modhost, "bob", "bob-password").expect_status(201);
    let alice = token(&modhost, "alice@example.com", "alice-password");
    get(&modhost, "/users/me", &alice).expect_status(200);
    let sent = post(
        &modhost,
        "/wallet/transfer",
        Some(&alice),
        &json!({"to": "bob", "amount": 30}),
    );
    sent.expect_status(200);
    assert_eq!(
        sent.json(),
        json!({"amount": 30, "balance": 70, "from": "alice", "to": "bob"})
    );
    get(&modhost, "/wallet/alice", &alice).expect_status(200);
    get(&modhost, "/wallet/bob", &alice).expect_status(403);
    let admin = token(&modhost, "admin@example.com", "admin-demo-password");
    let credit = json!({"user_id": "bob", "amount": 500});
    post(&modhost, "/wallet/credit", Some(&admin), &credit).expect_status(200);
}
