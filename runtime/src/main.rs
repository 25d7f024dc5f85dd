//! `modhost`: runs backend modules as sandboxed WebAssembly components
//! behind one HTTP server. The command line only; the host is the `modhost`
//! library. See the README for the config reference.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use modhost::check_report::CheckFormat;
use modhost::commands;
use modhost::new_module::Language;
use tracing_subscriber::EnvFilter;

/// Runs backend modules as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "modhost", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Loads the modules of a config and serves them over HTTP.
    Serve {
        /// The deployment to serve.
        #[arg(long, default_value = "runtime.toml")]
        config: PathBuf,
        /// Address to listen on, overriding server.listen (port 0 picks a free one).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Loads and checks every module of a config without serving, and
    /// prints each module's limits and the host's worst-case memory; exits
    /// non-zero when any module fails.
    Check {
        /// The deployment to check.
        #[arg(long, default_value = "runtime.toml")]
        config: PathBuf,
        /// `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Makes a module that builds with `just guests` and answers
    /// `GET /<name>/hello`, and prints the runtime.toml lines that deploy it.
    New {
        /// The module's name: `[a-z][a-z0-9_-]*`, also its folder's.
        name: String,
        /// Its language.
        #[arg(long, value_enum)]
        lang: Language,
        /// The folder of modules to make it in.
        #[arg(long, default_value = "guest-modules")]
        dir: PathBuf,
    },
    /// Reads a password from stdin (one line) and prints its argon2id hash
    /// with the config's `[passwords]` costs, for a configured user's
    /// `password_hash`.
    HashPassword {
        /// The deployment whose costs to use.
        #[arg(long, default_value = "runtime.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MODHOST_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Serve { config, listen } => commands::serve(&config, listen).await,
        Command::Check { config, format } => commands::check(&config, format).await,
        Command::HashPassword { config } => commands::hash_password(&config).await,
        Command::New { name, lang, dir } => commands::new_module(&name, lang, &dir),
    }
}
