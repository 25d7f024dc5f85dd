//! `wallet`, the credit system's wallet module: the balance of a user, for
//! users that `user_management` knows, asked through a module call.
//!
//! Until the database capability lands, every wallet holds the configured
//! `initial_credits`.

use modhost_sdk::{Dependency, Error, Module, Request, Response, Result, Router, export_module};
use serde::Deserialize;
use serde_json::{Value, json};

const USERS: Dependency = Dependency::new("user_management");

struct Wallet;

impl Module for Wallet {
    const NAME: &'static str = "wallet";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Credit balances of the users of user_management";
    const DEPENDENCIES: &'static [&'static str] = &[USERS.name()];

    fn routes() -> Router {
        Router::new().get("/wallet/:user_id", balance)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    initial_credits: u64,
}

/// `GET /wallet/:user_id`: the user (from user_management) and the balance.
fn balance(req: Request) -> Result<Response> {
    let user_id = req.param("user_id")?;
    let answer = USERS.get(&format!("/users/{user_id}"))?;
    match answer.status() {
        200 => {}
        404 => return Err(Error::not_found(format!("no user with id {user_id}"))),
        status => {
            return Err(Error::new(502, format!("user_management answered {status}")));
        }
    }
    let user: Value = answer.json_body()?;
    let settings: Settings = modhost_sdk::config::load()?;
    Response::json(&json!({
        "user_id": user_id,
        "user": user,
        "balance": settings.initial_credits,
        "currency": "credits",
    }))
}

export_module!(Wallet);
