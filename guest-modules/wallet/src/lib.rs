//! `wallet`, the credit system's wallet module: a credit balance per user of
//! `user_management` (asked through a module call), and transfers between
//! them. A user without a wallet document has the configured
//! `initial_credits`; the document is made by the first transfer that
//! touches it, so reading a balance never writes.
//!
//! Every route needs a bearer token and acts for its subject: a user sees
//! their own wallet (an `admin` sees any) and spends only their own
//! credits; crediting an account takes the `admin` role.
//!
//! A transfer is one database transaction: make both wallets if missing,
//! debit with a condition (`balance >= amount`, so concurrent transfers can
//! never overdraw), credit, and record it in `transactions`. All of it
//! happens or none does, so a crash never creates or destroys credits.
//!
//! Balances are cached (cache-aside, `balance:<user>`, for
//! `BALANCE_TTL`) and the entry is dropped on every change; when the cache
//! is down, balances come from the database all the same.

use std::time::Duration;

use modhost_sdk::cache;
use modhost_sdk::db::{Collection, FindOptions, Transaction};
use modhost_sdk::{
    Dependency, Error, Module, Request, Response, Result, Router, export_module, path,
};
use serde::Deserialize;
use serde_json::{Value, json};

const USERS: Dependency = Dependency::new("user_management");
/// The role that sees every wallet and credits accounts.
const ADMIN: &str = "admin";
/// The most credits one transfer or credit moves.
const MAX_AMOUNT: i64 = 1_000_000_000;
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
            .auth()
            .get("/wallet/:user_id/transactions", transactions)
            .auth()
            .post("/wallet/transfer", transfer)
            .auth()
            .post("/wallet/credit", credit)
            .auth_roles(&[ADMIN])
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
    let answer = USERS.get(&path!("/users/{}", user_id))?;
    match answer.status() {
        200 => answer.json_body(),
        404 => Err(Error::not_found(format!("no user with id {user_id}"))),
        status => Err(Error::new(
            502,
            format!("user_management answered {status}"),
        )),
    }
}

/// The user's balance: the stored one, or the initial credits of a user
/// who has no wallet document yet (nothing is stored for that).
fn current_balance(user_id: &str) -> Result<i64> {
    match WALLETS.find_one::<StoredWallet>(json!({"_id": user_id}))? {
        Some(wallet) => Ok(wallet.balance),
        None => Ok(settings()?.initial_credits),
    }
}

/// The user whose wallet the route names, when the caller may see it: it
/// is the caller's own, or the caller is an admin; else 403.
fn own_wallet(req: &Request) -> Result<&str> {
    let user_id = req.param("user_id")?;
    let principal = req
        .principal()
        .ok_or_else(|| Error::new(401, "this route needs a bearer token"))?;
    if principal.subject != user_id && !principal.roles.iter().any(|role| role == ADMIN) {
        return Err(Error::new(403, "this is another user's wallet"));
    }
    Ok(user_id)
}

/// A positive amount of at most `MAX_AMOUNT` credits, else 400.
fn check_amount(amount: i64) -> Result<()> {
    if amount <= 0 || amount > MAX_AMOUNT {
        return Err(Error::bad_request(format!(
            "amount must be a whole number from 1 to {MAX_AMOUNT}"
        )));
    }
    Ok(())
}

/// `GET /wallet/:user_id`: the user (from user_management) and the balance.
fn balance(req: Request) -> Result<Response> {
    let user_id = own_wallet(&req)?;
    let user = user(user_id)?;
    let balance = cache::read_through(&balance_key(user_id), BALANCE_TTL, || {
        current_balance(user_id)
    })?;
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
    let user_id = own_wallet(&req)?;
    let options = FindOptions::new()
        .sort_desc("at")
        .skip(req.query_number("skip", 0)?)
        .limit(req.query_number("limit", DEFAULT_PAGE)?);
    let found: Vec<Value> = TRANSACTIONS.find(json!({"parties": user_id}), &options)?;
    Response::json(&json!({"user_id": user_id, "transactions": found, "count": found.len()}))
}

/// Adds `amount` credits to the wallet of `user_id` in `transaction`: the
/// wallet is made with `initial` when missing, then changed, and the change
/// must match it. A negative amount takes credits, and matches only when
/// the balance covers it, so a debit can never overdraw.
fn add_credits(
    transaction: Transaction,
    user_id: &str,
    amount: i64,
    initial: &Value,
) -> Transaction {
    let filter = if amount < 0 {
        json!({"_id": user_id, "balance": {"$gte": -amount}})
    } else {
        json!({"_id": user_id})
    };
    transaction
        .upsert_one(&WALLETS, json!({"_id": user_id}), initial.clone())
        .update_one(&WALLETS, filter, json!({"$inc": {"balance": amount}}))
        .expect_matched(1)
}

/// The update that makes a missing wallet with the initial credits.
fn initial_wallet() -> Result<Value> {
    Ok(json!({"$setOnInsert": {"balance": settings()?.initial_credits}}))
}

/// The position of the debit in a transfer's transaction: after the
/// sender's wallet is made, before the receiver's.
const DEBIT: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    /// The sender: the token's subject, who may name only themself.
    from: Option<String>,
    to: String,
    amount: i64,
}

/// `POST /wallet/transfer` with `{"to", "amount"}` (and `"from"`, which
/// must be the caller): moves the caller's credits; 403 for anyone else's,
/// 409 when the sender has too few.
fn transfer(req: Request) -> Result<Response> {
    let transfer: Transfer = req.json()?;
    let from = req.subject()?;
    if transfer.from.as_ref().is_some_and(|named| named != from) {
        return Err(Error::new(403, "you can only spend your own credits"));
    }
    let (to, amount) = (transfer.to.as_str(), transfer.amount);
    check_amount(amount)?;
    if from == to {
        return Err(Error::bad_request("from and to must be different users"));
    }
    user(from)?;
    user(to)?;
    let initial = initial_wallet()?;
    let at = modhost_sdk::time::now().to_rfc3339();
    let record = json!({"from": from, "to": to, "parties": [from, to], "amount": amount, "at": at});
    let debited = add_credits(Transaction::new(), from, -amount, &initial);
    let committed = add_credits(debited, to, amount, &initial)
        .insert_one(&TRANSACTIONS, &record)
        .commit();
    cache::invalidate(&balance_key(from));
    cache::invalidate(&balance_key(to));
    match committed {
        Ok(_) => {}
        Err(err) if err.expectation_failed_at(DEBIT) => {
            return Err(Error::new(
                409,
                format!("{from} has fewer than {amount} credits"),
            ));
        }
        Err(err) => return Err(err.into()),
    }
    let balance = WALLETS
        .find_one::<StoredWallet>(json!({"_id": from}))?
        .map(|wallet| wallet.balance);
    Response::json(&json!({"from": from, "to": to, "amount": amount, "balance": balance}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Credit {
    user_id: String,
    amount: i64,
}

/// `POST /wallet/credit` (role `admin`) with `{"user_id", "amount"}`: adds
/// credits to an account, recorded in its transactions with the admin who
/// gave them.
fn credit(req: Request) -> Result<Response> {
    let Credit { user_id, amount } = req.json()?;
    check_amount(amount)?;
    user(&user_id)?;
    let by = req.subject()?;
    let at = modhost_sdk::time::now().to_rfc3339();
    let record = json!({"to": user_id, "parties": [user_id], "amount": amount, "by": by, "at": at});
    let committed = add_credits(Transaction::new(), &user_id, amount, &initial_wallet()?)
        .insert_one(&TRANSACTIONS, &record)
        .commit();
    cache::invalidate(&balance_key(&user_id));
    committed?;
    Response::json(
        &json!({"user_id": user_id, "amount": amount, "balance": current_balance(&user_id)?}),
    )
}

export_module!(Wallet);
