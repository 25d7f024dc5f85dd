//! `wallet`, the credit system's wallet module: a credit balance per user of
//! `user_management` (asked through a module call), and transfers between
//! them. A wallet is made with the configured `initial_credits` the first
//! time it is needed.
//!
//! A transfer debits with a conditional update (`balance >= amount`), so
//! concurrent transfers can never overdraw a wallet, then credits the
//! receiver; should the credit fail, the debit is given back. Every transfer
//! is recorded in `transactions`.
//!
//! Balances are cached (cache-aside, `balance:<user>`, for
//! `BALANCE_TTL`) and the entry is dropped on every change; when the cache
//! is down, balances come from the database all the same.

use std::time::Duration;

use modhost_sdk::cache;
use modhost_sdk::db::{Collection, DbError, FindOptions};
use modhost_sdk::{
    Dependency, Error, HostError, Module, Request, Response, Result, Router, error, export_module,
};
use serde::Deserialize;
use serde_json::{Value, json};

const USERS: Dependency = Dependency::new("user_management");
const WALLETS: Collection = Collection::new("wallets");
const TRANSACTIONS: Collection = Collection::new("transactions");

/// How many transactions `GET /wallet/:user_id/transactions` returns when
/// no limit is asked.
const DEFAULT_PAGE: u64 = 50;

/// How long a cached balance may be served. Every change drops it at once;
/// the TTL bounds staleness only when that drop fails (cache down).
const BALANCE_TTL: Duration = Duration::from_secs(60);

fn balance_key(user_id: &str) -> String {
    format!("balance:{user_id}")
}

struct Wallet;

impl Module for Wallet {
    const NAME: &'static str = "wallet";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Credit balances of the users of user_management";
    const DEPENDENCIES: &'static [&'static str] = &[USERS.name()];

    fn routes() -> Router {
        Router::new()
            .get("/wallet/:user_id", balance)
            .get("/wallet/:user_id/transactions", transactions)
            .post("/wallet/transfer", transfer)
    }

    fn init() -> Result<()> {
        settings()?;
        Ok(TRANSACTIONS.create_index("parties", false)?)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    initial_credits: i64,
}

fn settings() -> Result<Settings> {
    modhost_sdk::config::load()
}

#[derive(Debug, Deserialize)]
struct StoredWallet {
    balance: i64,
}

/// The user's profile from user_management; 404 when it has no such user.
fn user(user_id: &str) -> Result<Value> {
    let answer = USERS.get(&format!("/users/{user_id}"))?;
    match answer.status() {
        200 => answer.json_body(),
        404 => Err(Error::not_found(format!("no user with id {user_id}"))),
        status => Err(Error::new(
            502,
            format!("user_management answered {status}"),
        )),
    }
}

/// The user's balance, making the wallet with the initial credits when it
/// does not exist yet.
fn open_wallet(user_id: &str) -> Result<i64> {
    if let Some(wallet) = WALLETS.find_one::<StoredWallet>(json!({"_id": user_id}))? {
        return Ok(wallet.balance);
    }
    let initial = settings()?.initial_credits;
    match WALLETS.insert_one(&json!({"_id": user_id, "balance": initial})) {
        Ok(_) => Ok(initial),
        // Another request made it first: read what is there.
        Err(DbError::DuplicateKey(_)) => WALLETS
            .find_one::<StoredWallet>(json!({"_id": user_id}))?
            .map(|wallet| wallet.balance)
            .ok_or_else(|| Error::internal(format!("the wallet of {user_id} vanished"))),
        Err(err) => Err(err.into()),
    }
}

/// `GET /wallet/:user_id`: the user (from user_management) and the balance.
fn balance(req: Request) -> Result<Response> {
    let user_id = req.param("user_id")?;
    let user = user(user_id)?;
    let balance = cache::read_through(&balance_key(user_id), BALANCE_TTL, || open_wallet(user_id))?;
    Response::json(&json!({
        "user_id": user_id,
        "user": user,
        "balance": balance.value,
        "currency": "credits",
        "cached": balance.from_cache,
    }))
}

/// `GET /wallet/:user_id/transactions[?skip=N&limit=N]`: transfers from or
/// to the user, newest first.
fn transactions(req: Request) -> Result<Response> {
    let user_id = req.param("user_id")?;
    let options = FindOptions::new()
        .sort_desc("at")
        .skip(req.query_number("skip", 0)?)
        .limit(req.query_number("limit", DEFAULT_PAGE)?);
    let found: Vec<Value> = TRANSACTIONS.find(json!({"parties": user_id}), &options)?;
    Response::json(&json!({"user_id": user_id, "transactions": found, "count": found.len()}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    from: String,
    to: String,
    amount: i64,
}

/// `POST /wallet/transfer` with `{"from", "to", "amount"}`: moves credits;
/// 409 when the sender has too few.
fn transfer(req: Request) -> Result<Response> {
    let transfer: Transfer = req.json()?;
    let Transfer { from, to, amount } = &transfer;
    if *amount <= 0 {
        return Err(Error::bad_request("amount must be a positive whole number"));
    }
    if from == to {
        return Err(Error::bad_request("from and to must be different users"));
    }
    user(from)?;
    user(to)?;
    open_wallet(from)?;
    open_wallet(to)?;

    let debit = WALLETS.update_one(
        json!({"_id": from, "balance": {"$gte": amount}}),
        json!({"$inc": {"balance": -amount}}),
    )?;
    if debit.modified == 0 {
        return Err(Error::new(
            409,
            format!("{from} has fewer than {amount} credits"),
        ));
    }
    cache::invalidate(&balance_key(from));
    let credit = WALLETS.update_one(json!({"_id": to}), json!({"$inc": {"balance": amount}}));
    cache::invalidate(&balance_key(to));
    if !matches!(&credit, Ok(done) if done.modified == 1) {
        let refund = WALLETS.update_one(json!({"_id": from}), json!({"$inc": {"balance": amount}}));
        if let Err(err) = refund {
            error!(
                "could not give {amount} credits back to {from}: {}",
                err.message()
            );
        }
        cache::invalidate(&balance_key(from));
        return Err(match credit {
            Err(err) => err.into(),
            Ok(_) => Error::internal(format!("the wallet of {to} vanished")),
        });
    }
    let at = modhost_sdk::time::now().to_rfc3339();
    let record = json!({"from": from, "to": to, "parties": [from, to], "amount": amount, "at": at});
    if let Err(err) = TRANSACTIONS.insert_one(&record) {
        error!(
            "transfer of {amount} from {from} to {to} done but not recorded: {}",
            err.message()
        );
    }
    let balance = WALLETS
        .find_one::<StoredWallet>(json!({"_id": from}))?
        .map(|wallet| wallet.balance);
    Response::json(&json!({"from": from, "to": to, "amount": amount, "balance": balance}))
}

export_module!(Wallet);
