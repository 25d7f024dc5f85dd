//! `user_management`, the credit system's users module: user profiles in
//! its own `users` collection (the `_id` is the user id, the email is
//! unique) and their credentials in `credentials` (the argon2id hash the
//! host made, and the user's roles), never in a profile.
//!
//! Users register and log in (`POST /auth/register`, `POST /auth/login`);
//! a login answers a token the host signs for this module's tenant, which
//! every route that needs a token accepts, `GET /users/me` here and the
//! wallet's. The users listed in its config are added at startup when
//! missing; one given a `password_hash` (from `modhost hash-password`) can
//! log in with the roles given there, so a deployment starts with an admin.
//! Profile reads are cached (`user:<id>`, for `PROFILE_TTL`), falling back
//! to the database when the cache fails.

use std::time::Duration;

use modhost_sdk::db::{Collection, DbError, FindOptions, Transaction};
use modhost_sdk::{
    Error, Health, HealthStatus, HostError, Module, Request, Response, Result, Router, auth, cache,
    export_module, info,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

const USERS: Collection = Collection::new("users");
const CREDENTIALS: Collection = Collection::new("credentials");

/// How many users `GET /users` returns when no limit is asked.
const DEFAULT_PAGE: u64 = 100;

/// How long a cached profile may be served. Profiles do not change once
/// made (there is no update route yet); a new user drops its key anyway.
const PROFILE_TTL: Duration = Duration::from_secs(300);

/// How long a login's token is good for.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The roles of a user who registered.
const REGISTERED_ROLES: &[&str] = &["user"];

/// The shortest password a user may register with.
const MIN_PASSWORD_CHARS: usize = 8;

/// The longest id, name and email, in bytes.
const MAX_FIELD_BYTES: usize = 128;

fn profile_key(id: &str) -> String {
    format!("user:{id}")
}

struct UserManagement;

impl Module for UserManagement {
    const NAME: &'static str = "user_management";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Users of the credit system: profiles, registration, login";

    fn routes() -> Router {
        Router::new()
            .post("/auth/register", register)
            .post("/auth/login", login)
            .get("/users/me", me)
            .auth()
            .get("/users", list_users)
            .auth_roles(&["admin"])
            .post("/users", create_user)
            .auth_roles(&["admin"])
            .get("/users/:id", get_user)
    }

    fn init() -> Result<()> {
        let settings: Settings = modhost_sdk::config::load()?;
        USERS.create_index("email", true)?;
        for user in &settings.users {
            add_configured(user).map_err(|err| {
                Error::internal(format!(
                    "cannot add configured user {}: {}",
                    user.id,
                    err.message()
                ))
            })?;
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

impl From<&User> for StoredUser {
    fn from(user: &User) -> Self {
        StoredUser {
            id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
        }
    }
}

/// What a user logs in with, as stored: `_id` is the user's.
#[derive(Debug, Serialize, Deserialize)]
struct Credentials {
    #[serde(rename = "_id")]
    user_id: String,
    hash: String,
    roles: Vec<String>,
}

/// A user of the module's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfiguredUser {
    id: String,
    name: String,
    email: String,
    /// An argon2id hash from `modhost hash-password`, to let the user log in.
    password_hash: Option<String>,
    /// The roles the user logs in with.
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    users: Vec<ConfiguredUser>,
}

/// Adds a configured user's profile when missing, and sets its credentials
/// when the config gives a password hash (so a changed hash takes effect).
fn add_configured(user: &ConfiguredUser) -> Result<()> {
    let added = USERS.upsert_one(
        json!({"_id": user.id}),
        json!({"$setOnInsert": {"name": user.name, "email": user.email}}),
    )?;
    if added.upserted_id.is_some() {
        info!("added configured user {}", user.id);
    }
    if let Some(hash) = &user.password_hash {
        CREDENTIALS.upsert_one(
            json!({"_id": user.id}),
            json!({"$set": {"hash": hash, "roles": user.roles}}),
        )?;
    }
    Ok(())
}

/// Ids a user cannot take: `me` is `GET /users/me`.
const RESERVED_IDS: &[&str] = &["me"];

/// The checks every new user passes: bounded, non-empty fields, an id not
/// reserved and an address for an email.
fn check_new_user(user: &User) -> Result<()> {
    if RESERVED_IDS.contains(&user.id.as_str()) {
        return Err(Error::bad_request(format!(
            "the id {} is reserved",
            user.id
        )));
    }
    let fields = [&user.id, &user.name, &user.email];
    if fields
        .iter()
        .any(|field| field.is_empty() || field.len() > MAX_FIELD_BYTES)
        || !user.email.contains('@')
    {
        return Err(Error::bad_request(format!(
            "id, name and email must be 1 to {MAX_FIELD_BYTES} bytes, and email must be an address"
        )));
    }
    Ok(())
}

/// 409 for a taken id or email, else the database's own answer.
fn taken(err: DbError) -> Error {
    match err {
        DbError::DuplicateKey(_) => Error::new(409, "a user with this id or email exists"),
        err => err.into(),
    }
}

/// `POST /auth/register` with `{"id", "name", "email", "password"}`: adds a
/// user who can log in; only the password's hash is stored. 409 when the
/// id or the email is taken.
fn register(req: Request) -> Result<Response> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Registration {
        id: String,
        name: String,
        email: String,
        password: String,
    }
    let Registration {
        id,
        name,
        email,
        password,
    } = req.json()?;
    let user = User { id, name, email };
    check_new_user(&user)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::bad_request(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let credentials = Credentials {
        user_id: user.id.clone(),
        hash: auth::hash_password(&password)?,
        roles: REGISTERED_ROLES
            .iter()
            .map(|role| role.to_string())
            .collect(),
    };
    Transaction::new()
        .insert_one(&USERS, &StoredUser::from(&user))
        .insert_one(&CREDENTIALS, &credentials)
        .commit()
        .map_err(|err| taken(err.error))?;
    cache::invalidate(&profile_key(&user.id));
    Response::json_with_status(201, &user)
}

/// `POST /auth/login` with `{"email", "password"}`: a bearer token for the
/// user, or 401 for an unknown email or a wrong password alike.
fn login(req: Request) -> Result<Response> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Login {
        email: String,
        password: String,
    }
    let Login { email, password } = req.json()?;
    let wrong = || Error::new(401, "wrong email or password");
    let user = USERS.find_one::<StoredUser>(json!({"email": email}))?;
    let credentials = match &user {
        Some(user) => CREDENTIALS.find_one::<Credentials>(json!({"_id": user.id}))?,
        None => None,
    };
    let (Some(user), Some(credentials)) = (user, credentials) else {
        // As long as a check, so the answer's time does not tell whether
        // the email is known.
        auth::hash_password(&password)?;
        return Err(wrong());
    };
    if !auth::verify_password(&password, &credentials.hash)? {
        return Err(wrong());
    }
    let claims = json!({"roles": credentials.roles, "name": user.name});
    let token = auth::issue(&user.id, &claims, TOKEN_LIFETIME)?;
    Response::json(&json!({
        "token": token,
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME.as_secs(),
        "user_id": user.id,
    }))
}

/// The profile of `id` through the cache, or 404.
fn profile(id: &str) -> Result<User> {
    let user = cache::read_through(&profile_key(id), PROFILE_TTL, || {
        let stored = USERS.find_one::<StoredUser>(json!({"_id": id}))?;
        stored
            .map(User::from)
            .ok_or_else(|| Error::not_found(format!("no user with id {id}")))
    })?;
    Ok(user.value)
}

/// `GET /users/me` (a token): the caller's profile and roles.
fn me(req: Request) -> Result<Response> {
    let principal = req
        .principal()
        .ok_or_else(|| Error::new(401, "this route needs a bearer token"))?;
    let user = profile(&principal.subject)?;
    Response::json(&json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "roles": principal.roles,
    }))
}

/// `GET /users[?skip=N&limit=N]` (role `admin`): users by id.
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

/// `GET /users/:id`: one user's profile, or 404.
fn get_user(req: Request) -> Result<Response> {
    Response::json(&profile(req.param("id")?)?)
}

/// `POST /users` (role `admin`) with `{"id", "name", "email"}`: adds a user
/// who has no password; 409 when the id or the email is taken.
fn create_user(req: Request) -> Result<Response> {
    let user: User = req.json()?;
    check_new_user(&user)?;
    USERS.insert_one(&StoredUser::from(&user)).map_err(taken)?;
    cache::invalidate(&profile_key(&user.id));
    Response::json_with_status(201, &user)
}

export_module!(UserManagement);
