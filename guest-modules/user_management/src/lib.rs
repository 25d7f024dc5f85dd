//! `user_management`, the credit system's users module: user profiles by id.
//!
//! Until the database capability lands, the users are the ones listed in the
//! module's config (`[modules.user_management.config]`, `users = [...]`).

use modhost_sdk::{Error, Health, HealthStatus, Module, Request, Response, Result, Router, export_module};
use serde::{Deserialize, Serialize};

struct UserManagement;

impl Module for UserManagement {
    const NAME: &'static str = "user_management";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "User profiles of the credit system";

    fn routes() -> Router {
        Router::new()
            .get("/users", list_users)
            .get("/users/:id", get_user)
    }

    fn init() -> std::result::Result<(), String> {
        // A config that does not parse is better refused at startup than on
        // the first request.
        settings().map(|_| ()).map_err(|err| err.message().to_string())
    }

    fn health() -> Health {
        match settings() {
            Ok(settings) => Health::new(HealthStatus::Healthy)
                .with_detail("users", settings.users.len()),
            Err(err) => Health::new(HealthStatus::Unhealthy).with_detail("error", err.message()),
        }
    }
}

/// A user's public profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct User {
    id: String,
    name: String,
    email: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    users: Vec<User>,
}

fn settings() -> Result<Settings> {
    modhost_sdk::config::load()
}

/// `GET /users`: every user.
fn list_users(_req: Request) -> Result<Response> {
    let users = settings()?.users;
    Response::json(&serde_json::json!({ "users": users, "count": users.len() }))
}

/// `GET /users/:id`: one user, or 404.
fn get_user(req: Request) -> Result<Response> {
    let id = req.param("id")?;
    let user = settings()?
        .users
        .into_iter()
        .find(|user| user.id == id)
        .ok_or_else(|| Error::not_found(format!("no user with id {id}")))?;
    Response::json(&user)
}

export_module!(UserManagement);
