//! `modhost`: runs backend modules as sandboxed WebAssembly components
//! behind one HTTP server. The command line only; the host is the `modhost`
//! library. See the README for the config reference.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use modhost::check_report::CheckFormat;
use modhost::commands::{self, ServeOptions};
use modhost::new_module::Language;
use tracing_subscriber::EnvFilter;

/// Runs backend modules as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "modhost", version)]
struct Cli {
    /// How log lines are written to stderr: `text` for people, `json` (one
    /// object per line) for a log pipeline. `MODHOST_LOG` filters them.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
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
        /// Address of the operator's endpoints (`/metrics`, the probes,
        /// `POST /admin/reload`), overriding server.admin_listen.
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// Reload when the config or a component file it deploys changes.
        #[arg(long)]
        watch: bool,
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

/// How long the process waits, once `run` has returned, for guest calls
/// still running on blocking threads (a grace period that ran out).
const EXIT_WAIT: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
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
    let code = match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    };
    runtime.shutdown_timeout(EXIT_WAIT);
    code
}

/// Log lines to stderr in `format`, filtered by `MODHOST_LOG` (default
/// `info`). Every line of a request carries its span's fields: the request
/// id, tenant and module. Each line is written where it happens, one
/// write each (a writer thread of its own measured slower on two cores:
/// it competes with the requests for them).
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("MODHOST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .init(),
    }
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Serve {
            config,
            listen,
            admin_listen,
            watch,
        } => {
            let options = ServeOptions {
                listen,
                admin_listen,
                watch,
            };
            commands::serve(&config, options).await
        }
        Command::Check { config, format } => commands::check(&config, format).await,
        Command::HashPassword { config } => commands::hash_password(&config).await,
        Command::New { name, lang, dir } => commands::new_module(&name, lang, &dir),
    }
}
