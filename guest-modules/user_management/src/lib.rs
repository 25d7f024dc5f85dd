//! `user_management`, the credit system's users module: user profiles in
//! its own `users` collection (the `_id` is the user id, the email is
//! unique). The users listed in its config are added at startup when
//! missing, so a deployment starts with known users. Profile reads are
//! cached (`user:<id>`, for `PROFILE_TTL`), falling back to the database
//! when the cache fails.

use std::time::Duration;

use modhost_sdk::cache;
use modhost_sdk::db::{Collection, DbError, FindOptions};
use modhost_sdk::{
    Error, Health, HealthStatus, HostError, Module, Request, Response, Result, Router,
    export_module, info,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

const USERS: Collection = Collection::new("users");

/// How many users `GET /users` returns when no limit is asked.
const DEFAULT_PAGE: u64 = 100;

/// How long a cached profile may be served. Profiles do not change once
/// made (there is no update route yet); a new user drops its key anyway.
const PROFILE_TTL: Duration = Duration::from_secs(300);

fn profile_key(id: &str) -> String {
    format!("user:{id}")
}

struct UserManagement;

impl Module for UserManagement {
    const NAME: &'static str = "user_management";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "User profiles of the credit system";

    fn routes() -> Router {
        Router::new()
            .get("/users", list_users)
            .post("/users", create_user)
            .get("/users/:id", get_user)
    }

    fn init() -> Result<()> {
        let settings: Settings = modhost_sdk::config::load()?;
        USERS.create_index("email", true)?;
        for user in &settings.users {
            let added = USERS
                .upsert_one(
                    json!({"_id": user.id}),
                    json!({"$setOnInsert": {"name": user.name, "email": user.email}}),
                )
                .map_err(|err| {
                    let err = Error::from(err);
                    Error::internal(format!(
                        "cannot add configured user {}: {}",
                        user.id,
                        err.message()
                    ))
                })?;
            if added.upserted_id.is_some() {
                info!("added configured user {}", user.id);
            }
        }
        Ok(())
    }

    fn health() -> Health {
        match USERS.count(json!({})) {
            Ok(count) => Health::new(HealthStatus::Healthy).with_detail("users", count),
            Err(err) => Health::new(HealthStatus::Unhealthy).with_detail("error", err.message()),
        }
    }
}

/// A user's public profile, as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    id: String,
    name: String,
    email: String,
}

/// A user as stored: the id is the document's `_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredUser {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    email: String,
}

impl From<StoredUser> for User {
    fn from(stored: StoredUser) -> Self {
        User {
            id: stored.id,
            name: stored.name,
            email: stored.email,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    users: Vec<User>,
}

/// `GET /users[?skip=N&limit=N]`: users by id.
fn list_users(req: Request) -> Result<Response> {
    let options = FindOptions::new()
        .sort_asc("_id")
        .skip(req.query_number("skip", 0)?)
        .limit(req.query_number("limit", DEFAULT_PAGE)?);
    let users: Vec<User> = USERS
        .find::<StoredUser>(json!({}), &options)?
        .into_iter()
        .map(User::from)
        .collect();
    Response::json(&json!({ "users": users, "count": users.len() }))
}

/// `GET /users/:id`: one user, or 404.
fn get_user(req: Request) -> Result<Response> {
    let id = req.param("id")?;
    let user = cache::read_through(&profile_key(id), PROFILE_TTL, || {
        let stored = USERS.find_one::<StoredUser>(json!({"_id": id}))?;
        stored
            .map(User::from)
            .ok_or_else(|| Error::not_found(format!("no user with id {id}")))
    })?;
    Response::json(&user.value)
}

/// `POST /users` with `{"id", "name", "email"}`: adds a user; 409 when the
/// id or the email is taken.
fn create_user(req: Request) -> Result<Response> {
    let user: User = req.json()?;
    if user.id.is_empty() || user.name.is_empty() || !user.email.contains('@') {
        return Err(Error::bad_request(
            "id and name must not be empty, and email must be an address",
        ));
    }
    let stored = StoredUser {
        id: user.id.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
    };
    match USERS.insert_one(&stored) {
        Ok(_) => {
            cache::invalidate(&profile_key(&user.id));
            Response::json_with_status(201, &user)
        }
        Err(DbError::DuplicateKey(_)) => {
            Err(Error::new(409, "a user with this id or email exists"))
        }
        Err(err) => Err(err.into()),
    }
}

export_module!(UserManagement);
