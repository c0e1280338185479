//! The `docwright` binary: parses arguments and calls the library (CONVENTIONS 5).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use docwright_config::{Config, LogFormat};

mod generate;
mod remote;

#[derive(Debug, Parser)]
#[command(name = "docwright", version, about = "Self-hosted AI document gateway")]
struct Cli {
    /// The server the client commands talk to (default: the one you logged in to, else
    /// http://127.0.0.1:8000).
    #[arg(long, env = "DOCWRIGHT_SERVER", global = true)]
    server: Option<String>,
    /// Print data as JSON (for scripts).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the HTTP server (embedded SQLite and local blobs unless configured otherwise).
    Serve {
        /// Configuration file (default: ./docwright.toml when present).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// The main job: a prompt and files in, a document out (its format from OUT's extension:
    /// docx, pdf, xlsx, csv, pptx, html, md, json, txt). Runs here, without a server, unless
    /// `--server` / `DOCWRIGHT_SERVER` names one (then as the logged-in user, the file downloaded).
    Generate {
        /// What to make, in any language.
        prompt: String,
        /// Documents to work from (PDF, office files, images, text, mail, ...).
        files: Vec<PathBuf>,
        /// Where the document goes.
        #[arg(long, short)]
        out: PathBuf,
        /// The document's title (else the workflow chooses one).
        #[arg(long)]
        title: Option<String>,
        /// Keep every prompt and answer of the run in the database (GET /api/workflows/{id}/debug).
        #[arg(long)]
        debug_trace: bool,
        /// Configuration file (default: ./docwright.toml when present).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Work with configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Log in to a server with a static token (kept in your configuration directory, mode 0600).
    Login {
        /// The static login token an admin issued (or the one printed at the first start).
        #[arg(long, env = "DOCWRIGHT_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// End the session and forget the stored credentials.
    Logout,
    /// Chat with your documents.
    Chat {
        #[command(subcommand)]
        command: remote::ChatCommand,
    },
    /// Your settings.
    Settings {
        #[command(subcommand)]
        command: remote::SettingsCommand,
    },
    /// Your files.
    File {
        #[command(subcommand)]
        command: remote::FileCommand,
    },
    /// The projects tree and search.
    Projects {
        #[command(subcommand)]
        command: remote::ProjectsCommand,
    },
    /// Your balance and transactions.
    Billing {
        #[command(subcommand)]
        command: remote::BillingCommand,
    },
    /// Your API keys.
    Keys {
        #[command(subcommand)]
        command: remote::KeysCommand,
    },
    /// Asynchronous AI requests (`/api/ai/*`).
    Requests {
        #[command(subcommand)]
        command: remote::RequestsCommand,
    },
    /// The job queue (admins).
    Jobs {
        #[command(subcommand)]
        command: remote::JobsCommand,
    },
    /// Scheduled automations: list them, run one now.
    Automations {
        #[command(subcommand)]
        command: remote::AutomationsCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Internal: extract one file in this bounded process (the server starts it per file).
    #[command(hide = true)]
    ExtractWorker {
        /// The job the server wrote (JSON).
        job: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate configuration (file and DOCWRIGHT_* variables) without starting.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = remote::Ctx { server: cli.server, json: cli.json };
    match cli.command {
        Command::Login { token } => remote::main(ctx, remote::Remote::Login { token }),
        Command::Logout => remote::main(ctx, remote::Remote::Logout),
        Command::Chat { command } => remote::main(ctx, remote::Remote::Chat(command)),
        Command::Settings { command } => remote::main(ctx, remote::Remote::Settings(command)),
        Command::File { command } => remote::main(ctx, remote::Remote::File(command)),
        Command::Projects { command } => remote::main(ctx, remote::Remote::Projects(command)),
        Command::Billing { command } => remote::main(ctx, remote::Remote::Billing(command)),
        Command::Keys { command } => remote::main(ctx, remote::Remote::Keys(command)),
        Command::Requests { command } => remote::main(ctx, remote::Remote::Requests(command)),
        Command::Jobs { command } => remote::main(ctx, remote::Remote::Jobs(command)),
        Command::Automations { command } => remote::main(ctx, remote::Remote::Automations(command)),
        // With a server named (`--server`, `DOCWRIGHT_SERVER`) the job runs there; else here.
        Command::Generate { prompt, files, out, title, debug_trace, config: None } if ctx.server.is_some() => {
            remote::main(ctx, remote::Remote::Generate { prompt, files, out, title, debug_trace })
        }
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(shell, &mut Cli::command(), "docwright", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::ExtractWorker { job } => {
            ExitCode::from(u8::try_from(docwright_engine::preview::worker_main(&job)).unwrap_or(1))
        }
        Command::Config { command: ConfigCommand::Check { config } } => match Config::load(config.as_deref()) {
            Ok(c) => {
                say(&format!(
                    "configuration OK: listening on {}, data in {}, database {}",
                    c.server.bind,
                    c.storage.data_dir.display(),
                    match c.database_kind() {
                        docwright_config::DatabaseKind::Sqlite => "SQLite (embedded)",
                        docwright_config::DatabaseKind::Postgres => "PostgreSQL",
                    }
                ));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Generate { prompt, files, out, title, debug_trace, config } => {
            let request = generate::Request { prompt, files, out, title, debug_trace };
            run_async(config, |config| async move { generate::run(config, request).await })
        }
        Command::Serve { config } => run_async(config, serve),
    }
}

/// Loads the configuration, starts logging and the runtime, and runs `work` on them.
fn run_async<F, Fut>(config: Option<PathBuf>, work: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = match Config::load(config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = init_logging(&config) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "docwright stopped with an error");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = docwright_server::Application::build(&config).await?;
    if let Some(token) = app.bootstrap_token() {
        print_bootstrap_banner(token.expose(), app.local_addr());
    }
    tracing::info!(addr = %app.local_addr(), "docwright listening");
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

/// Shown once, on the first start, on stdout (not in the log): the only time the token exists
/// in clear outside the operator's hands.
fn print_bootstrap_banner(token: &str, addr: std::net::SocketAddr) {
    let line = "=".repeat(78);
    say(&format!(
        "{line}\n\
         docwright: first start. Tenant ROOT and its admin were created.\n\
         The admin's static login token (shown only now; only its hash is stored):\n\n    {token}\n\n\
         Exchange it for an access token:\n    \
         curl -s -X POST http://{addr}/auth/exchange -H 'content-type: application/json' \\\n      \
         -d '{{\"static_token\": \"{token}\"}}'\n\
         API docs: http://{addr}/docs\n{line}"
    ));
}

#[allow(clippy::print_stdout)] // The CLI's output and the one-time bootstrap banner go to stdout on purpose.
fn say(text: &str) {
    println!("{text}");
}

fn init_logging(config: &Config) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .map_err(|e| format!("invalid configuration:\n  `log.level`: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
        // Colours only for a person at a terminal who has not asked for none (no-color.org).
        LogFormat::Pretty => builder
            .compact()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none())
            .init(),
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
