//! The commands that talk to a docwright server (SPEC U1) through `docwright-client`:
//! `login`, `logout`, `chat`, `settings`, `file`, `projects`, `billing`, `keys`, `requests`,
//! `jobs` and `generate` on a server. Credentials and the current chat live in
//! `credentials.json` in the user's configuration directory (XDG; `DOCWRIGHT_CONFIG_DIR`
//! overrides it), mode 0600. Output: plain lines for scripts, aligned tables and colour only on
//! a terminal (and not under `NO_COLOR`), `--json` for every command that prints data. Exit
//! codes: 0 ok, 2 usage or a local file, 3 authentication, 4 not found, 5 refused by the
//! server, 6 server or network.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use docwright_client::api::chats::{ChatIn, MessageIn};
use docwright_client::api::events::ChatEvent;
use docwright_client::api::me::SettingsPatch;
use docwright_client::{Client, Error, Options, SessionTokens};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Where a server is when nothing names one: `docwright serve`'s default address.
pub(crate) const DEFAULT_SERVER: &str = "http://127.0.0.1:8000";

#[derive(Debug, Subcommand)]
pub(crate) enum ChatCommand {
    /// Start a chat; it becomes the current chat.
    New {
        title: String,
        /// A project whose documents answers draw on.
        #[arg(long)]
        project: Option<String>,
    },
    /// Ask in the current chat (or `--chat`): the answer streams to stdout, phases to stderr.
    Send {
        text: String,
        /// Files to upload and attach (their parts are the answer's context).
        #[arg(long = "file", value_name = "PATH")]
        files: Vec<PathBuf>,
        /// The chat to ask in (default: the current chat).
        #[arg(long)]
        chat: Option<String>,
    },
    /// The messages of the current chat (or `--chat`).
    History {
        #[arg(long)]
        chat: Option<String>,
    },
    /// Your chats, newest first.
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SettingsCommand {
    /// Your settings.
    Show,
    /// The model profile answers use.
    SetModel {
        #[arg(value_parser = ["simple", "complex"])]
        profile: String,
    },
    /// The role prompt answers use, by its name in any language (`none` clears it).
    SetRole { name: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProjectsCommand {
    /// Clients → projects → folders → documents.
    Tree {
        /// Only this client (its id or its name).
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Full-text search over your files.
    Search {
        words: String,
        #[arg(long)]
        limit: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum BillingCommand {
    /// Your balance.
    Balance,
    /// Transactions of a month.
    Transactions {
        /// `YYYY-MM` (default: this month).
        #[arg(long)]
        month: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum FileCommand {
    /// Upload files (streamed from disk, with progress).
    Upload {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Issue an API key for yourself in the current tenant (shown once).
    Create {
        name: String,
        /// RFC 3339; the key stops working then (default: never).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Your API keys (never the keys themselves).
    List,
    /// Revoke an API key.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RequestsCommand {
    /// Queue an asynchronous AI request; `--wait` follows it and prints the answer.
    Submit {
        query: String,
        /// `analysis`, `generation`, `transformation`, ...
        #[arg(long)]
        category: Option<String>,
        #[arg(long, value_parser = ["simple", "complex"])]
        model_profile: Option<String>,
        /// Wait for the answer (polling its status) instead of printing the request's id.
        #[arg(long)]
        wait: bool,
    },
    /// Where a request is.
    Status { id: String },
    /// The answer of a completed request.
    Result { id: String },
    /// Cancel a request.
    Cancel { id: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// The job queue, newest first (admins).
    List {
        /// `available | running | retryable | completed | cancelled | discarded`.
        #[arg(long)]
        state: Option<String>,
        /// e.g. `ai.request`, `chat.turn`, `workflow`, `embed.file`.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Run a discarded, cancelled or waiting job again now.
    Retry { id: String },
    /// Cancel a job.
    Cancel { id: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AutomationsCommand {
    /// Your automations with their schedule, next run and last run.
    List {
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Run an automation now (outside its schedule); `--wait` follows its workflow to the end.
    Run {
        id: String,
        #[arg(long)]
        wait: bool,
    },
}

/// What every remote command knows.
pub(crate) struct Ctx {
    pub(crate) server: Option<String>,
    pub(crate) json: bool,
}

/// The credentials file.
#[derive(Default, Serialize, Deserialize)]
struct Stored {
    server: Option<String>,
    static_token: Option<String>,
    session: Option<SessionTokens>,
    current_chat: Option<String>,
}

fn config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCWRIGHT_CONFIG_DIR") {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "docwright").map(|p| p.config_dir().to_path_buf())
}

fn credentials_path() -> Result<PathBuf, Failure> {
    config_dir()
        .map(|d| d.join("credentials.json"))
        .ok_or_else(|| Failure::usage("no configuration directory: set HOME or DOCWRIGHT_CONFIG_DIR"))
}

impl Stored {
    fn load() -> Result<Self, Failure> {
        let path = credentials_path()?;
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Failure::usage(format!("{}: {e}; remove it and log in again", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Failure::usage(format!("{}: {e}", path.display()))),
        }
    }

    /// Written beside the file and renamed over it, created with mode 0600.
    fn save(&self) -> Result<(), Failure> {
        let path = credentials_path()?;
        let fail = |e: std::io::Error| Failure::usage(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut f = open.open(&tmp).map_err(fail)?;
        #[cfg(unix)]
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600)).map_err(fail)?;
        let body = serde_json::to_vec_pretty(self).map_err(|e| Failure::usage(e.to_string()))?;
        f.write_all(&body).and_then(|()| f.sync_all()).map_err(fail)?;
        std::fs::rename(&tmp, &path).map_err(fail)
    }
}

/// Why a command failed, with its exit code.
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self { code: 2, message: message.into() }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let (code, hint) = match &e {
            Error::Authentication(_) => (3, "; log in with `docwright login --token <static token>`"),
            Error::TokenExpired(_) => (3, "; log in again with `docwright login --token <static token>`"),
            Error::NotFound(_) => (4, ""),
            Error::Api(_) => (5, ""),
            Error::Server(_) => (6, "; the request id finds it in the server's log"),
            Error::Network { .. } => (6, "; is the server running? choose one with --server or DOCWRIGHT_SERVER"),
            Error::Protocol { .. } => (6, ""),
            Error::Io { .. } | Error::Config(_) => (2, ""),
        };
        Self { code, message: format!("{e}{hint}") }
    }
}

fn server_of(ctx: &Ctx, stored: &Stored) -> String {
    ctx.server.clone().or_else(|| stored.server.clone()).unwrap_or_else(|| DEFAULT_SERVER.to_owned())
}

/// The client of the stored login.
fn logged_in(ctx: &Ctx, stored: &Stored) -> Result<Client, Failure> {
    let server = server_of(ctx, stored);
    if stored.static_token.is_none() && stored.session.is_none() {
        return Err(Failure { code: 3, message: "not logged in: run `docwright login --token <static token>`".into() });
    }
    let options = Options::default();
    let client = match &stored.session {
        Some(s) if stored.server.as_deref() == Some(server.as_str()) => {
            Client::with_session(&server, s.clone(), stored.static_token.clone(), &options)?
        }
        _ => match &stored.static_token {
            Some(t) => Client::new(&server, t, &options)?,
            None => {
                return Err(Failure { code: 3, message: "not logged in to this server: run `docwright login`".into() });
            }
        },
    };
    Ok(client)
}

/// Keeps the session the client ends with (refresh tokens rotate).
async fn keep_session(client: &Client, stored: &mut Stored) -> Result<(), Failure> {
    if let Ok(t) = client.session_tokens().await {
        stored.session = Some(t);
        stored.server = Some(client.base_url().to_owned());
    }
    stored.save()
}

/// Output as the reader wants it.
struct Out {
    json: bool,
    tty: bool,
    colour: bool,
}

impl Out {
    fn new(json: bool) -> Self {
        let tty = std::io::stdout().is_terminal();
        Self { json, tty, colour: tty && std::env::var_os("NO_COLOR").is_none() }
    }

    fn json(&self, v: &impl Serialize) {
        say(&serde_json::to_string_pretty(v).unwrap_or_default());
    }

    /// Rows under a header: aligned on a terminal, tab-separated otherwise.
    fn table(&self, header: &[&str], rows: &[Vec<String>]) {
        if !self.tty {
            for r in rows {
                say(&r.join("\t"));
            }
            return;
        }
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for r in rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: Vec<String>| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        };
        let head = line(header.iter().map(|h| (*h).to_owned()).collect());
        say(&if self.colour { format!("\x1b[1m{head}\x1b[0m") } else { head });
        for r in rows {
            say(&line(r.clone()));
        }
    }
}

#[allow(clippy::print_stdout)] // The CLI's output.
fn say(text: &str) {
    println!("{text}");
}

#[allow(clippy::print_stdout)] // Streamed tokens.
fn say_part(text: &str) {
    print!("{text}");
    let _ = std::io::stdout().flush();
}

/// Runs one remote command on a runtime of its own; its exit code.
pub(crate) fn main(ctx: Ctx, command: Remote) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(6);
        }
    };
    match runtime.block_on(run(&ctx, command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// The remote commands.
#[derive(Debug)]
pub(crate) enum Remote {
    Login {
        token: String,
    },
    Logout,
    Chat(ChatCommand),
    Settings(SettingsCommand),
    File(FileCommand),
    Projects(ProjectsCommand),
    Billing(BillingCommand),
    Keys(KeysCommand),
    Requests(RequestsCommand),
    Jobs(JobsCommand),
    Automations(AutomationsCommand),
    /// The main job on a server: a prompt and files in, the document downloaded to `out`.
    Generate {
        prompt: String,
        files: Vec<PathBuf>,
        out: PathBuf,
        title: Option<String>,
        debug_trace: bool,
    },
}

async fn run(ctx: &Ctx, command: Remote) -> Result<(), Failure> {
    let out = Out::new(ctx.json);
    let mut stored = Stored::load()?;
    match command {
        Remote::Login { token } => {
            let server = server_of(ctx, &stored);
            let client = Client::new(&server, token.trim(), &Options::default())?;
            let me = client.me().await?;
            stored = Stored {
                server: Some(server.clone()),
                static_token: Some(token.trim().to_owned()),
                session: None,
                current_chat: None,
            };
            keep_session(&client, &mut stored).await?;
            if out.json {
                out.json(&json!({"server": server, "user_id": me.id, "display_name": me.display_name,
                    "tenant_id": me.current_tenant_id, "role": me.current_role}));
            } else {
                say(&format!("logged in to {server} as {} ({})", me.display_name, me.current_role));
            }
        }
        Remote::Logout => {
            let revoked = match logged_in(ctx, &stored) {
                Ok(client) if stored.session.is_some() => client.logout().await.map(|r| r.revoked).unwrap_or(false),
                _ => false,
            };
            let path = credentials_path()?;
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Failure::usage(format!("{}: {e}", path.display()))),
            }
            if out.json {
                out.json(&json!({"logged_out": true, "session_revoked": revoked}));
            } else {
                say("logged out");
            }
        }
        Remote::Chat(c) => {
            let client = logged_in(ctx, &stored)?;
            let result = chat(&client, &out, &mut stored, c).await;
            keep_session(&client, &mut stored).await?;
            result?;
        }
        Remote::Settings(c) => {
            let client = logged_in(ctx, &stored)?;
            let result = settings(&client, &out, c).await;
            keep_session(&client, &mut stored).await?;
            result?;
        }
        Remote::Projects(c) => {
            let client = logged_in(ctx, &stored)?;
            let result = projects(&client, &out, c).await;
            keep_session(&client, &mut stored).await?;
            result?;
        }
        Remote::Billing(c) => {
            let client = logged_in(ctx, &stored)?;
            let result = billing(&client, &out, c).await;
            keep_session(&client, &mut stored).await?;
            result?;
        }
        Remote::Keys(c) => {
            let client = logged_in(ctx, &stored)?;
            let result = keys(&client, &out, c).await;
            keep_session(&client, &mut stored).await?;
            result?;
        }
        Remote::Requests(c) => {
            let client = logged_in(ctx, &stored)?;
            let result = requests(&client, &out, c).await;
            keep_session(&client, &mut stored).await?;
            result?;
        }
        Remote::Jobs(c) => {
            let client = logged_in(ctx, &stored)?;
            let result = jobs(&client, &out, c).await;
            keep_session(&client, &mut stored).await?;
            result?;
        }
        Remote::Automations(c) => {
            let client = logged_in(ctx, &stored)?;
            let result = automations(&client, &out, c).await;
            keep_session(&client, &mut stored).await?;
            result?;
        }
        Remote::Generate { prompt, files, out: dest, title, debug_trace } => {
            let client = logged_in(ctx, &stored)?;
            let result = generate(&client, &out, prompt, &files, &dest, title, debug_trace).await;
            keep_session(&client, &mut stored).await?;
            result?;
        }
        Remote::File(FileCommand::Upload { paths }) => {
            let client = logged_in(ctx, &stored)?;
            let result = upload(&client, &out, &paths).await;
            keep_session(&client, &mut stored).await?;
            let files = result?;
            if out.json {
                out.json(&files);
            } else {
                let rows: Vec<Vec<String>> = files
                    .iter()
                    .map(|f| vec![f.id.clone(), f.file_name.clone(), f.file_size.to_string(), f.mime_type.clone()])
                    .collect();
                out.table(&["ID", "NAME", "BYTES", "TYPE"], &rows);
            }
        }
    }
    Ok(())
}

/// Uploads files one after another, each with a progress bar on a terminal.
async fn upload(
    client: &Client,
    out: &Out,
    paths: &[PathBuf],
) -> Result<Vec<docwright_client::api::files::FileOut>, Failure> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_file() {
            return Err(Failure::usage(format!("{}: no such file", path.display())));
        }
        let bar = progress_bar(path, out);
        let b = bar.clone();
        let progress = move |done: u64, total: Option<u64>| {
            if let Some(t) = total {
                b.set_length(t);
            }
            b.set_position(done);
        };
        let f = client.upload_file(path, Some(&progress)).await?;
        bar.finish_and_clear();
        if !out.tty && !out.json {
            eprintln!("uploaded {} ({} bytes)", path.display(), f.file_size);
        }
        files.push(f);
    }
    Ok(files)
}

fn progress_bar(path: &Path, out: &Out) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() || out.json {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    bar
}

async fn chat(client: &Client, out: &Out, stored: &mut Stored, command: ChatCommand) -> Result<(), Failure> {
    let current = |given: Option<String>, stored: &Stored| {
        given.or_else(|| stored.current_chat.clone()).ok_or_else(|| {
            Failure::usage("no current chat: start one with `docwright chat new <title>` or pass --chat <id>")
        })
    };
    match command {
        ChatCommand::New { title, project } => {
            let project_id = project
                .map(|p| p.parse().map_err(|_| Failure::usage(format!("--project {p:?} is not a project id"))))
                .transpose()?;
            let c = client.create_chat(&ChatIn { title, description: None, project_id, collection_id: None }).await?;
            stored.current_chat = Some(c.id.clone());
            if out.json {
                out.json(&c);
            } else {
                say(&format!("chat {} \"{}\" is now the current chat", c.id, c.title));
            }
        }
        ChatCommand::Send { text, files, chat } => {
            let chat = current(chat, stored)?;
            let attached = upload(client, out, &files).await?;
            let attached_file_ids = attached
                .iter()
                .map(|f| {
                    f.id.parse()
                        .map_err(|_| Failure { code: 6, message: format!("the server gave file id {:?}", f.id) })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let message = MessageIn {
                message: text,
                attached_file_ids,
                model_profile: None,
                allowed_providers: None,
                role_prompt_id: None,
            };
            let mut events = client.send_message(&chat, &message).await?;
            let mut answer = None;
            use futures_util::StreamExt as _;
            while let Some(item) = events.next().await {
                match item?.1 {
                    ChatEvent::PhaseStarted { phase, description } if !out.json => eprintln!("[{phase}] {description}"),
                    ChatEvent::Token { token } if !out.json => say_part(&token),
                    ChatEvent::Final { content, model, price, usage, sources } => {
                        if !out.json {
                            say("");
                            eprintln!(
                                "[{model}] {price} · {} in / {} out tokens",
                                usage.input_tokens, usage.output_tokens
                            );
                        }
                        answer = Some(json!({"chat_id": chat, "content": content, "model": model, "price": price,
                            "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}, "sources": sources}));
                    }
                    ChatEvent::Completed { message_id } => {
                        if let (true, Some(mut a)) = (out.json, answer.take()) {
                            a["message_id"] = json!(message_id);
                            out.json(&a);
                        }
                    }
                    ChatEvent::Error { code, message } => {
                        return Err(Failure { code: 5, message: format!("the answer failed: {message} ({code})") });
                    }
                    _ => {}
                }
            }
        }
        ChatCommand::History { chat } => {
            let chat = current(chat, stored)?;
            let c = client.chat(&chat).await?;
            if out.json {
                out.json(&c);
            } else {
                for m in &c.messages {
                    let who = if out.colour { format!("\x1b[1m{}\x1b[0m", m.role) } else { m.role.clone() };
                    say(&format!("{who}: {}", m.content));
                }
            }
        }
        ChatCommand::List => {
            let page = client.chats(&Default::default()).await?;
            if out.json {
                out.json(&page.items);
            } else {
                let mark = |id: &str| if stored.current_chat.as_deref() == Some(id) { "*" } else { "" };
                let rows: Vec<Vec<String>> = page
                    .items
                    .iter()
                    .map(|c| vec![format!("{}{}", mark(&c.id), c.id), c.title.clone(), c.updated_at.clone()])
                    .collect();
                out.table(&["ID", "TITLE", "UPDATED"], &rows);
            }
        }
    }
    Ok(())
}

async fn settings(client: &Client, out: &Out, command: SettingsCommand) -> Result<(), Failure> {
    let roles = client.roles().await?;
    let s = match command {
        SettingsCommand::Show => client.me().await?.settings,
        SettingsCommand::SetModel { profile } => {
            client.update_settings(&SettingsPatch { model_profile: Some(profile), ..Default::default() }).await?
        }
        SettingsCommand::SetRole { name } => {
            let wanted = name.trim().to_lowercase();
            let id = if wanted == "none" {
                None
            } else {
                let found = roles.iter().find(|r| {
                    r.name.to_lowercase() == wanted
                        || r.id == name.trim()
                        || r.names.values().any(|n| n.as_str().is_some_and(|n| n.to_lowercase() == wanted))
                });
                let Some(role) = found else {
                    let known: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
                    return Err(Failure {
                        code: 4,
                        message: format!("no role named {name:?}; the roles: {}", known.join(", ")),
                    });
                };
                Some(role.id.clone())
            };
            client.update_settings(&SettingsPatch { selected_role_prompt_id: Some(id), ..Default::default() }).await?
        }
    };
    let role_name = s
        .selected_role_prompt_id
        .as_ref()
        .map(|id| roles.iter().find(|r| &r.id == id).map_or_else(|| id.clone(), |r| r.name.clone()));
    if out.json {
        out.json(&s);
    } else {
        let rows = vec![
            vec!["model_profile".to_owned(), s.model_profile.clone()],
            vec!["language".to_owned(), s.language.clone()],
            vec!["role".to_owned(), role_name.unwrap_or_else(|| "-".to_owned())],
            vec![
                "own provider keys".to_owned(),
                if s.provider_keys_set.is_empty() { "-".to_owned() } else { s.provider_keys_set.join(", ") },
            ],
        ];
        out.table(&["SETTING", "VALUE"], &rows);
    }
    Ok(())
}

async fn projects(client: &Client, out: &Out, command: ProjectsCommand) -> Result<(), Failure> {
    match command {
        ProjectsCommand::Tree { client_id } => {
            // A client is named by its id or, as people do, by its name.
            let is_id = client_id
                .as_deref()
                .is_some_and(|c| c.len() == 36 && c.chars().all(|ch| ch.is_ascii_hexdigit() || ch == '-'));
            let mut tree = client.projects_tree(if is_id { client_id.as_deref() } else { None }).await?;
            if let (false, Some(name)) = (is_id, &client_id) {
                tree.clients.retain(|c| c.name.eq_ignore_ascii_case(name));
                if tree.clients.is_empty() {
                    return Err(Failure { code: 4, message: format!("no client named {name:?}") });
                }
            }
            if out.json {
                out.json(&tree);
                return Ok(());
            }
            fn docs(d: &[docwright_client::api::projects::TreeDocumentOut], indent: usize) {
                for d in d {
                    say(&format!("{:indent$}{} ({}, {})", "", d.title, d.file_name, d.extraction_status));
                }
            }
            fn folders(f: &[docwright_client::api::projects::TreeFolderOut], indent: usize) {
                for f in f {
                    say(&format!("{:indent$}{}/", "", f.name));
                    folders(&f.folders, indent + 2);
                    docs(&f.documents, indent + 2);
                }
            }
            for c in &tree.clients {
                say(&format!("{} [{}]", c.name, c.id));
                for p in &c.projects {
                    say(&format!("  {} [{}]", p.name, p.id));
                    folders(&p.folders, 4);
                    docs(&p.documents, 4);
                }
            }
        }
        ProjectsCommand::Search { words, limit } => {
            let hits = client.search(&words, limit, None).await?;
            if out.json {
                out.json(&hits);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = hits
                .items
                .iter()
                .map(|h| {
                    let at = match (h.location.page, h.location.slide, &h.location.sheet) {
                        (Some(p), _, _) => format!("page {p}"),
                        (_, Some(s), _) => format!("slide {s}"),
                        (_, _, Some(s)) => format!("sheet {s}"),
                        _ => String::new(),
                    };
                    vec![h.file_name.clone(), at, plain_snippet(&h.snippet)]
                })
                .collect();
            out.table(&["FILE", "WHERE", "SNIPPET"], &rows);
        }
    }
    Ok(())
}

/// A snippet as text: `<mark>` dropped, the escapes undone, on one line.
fn plain_snippet(html: &str) -> String {
    let text = html.replace("<mark>", "").replace("</mark>", "");
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn billing(client: &Client, out: &Out, command: BillingCommand) -> Result<(), Failure> {
    match command {
        BillingCommand::Balance => {
            let b = client.balance().await?;
            if out.json {
                out.json(&b);
            } else {
                let rows = vec![
                    vec!["balance".to_owned(), format!("{} {}", b.balance, b.currency)],
                    vec!["reserved".to_owned(), format!("{} {}", b.reserved, b.currency)],
                    vec![
                        "available".to_owned(),
                        b.available.as_ref().map_or_else(|| "unlimited".to_owned(), |a| format!("{a} {}", b.currency)),
                    ],
                    vec!["billing".to_owned(), format!("{} ({} account)", b.billing_model, b.account_type)],
                ];
                out.table(&["", ""], &rows);
            }
        }
        BillingCommand::Transactions { month } => {
            let list = client.transactions(month.as_deref()).await?;
            if out.json {
                out.json(&list);
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|t| {
                        vec![
                            t.created_at.clone(),
                            t.kind.clone(),
                            t.amount.clone(),
                            t.feature.clone(),
                            t.model.clone(),
                            t.description.clone(),
                        ]
                    })
                    .collect();
                out.table(&["WHEN", "KIND", "AMOUNT", "FEATURE", "MODEL", "DESCRIPTION"], &rows);
            }
        }
    }
    Ok(())
}

async fn keys(client: &Client, out: &Out, command: KeysCommand) -> Result<(), Failure> {
    use docwright_client::api::keys::CreateKeyRequest;
    match command {
        KeysCommand::Create { name, expires_at } => {
            let k = client.create_key(&CreateKeyRequest { name, expires_at }).await?;
            if out.json {
                out.json(&k);
            } else {
                // The one place a secret is printed: the user asked for it, and it is never shown again.
                say(&k.key);
                eprintln!("API key {} \"{}\" issued; it is shown only now", k.details.id, k.details.name);
            }
        }
        KeysCommand::List => {
            let page = client.keys(&Default::default()).await?;
            if out.json {
                out.json(&page.items);
            } else {
                let rows: Vec<Vec<String>> = page
                    .items
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.to_string(),
                            k.name.clone(),
                            format!("{}…", k.prefix),
                            k.expires_at.clone().unwrap_or_else(|| "-".to_owned()),
                            k.last_used_at.clone().unwrap_or_else(|| "-".to_owned()),
                            if k.revoked { "revoked" } else { "active" }.to_owned(),
                        ]
                    })
                    .collect();
                out.table(&["ID", "NAME", "PREFIX", "EXPIRES", "LAST USED", "STATE"], &rows);
            }
        }
        KeysCommand::Revoke { id } => {
            client.revoke_key(&id).await?;
            if out.json {
                out.json(&json!({"revoked": id}));
            } else {
                say(&format!("revoked API key {id}"));
            }
        }
    }
    Ok(())
}

fn print_status(out: &Out, s: &docwright_client::api::ai::StatusOut) {
    if out.json {
        out.json(s);
        return;
    }
    let mut rows = vec![
        vec!["request".to_owned(), s.request_id.to_string()],
        vec!["status".to_owned(), s.status.clone()],
        vec!["progress".to_owned(), format!("{}%", s.progress)],
    ];
    rows.extend(s.phase.as_ref().map(|p| vec!["phase".to_owned(), p.clone()]));
    rows.extend(s.error.as_ref().map(|e| vec!["error".to_owned(), format!("{} ({})", e.message, e.code)]));
    out.table(&["", ""], &rows);
}

fn print_result(out: &Out, r: &docwright_client::api::ai::ResultOut) {
    if out.json {
        out.json(r);
        return;
    }
    say(&r.text);
    if let Some(data) = &r.result_data {
        say(&serde_json::to_string(data).unwrap_or_default());
    }
    eprintln!(
        "[{}] {} {} · {} in / {} out tokens",
        r.model, r.price, r.currency, r.usage.input_tokens, r.usage.output_tokens
    );
}

async fn requests(client: &Client, out: &Out, command: RequestsCommand) -> Result<(), Failure> {
    use docwright_client::api::ai::ProcessIn;
    match command {
        RequestsCommand::Submit { query, category, model_profile, wait } => {
            let accepted = client
                .submit_request(&ProcessIn { query_text: query, category, model_profile, ..Default::default() })
                .await?;
            let id = accepted.request_id.to_string();
            if !wait {
                if out.json {
                    out.json(&accepted);
                } else {
                    say(&id);
                }
                return Ok(());
            }
            let mut delay = std::time::Duration::from_millis(100);
            let status = loop {
                let s = client.request_status(&id).await?;
                if s.is_terminal() {
                    break s;
                }
                if out.tty && !out.json {
                    eprint!("\r{} {}%   ", s.phase.as_deref().unwrap_or(&s.status), s.progress);
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(2));
            };
            if out.tty && !out.json {
                eprint!("\r\x1b[2K");
            }
            if status.status != "completed" {
                let why = status.error.as_ref().map(|e| format!("{} ({})", e.message, e.code)).unwrap_or_default();
                return Err(Failure { code: 5, message: format!("request {id} {}: {why}", status.status) });
            }
            print_result(out, &client.request_result(&id).await?);
        }
        RequestsCommand::Status { id } => print_status(out, &client.request_status(&id).await?),
        RequestsCommand::Result { id } => print_result(out, &client.request_result(&id).await?),
        RequestsCommand::Cancel { id } => print_status(out, &client.cancel_request(&id).await?),
    }
    Ok(())
}

fn job_row(j: &docwright_client::api::jobs::JobOut) -> Vec<String> {
    vec![
        j.id.to_string(),
        j.kind.clone(),
        j.state.clone(),
        format!("{}/{}", j.attempt, j.max_attempts),
        j.created_at.clone(),
        j.error_code.clone().unwrap_or_default(),
    ]
}

const JOB_HEADER: [&str; 6] = ["ID", "KIND", "STATE", "ATTEMPT", "CREATED", "ERROR"];

async fn jobs(client: &Client, out: &Out, command: JobsCommand) -> Result<(), Failure> {
    let job = match command {
        JobsCommand::List { state, kind, limit } => {
            let page = docwright_client::api::page::PageParams { limit, cursor: None };
            let list = client.jobs(state.as_deref(), kind.as_deref(), &page).await?;
            if out.json {
                out.json(&list.items);
            } else {
                out.table(&JOB_HEADER, &list.items.iter().map(job_row).collect::<Vec<_>>());
            }
            return Ok(());
        }
        JobsCommand::Retry { id } => client.retry_job(&id).await?,
        JobsCommand::Cancel { id } => client.cancel_job(&id).await?,
    };
    if out.json {
        out.json(&job);
    } else {
        out.table(&JOB_HEADER, &[job_row(&job)]);
    }
    Ok(())
}

const AUTOMATION_HEADER: [&str; 7] = ["ID", "LABEL", "SCHEDULE", "TIMEZONE", "ACTIVE", "NEXT RUN", "LAST RUN"];

async fn automations(client: &Client, out: &Out, command: AutomationsCommand) -> Result<(), Failure> {
    use docwright_client::api::events::WorkflowEvent;
    use futures_util::StreamExt as _;
    match command {
        AutomationsCommand::List { limit } => {
            let page = docwright_client::api::page::PageParams { limit, cursor: None };
            let list = client.automations(&page).await?;
            if out.json {
                out.json(&list.items);
            } else {
                let rows: Vec<Vec<String>> =
                    list.items
                        .iter()
                        .map(|a| {
                            let last = a.execution_logs.first().map(|r| {
                                format!("{} {}", r.created_at, r.workflow_status.as_deref().unwrap_or(&r.status))
                            });
                            vec![
                                a.id.clone(),
                                a.label.clone(),
                                a.schedule.clone(),
                                a.timezone.clone(),
                                if a.active { "yes" } else { "no" }.to_owned(),
                                a.next_runs.first().cloned().unwrap_or_default(),
                                last.unwrap_or_default(),
                            ]
                        })
                        .collect();
                out.table(&AUTOMATION_HEADER, &rows);
            }
        }
        AutomationsCommand::Run { id, wait } => {
            let run = client.run_automation(&id).await?;
            let workflow = run.workflow_id.clone().unwrap_or_default();
            if !wait {
                if out.json {
                    out.json(&run);
                } else {
                    out.table(&["RUN", "WORKFLOW", "STATUS"], &[vec![run.id.clone(), workflow, run.status.clone()]]);
                }
                return Ok(());
            }
            let mut events = client.workflow_events(&workflow, None).await?;
            while let Some(ev) = events.next().await {
                match ev? {
                    (_, WorkflowEvent::PhaseStarted { phase, description }) if !out.json => {
                        eprintln!("[{phase}] {description}");
                    }
                    (_, WorkflowEvent::Error { code, message, .. }) => {
                        return Err(Failure { code: 6, message: format!("the run failed ({code}): {message}") });
                    }
                    _ => {}
                }
            }
            let w = client.workflow(&workflow).await?;
            if out.json {
                out.json(&w);
            } else {
                out.table(
                    &["WORKFLOW", "STATUS", "COST"],
                    &[vec![w.workflow_id.clone(), w.status.clone(), w.cost.clone()]],
                );
            }
        }
    }
    Ok(())
}

/// Uploads the files, starts the workflow, shows its phases and progress, downloads the result.
async fn generate(
    client: &Client,
    out: &Out,
    prompt: String,
    files: &[PathBuf],
    dest: &Path,
    title: Option<String>,
    debug_trace: bool,
) -> Result<(), Failure> {
    use docwright_client::api::events::WorkflowEvent;
    use futures_util::StreamExt as _;
    let format = crate::generate::output_format(dest).map_err(|e| Failure::usage(e.to_string()))?;
    let uploaded = upload(client, out, files).await?;
    let file_ids = uploaded
        .iter()
        .map(|f| f.id.parse().map_err(|_| Failure { code: 6, message: format!("the server gave file id {:?}", f.id) }))
        .collect::<Result<Vec<_>, _>>()?;
    let w = client
        .submit_workflow(&docwright_client::api::workflows::WorkflowIn {
            prompt,
            file_ids,
            project_id: None,
            collection_id: None,
            output_format: Some(format.clone()),
            title,
            allowed_providers: None,
            model_profile: None,
            debug_trace,
            category: None,
            preset_id: None,
        })
        .await?;
    let bar = if std::io::stderr().is_terminal() && !out.json {
        let b = indicatif::ProgressBar::new(100);
        b.set_style(
            indicatif::ProgressStyle::with_template("{msg:40} [{bar:30}] {pos}%")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut events = client.workflow_events(&w.workflow_id, None).await?;
    let mut produced = Vec::new();
    while let Some(item) = events.next().await {
        match item?.1 {
            WorkflowEvent::PhaseStarted { phase, description } => {
                bar.set_message(phase.clone());
                if bar.is_hidden() && !out.json {
                    eprintln!("[{phase}] {description}");
                }
            }
            WorkflowEvent::Progress { percent, .. } => bar.set_position(percent.clamp(0.0, 100.0) as u64),
            WorkflowEvent::Completed { files, .. } => produced = files,
            WorkflowEvent::Error { code, message, .. } => {
                bar.finish_and_clear();
                return Err(Failure {
                    code: 5,
                    message: format!("workflow {} failed: {message} ({code})", w.workflow_id),
                });
            }
            _ => {}
        }
    }
    bar.finish_and_clear();
    let Some(file) = produced.first() else {
        let w = client.workflow(&w.workflow_id).await?;
        return Err(Failure {
            code: 5,
            message: format!(
                "workflow {} made no file{}",
                w.workflow_id,
                w.answer.map(|a| format!("; it answered: {a}")).unwrap_or_default()
            ),
        });
    };
    let dbar = progress_bar(dest, out);
    let b = dbar.clone();
    let progress = move |done: u64, total: Option<u64>| {
        if let Some(t) = total {
            b.set_length(t);
        }
        b.set_position(done);
    };
    let bytes = client.download_file(&file.file_id, dest, Some(&progress)).await?;
    dbar.finish_and_clear();
    if out.json {
        out.json(&json!({"workflow_id": w.workflow_id, "file_id": file.file_id, "file_name": file.file_name,
            "mime_type": file.mime_type, "bytes": bytes, "path": dest.display().to_string()}));
    } else {
        say(&format!("wrote {} ({bytes} bytes, {})", dest.display(), file.mime_type));
    }
    Ok(())
}
