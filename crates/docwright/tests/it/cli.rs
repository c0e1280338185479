//! The client commands of the binary (SPEC U1) against a real `docwright serve` on port 0:
//! login, chats with a streamed answer, settings, uploads, `--json`, completions, the
//! credentials file's mode, and the exit codes of the error paths.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use super::{BIN, Server};

const TOKEN: &str = "cli-tests-admin-token-0123456789abcdef";

/// `docwright <args>` as a client of `server`, its configuration directory `home`.
fn cli(home: &Path, server: &str, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("DOCWRIGHT_") || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
    cmd.env("DOCWRIGHT_CONFIG_DIR", home).env("DOCWRIGHT_SERVER", server).args(args);
    cmd.output().expect("run docwright")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{:?}\nstdout: {}\nstderr: {}", out.status, text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("an exit code")
}

#[test]
fn a_user_logs_in_chats_with_a_streamed_answer_uploads_and_reads_settings() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", TOKEN)]);
    let base = server.url("");
    let home = dir.path().join("home");

    // Not logged in yet: 3, and the message says what to do.
    let out = cli(&home, &base, &["chat", "list"]);
    assert_eq!(code(&out), 3, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("docwright login"), "{}", text(&out.stderr));
    // A wrong token: 3, nothing stored.
    let out = cli(&home, &base, &["login", "--token", "dwst_not-a-token"]);
    assert_eq!(code(&out), 3, "{}", text(&out.stderr));
    assert!(!home.join("credentials.json").exists());

    let said = ok(&cli(&home, &base, &["login", "--token", TOKEN]));
    assert!(said.contains("logged in") && !said.contains(TOKEN), "{said}");
    let creds = home.join("credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // A chat becomes the current one; the answer streams to stdout, phases to stderr.
    let chat = json(&cli(&home, &base, &["--json", "chat", "new", "Quarterly notes"]));
    let chat_id = chat["id"].as_str().unwrap().to_owned();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "The meeting is in room B12 on Tuesday.\n").unwrap();
    let out = cli(&home, &base, &["chat", "send", "Where is the meeting?", "--file", notes.to_str().unwrap()]);
    let answer = ok(&out);
    let phases = text(&out.stderr);
    assert!(!answer.trim().is_empty(), "no answer streamed");
    assert!(phases.contains("[context]") && phases.contains("[generation]"), "{phases}");
    assert!(phases.contains("uploaded"), "{phases}");
    let history = json(&cli(&home, &base, &["--json", "chat", "history"]));
    assert_eq!(history["id"], chat_id.as_str());
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["content"], "Where is the meeting?");
    assert_eq!(messages[1]["content"].as_str().unwrap().trim(), answer.trim());
    // Plain output off a terminal: tab-separated, no colour codes.
    let list = ok(&cli(&home, &base, &["chat", "list"]));
    assert!(list.starts_with(&format!("*{chat_id}\tQuarterly notes\t")), "{list}");
    assert!(!list.contains('\x1b'), "{list:?}");
    let sent = json(&cli(&home, &base, &["--json", "chat", "send", "And when?", "--chat", &chat_id]));
    assert!(sent["content"].as_str().is_some_and(|c| !c.is_empty()), "{sent}");
    assert!(sent["message_id"].is_string(), "{sent}");

    // Settings.
    let s = json(&cli(&home, &base, &["--json", "settings", "set-model", "complex"]));
    assert_eq!(s["model_profile"], "complex");
    let shown = ok(&cli(&home, &base, &["settings", "show"]));
    assert!(shown.contains("model_profile\tcomplex"), "{shown}");
    // A role by its Russian name; shown by its name in the user's language.
    ok(&cli(&home, &base, &["settings", "set-role", "Инженер"]));
    let shown = ok(&cli(&home, &base, &["settings", "show"]));
    assert!(shown.contains("role\tEngineer"), "{shown}");
    let out = cli(&home, &base, &["settings", "set-role", "Astronaut"]);
    assert_eq!(code(&out), 4, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Engineer"), "the message lists the roles: {}", text(&out.stderr));

    // Search finds the uploaded notes once they are extracted; the tree shows a client by name.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let hits = loop {
        let hits = json(&cli(&home, &base, &["--json", "projects", "search", "B12"]));
        if !hits["items"].as_array().unwrap().is_empty() || std::time::Instant::now() > deadline {
            break hits;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(hits["items"][0]["file_name"], "notes.txt", "{hits}");
    let plain = ok(&cli(&home, &base, &["projects", "search", "B12"]));
    assert!(plain.starts_with("notes.txt\t") && plain.contains("room B12") && !plain.contains("<mark>"), "{plain}");
    let made = create_client(&base, "mycompany");
    assert_eq!(made["name"], "mycompany", "{made}");
    let tree = json(&cli(&home, &base, &["--json", "projects", "tree", "--client-id", "mycompany"]));
    assert_eq!(tree["clients"][0]["name"], "mycompany", "{tree}");
    assert!(ok(&cli(&home, &base, &["projects", "tree"])).starts_with("mycompany ["));
    assert_eq!(code(&cli(&home, &base, &["projects", "tree", "--client-id", "nobody"])), 4);

    // Billing.
    let balance = json(&cli(&home, &base, &["--json", "billing", "balance"]));
    assert!(balance["balance"].is_string() && balance["currency"].is_string(), "{balance}");
    let txs = json(&cli(&home, &base, &["--json", "billing", "transactions"]));
    assert!(txs.is_array(), "{txs}");
    assert_eq!(code(&cli(&home, &base, &["billing", "transactions", "--month", "13-2026"])), 5);

    // The main job on the server: the document downloaded, and it opens.
    let report = dir.path().join("report.docx");
    let out = cli(
        &home,
        &base,
        &["generate", "Summarise the notes as a short report", notes.to_str().unwrap(), "-o", report.to_str().unwrap()],
    );
    let said = ok(&out);
    assert!(said.contains("wrote") && said.contains("report.docx"), "{said}\n{}", text(&out.stderr));
    let mut docx = zip::ZipArchive::new(std::fs::File::open(&report).unwrap()).expect("a DOCX is a zip");
    assert!(docx.by_name("word/document.xml").is_ok());
    assert_eq!(code(&cli(&home, &base, &["generate", "x", "-o", dir.path().join("out.unknown").to_str().unwrap()])), 2);

    // Uploads of several files, reported per file off a terminal.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "a;b\n1;2\n").unwrap();
    let out = cli(&home, &base, &["--json", "file", "upload", notes.to_str().unwrap(), other.to_str().unwrap()]);
    let files = json(&out);
    assert_eq!(files.as_array().unwrap().len(), 2);
    assert_eq!(files[1]["file_name"], "other.csv");

    // Error paths: an unknown chat is 4, bad arguments 2, a missing file 2, a refusal 5.
    let out = cli(&home, &base, &["chat", "history", "--chat", "0190c0de-0000-7000-8000-000000000000"]);
    assert_eq!(code(&out), 4, "{}", text(&out.stderr));
    assert_eq!(code(&cli(&home, &base, &["settings", "set-model", "huge"])), 2);
    assert_eq!(code(&cli(&home, &base, &["chat", "frobnicate"])), 2);
    assert_eq!(code(&cli(&home, &base, &["file", "upload", "/no/such/file.pdf"])), 2);
    let out = cli(&home, &base, &["chat", "history", "--chat", "not-a-uuid"]);
    assert_eq!(code(&out), 5, "{}", text(&out.stderr));
    // No server there: 6, naming the address.
    let out = cli(&home, "http://127.0.0.1:9", &["chat", "list"]);
    assert_eq!(code(&out), 6, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("127.0.0.1:9"), "{}", text(&out.stderr));

    // The stored file never holds a secret in what the commands printed, and logout forgets it.
    ok(&cli(&home, &base, &["logout"]));
    assert!(!creds.exists());
    assert_eq!(code(&cli(&home, &base, &["chat", "list"])), 3);
    server.stop("TERM");
}

/// A client of the projects tree made through the API (the CLI does not create them).
fn create_client(base: &str, name: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let api = docwright_client::Client::new(base, TOKEN, &Default::default()).unwrap();
        let made =
            api.create_client(&docwright_client::api::projects::ClientIn { name: name.to_owned() }).await.unwrap();
        serde_json::to_value(made).unwrap()
    })
}

#[test]
fn api_keys_asynchronous_requests_and_jobs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", TOKEN)]);
    let base = server.url("");
    let home = dir.path().join("home");
    ok(&cli(&home, &base, &["login", "--token", TOKEN]));

    // A key is printed once, to stdout only; the list shows its prefix, never the key.
    let made = cli(&home, &base, &["keys", "create", "ci"]);
    let key = ok(&made).trim().to_owned();
    assert!(key.len() > 20 && text(&made.stderr).contains("shown only now"), "{key}");
    let keys = json(&cli(&home, &base, &["--json", "keys", "list"]));
    let listed = &keys.as_array().unwrap()[0];
    assert_eq!(listed["name"], "ci");
    assert!(!keys.to_string().contains(&key), "{keys}");
    let plain = ok(&cli(&home, &base, &["keys", "list"]));
    assert!(!plain.contains(&key) && plain.contains("ci"), "{plain}");
    // The key works as a bearer until it is revoked.
    let me = |bearer: &str| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let api = docwright_client::Client::with_api_key(&base, bearer, &Default::default()).unwrap();
        rt.block_on(api.me()).map(|m| m.id)
    };
    assert!(me(&key).is_ok());
    let key_id = listed["id"].as_str().unwrap();
    ok(&cli(&home, &base, &["keys", "revoke", key_id]));
    assert!(me(&key).is_err(), "a revoked key still works");
    assert_eq!(code(&cli(&home, &base, &["keys", "revoke", "0190c0de-0000-7000-8000-000000000000"])), 4);

    // An asynchronous request, followed to its answer.
    let result = json(&cli(&home, &base, &["--json", "requests", "submit", "Name three colours", "--wait"]));
    assert_eq!(result["status"], "completed", "{result}");
    assert!(result["text"].as_str().is_some_and(|t| !t.is_empty()), "{result}");
    let id = result["request_id"].as_str().unwrap();
    let status = json(&cli(&home, &base, &["--json", "requests", "status", id]));
    assert_eq!(status["status"], "completed");
    assert_eq!(status["progress"], 100);
    let answer = ok(&cli(&home, &base, &["requests", "result", id]));
    assert_eq!(answer.trim(), result["text"].as_str().unwrap().trim());
    // Without --wait: the id, and a second request is queued behind it.
    let queued = ok(&cli(&home, &base, &["requests", "submit", "Another"]));
    assert!(queued.trim().parse::<docwright_client::api::Uuid>().is_ok(), "{queued}");
    assert_eq!(code(&cli(&home, &base, &["requests", "status", "0190c0de-0000-7000-8000-000000000000"])), 4);

    // The jobs behind them, for the admin.
    let jobs = json(&cli(&home, &base, &["--json", "jobs", "list", "--kind", "ai.request"]));
    let jobs = jobs.as_array().unwrap();
    assert!(!jobs.is_empty() && jobs.iter().all(|j| j["kind"] == "ai.request"), "{jobs:?}");
    let table = ok(&cli(&home, &base, &["jobs", "list", "--limit", "1"]));
    assert_eq!(table.lines().count(), 1, "one row off a terminal, no header: {table}");
    assert_eq!(code(&cli(&home, &base, &["jobs", "list", "--state", "sleeping"])), 5);
    server.stop("TERM");
}

#[test]
fn automations_are_listed_and_run_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", TOKEN)]);
    let base = server.url("");
    let home = dir.path().join("home");
    ok(&cli(&home, &base, &["login", "--token", TOKEN]));
    // A definition from the first starter template, its placeholders filled, made with the client.
    let made = {
        use docwright_client::api::automations::AutomationIn;
        use docwright_client::api::page::PageParams;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let api = docwright_client::Client::new(&base, TOKEN, &Default::default()).unwrap();
            let templates = api.automation_templates(&PageParams::default()).await.unwrap();
            let template = templates.items.iter().find(|t| t.placeholder_keys.contains(&"search_words".to_owned()));
            let template = template.expect("the starter set");
            let values = template.placeholder_keys.iter().map(|k| (k.clone(), "docx".to_owned())).collect();
            let input = AutomationIn {
                from_template: Some(template.id.parse().unwrap()),
                placeholders: Some(values),
                ..Default::default()
            };
            api.create_automation(&input).await.unwrap()
        })
    };
    assert_eq!(made.unfilled_placeholders, Vec::<String>::new());
    let list = json(&cli(&home, &base, &["--json", "automations", "list"]));
    assert_eq!(list[0]["id"], made.id.as_str());
    let table = ok(&cli(&home, &base, &["automations", "list"]));
    assert!(table.contains(&made.id) && table.contains("0 22 * * *"), "{table}");
    // Run now and follow the workflow to its end.
    let done = json(&cli(&home, &base, &["--json", "automations", "run", &made.id, "--wait"]));
    assert_eq!(done["status"], "completed", "{done}");
    let list = json(&cli(&home, &base, &["--json", "automations", "list"]));
    assert_eq!(list[0]["execution_logs"][0]["workflow_status"], "completed", "{list}");
    assert_eq!(code(&cli(&home, &base, &["automations", "run", "0190c0de-0000-7000-8000-000000000000"])), 4);
    server.stop("TERM");
}

#[test]
fn completions_are_generated_for_each_shell() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&cli(home.path(), "http://127.0.0.1:9", &["completions", shell]));
        assert!(script.contains("docwright") && script.contains("login"), "{shell}: {script}");
    }
    assert_eq!(code(&cli(home.path(), "http://127.0.0.1:9", &["completions", "cmd.exe"])), 2);
}
