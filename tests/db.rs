//! The `db` capability end to end: the example modules' data routes over
//! real HTTP, on the embedded database in a test folder; acknowledged writes
//! surviving SIGKILL; concurrent wallet transfers; an unreachable MongoDB
//! answered as 503.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Modhost, module_table, temp_dir, try_http_request, write_config};

/// Every record `GET /my-module/data` pages through.
fn all_records(modhost: &Modhost) -> Vec<Value> {
    modhost.all_pages("/my-module/data", "data")
}

#[test]
fn my_module_data_routes_answer_like_the_guide() {
    let modhost = Modhost::start(&module_table("my_new_module"));
    let empty = modhost.get("/my-module/data");
    assert_eq!(empty.status, 200);
    assert_eq!(
        empty.json(),
        json!({"success": true, "count": 0, "data": []})
    );

    for body in [json!({"title": "no name"}), json!(["name"]), json!("name")] {
        let refused = modhost.post_json("/my-module/data", &body);
        assert_eq!(refused.status, 400, "{body}");
        assert_eq!(
            refused.json(),
            json!({"success": false, "error": "Missing required field: name"})
        );
    }

    let created = modhost.post_json("/my-module/data", &json!({"name": "first", "n": 1}));
    assert_eq!(created.status, 200);
    let created = created.json();
    assert_eq!(created["success"], true);
    assert_eq!(created["message"], "Data created successfully");
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 24, "an ObjectId in hex: {id}");

    let listed = modhost.get("/my-module/data").json();
    assert_eq!(listed["count"], 1);
    let record = &listed["data"][0];
    assert_eq!(
        (&record["_id"], &record["name"], &record["n"]),
        (&json!(id), &json!("first"), &json!(1))
    );
    assert_eq!(record["module"], "my_new_module");
    assert!(
        record["created_at"].as_str().unwrap().contains('T'),
        "{record}"
    );
    assert_eq!(
        modhost.get(&format!("/my-module/data/{id}")).json()["data"],
        *record
    );
    assert_eq!(modhost.get("/my-module/data/nothing").status, 404);

    let forbidden = modhost.post_json("/my-module/data", &json!({"name": "x", "$where": 1}));
    assert_eq!(
        forbidden.status, 400,
        "a field MongoDB forbids is the client's mistake"
    );
    let health = modhost.get("/modules/my_new_module/health").json();
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["database_connection"], true, "{health}");
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = temp_dir();
    let config = write_config(dir.path(), &module_table("my_new_module"));
    let mut modhost = Modhost::start_with(&config, dir.path());
    let addr = modhost.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let killing = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let stop = stop.clone();
            let killing = killing.clone();
            let answered = answered.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body = json!({"name": format!("w{writer}-{n}")}).to_string();
                    let headers = [("content-type", "application/json")];
                    match try_http_request(
                        addr,
                        "POST",
                        "/my-module/data",
                        &headers,
                        body.as_bytes(),
                    ) {
                        Ok(answer) if answer.status == 200 => {
                            acknowledged.push(answer.json()["id"].as_str().unwrap().to_string());
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        // Only the kill may stop a writer, never an error.
                        Ok(answer) => panic!(
                            "a write answered {}: {}",
                            answer.status,
                            String::from_utf8_lossy(&answer.body)
                        ),
                        // The runtime died under this request: not acknowledged.
                        Err(err) => {
                            assert!(
                                killing.load(Ordering::SeqCst),
                                "a write failed before the kill: {err}"
                            );
                            break;
                        }
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Kill mid-load, once a good number of writes have been acknowledged
    // (counted by the writers: a stored record may not be answered yet).
    let started = Instant::now();
    while answered.load(Ordering::SeqCst) < 200 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    killing.store(true, Ordering::SeqCst);
    modhost.kill();
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        acknowledged.len() >= 200,
        "only {} writes before the kill",
        acknowledged.len()
    );

    let restarted = Modhost::start_with(&config, dir.path());
    let stored: HashSet<String> = all_records(&restarted)
        .iter()
        .map(|record| record["_id"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
}

const USERS: [&str; 4] = ["u1", "u2", "u3", "u4"];
const INITIAL_CREDITS: i64 = 100;

fn credit_system() -> String {
    support::credit_system(&USERS, INITIAL_CREDITS)
}

#[test]
fn concurrent_transfers_keep_every_credit_and_never_overdraw() {
    let modhost = Modhost::start(&credit_system());
    let addr = modhost.addr;
    let clients: Vec<_> = (0..8u64)
        .map(|client| {
            std::thread::spawn(move || {
                let (mut done, mut refused) = (0, 0);
                for n in 0..25u64 {
                    // A spread of pairs and amounts, different per client.
                    let seed = client * 31 + n * 7;
                    let from = USERS[(seed % 4) as usize];
                    let to = USERS[((seed / 4 + 1 + seed % 4) % 4) as usize];
                    if from == to {
                        continue;
                    }
                    let amount = 1 + (seed * 13) % 60;
                    let body = json!({"from": from, "to": to, "amount": amount}).to_string();
                    let bearer = format!("Bearer {}", support::token(from, &["user"]));
                    let headers = [
                        ("content-type", "application/json"),
                        ("authorization", bearer.as_str()),
                    ];
                    let answer = try_http_request(
                        addr,
                        "POST",
                        "/wallet/transfer",
                        &headers,
                        body.as_bytes(),
                    )
                    .unwrap();
                    match answer.status {
                        200 => done += 1,
                        409 => {
                            let message = answer.json()["error"].to_string();
                            assert!(
                                message
                                    .contains(&format!("{from} has fewer than {amount} credits")),
                                "{message}"
                            );
                            refused += 1;
                        }
                        other => panic!(
                            "transfer answered {other}: {}",
                            String::from_utf8_lossy(&answer.body)
                        ),
                    }
                }
                (done, refused)
            })
        })
        .collect();
    let (mut done, mut refused) = (0, 0);
    for client in clients {
        let (d, r) = client.join().unwrap();
        done += d;
        refused += r;
    }
    assert!(
        done > 50,
        "{done} transfers went through, {refused} refused"
    );

    let mut total = 0;
    let mut recorded = 0;
    for user in USERS {
        let session = modhost.as_user(user);
        let wallet = session.get(&format!("/wallet/{user}")).json();
        let balance = wallet["balance"].as_i64().unwrap();
        assert!(balance >= 0, "{user} is overdrawn: {wallet}");
        total += balance;
        let history = session
            .get(&format!("/wallet/{user}/transactions?limit=1000"))
            .json();
        recorded += history["count"].as_i64().unwrap();
    }
    assert_eq!(
        total,
        INITIAL_CREDITS * USERS.len() as i64,
        "credits were made or lost"
    );
    assert_eq!(
        recorded,
        2 * done,
        "each transfer is in the history of both users"
    );

    let overdraw = modhost.as_user("u1").post_json(
        "/wallet/transfer",
        &json!({"from": "u1", "to": "u2", "amount": 1000}),
    );
    assert_eq!(overdraw.status, 409);
    let stranger = modhost.as_user("u1").post_json(
        "/wallet/transfer",
        &json!({"from": "u1", "to": "nobody", "amount": 1}),
    );
    assert_eq!(stranger.status, 404);
}

#[test]
fn users_are_stored_with_a_unique_email() {
    let server = Modhost::start(&credit_system());
    // Listing and adding users take the admin role.
    server.get("/users").expect_status(401);
    server
        .as_user("u1")
        .get("/users")
        .expect_error(403, "lacks the role admin");
    let modhost = server.as_admin();
    assert_eq!(modhost.get("/users").json()["count"], 4);
    let ada = json!({"id": "ada", "name": "Ada", "email": "ada@example.com"});
    let created = modhost.post_json("/users", &ada);
    assert_eq!(created.status, 201);
    assert_eq!(created.json(), ada);
    assert_eq!(modhost.get("/users/ada").json(), ada);
    let same_email = modhost.post_json(
        "/users",
        &json!({"id": "ada2", "name": "Ada", "email": "ada@example.com"}),
    );
    assert_eq!(same_email.status, 409);
    let same_id = modhost.post_json(
        "/users",
        &json!({"id": "u1", "name": "Other", "email": "o@example.com"}),
    );
    assert_eq!(same_id.status, 409);
    assert_eq!(modhost.get("/users?limit=2").json()["count"], 2);
    assert_eq!(modhost.get("/users?limit=many").status, 400);
}

#[test]
fn the_db_limits_reach_the_client_through_the_guest() {
    let modhost = Modhost::start(&format!(
        "{}[db]\nmax_document_bytes = 1024\nmax_find_documents = 5\n",
        module_table("my_new_module")
    ));
    // document-too-large: 413 through the SDK.
    let big = modhost.post_json("/my-module/data", &json!({"name": "x".repeat(2000)}));
    big.expect_status(413);
    let message = big.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("db.max_document_bytes"), "{message}");
    for n in 0..6 {
        let stored = modhost.post_json("/my-module/data", &json!({"name": format!("r{n}")}));
        stored.expect_status(200);
    }
    // A page within max_find_documents is served; a larger one is refused.
    let page = modhost.get("/my-module/data?limit=5");
    page.expect_status(200);
    assert_eq!(page.json()["count"], 5);
    let all = modhost.get("/my-module/data?limit=100");
    all.expect_status(500);
    let message = all.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("more than 5 documents match"), "{message}");
}

#[test]
fn an_unreachable_mongodb_is_a_503_and_the_runtime_keeps_serving() {
    // Port 1 on loopback: nothing listens, so every call fails fast.
    let config = format!(
        "[db]\nbackend = \"mongodb\"\nuri = \"mongodb://127.0.0.1:1/?directConnection=true\"\ntimeout_ms = 300\n{}",
        module_table("my_new_module")
    );
    let modhost = Modhost::start(&config);
    let started = Instant::now();
    let answer = modhost.get("/my-module/data");
    answer.expect_status(503);
    assert_eq!(answer.json()["success"], false);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(modhost.get("/my-module/info").status, 200);
    // A ready module reporting itself unhealthy: 503, so probes see it.
    let health = modhost.get("/modules/my_new_module/health");
    health.expect_status(503);
    assert_eq!(health.json()["status"], "unhealthy");
}
