//! Configuration tests. `figment::Jail` gives each test its own environment and working
//! directory (and serialises the tests that use it).

// `figment::Jail` closures return `figment::Error`, which is large; that is figment's API.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;

use figment::Jail;

use super::*;

/// Loads with the given env vars (and config file text, if any) inside a jail.
fn load(vars: &[(&str, &str)], toml: Option<&str>) -> Result<Config> {
    let mut out = None;
    Jail::expect_with(|jail| {
        jail.clear_env();
        for (k, v) in vars {
            jail.set_env(k, v);
        }
        let file = toml.map(|t| {
            jail.create_file("custom.toml", t).expect("write config");
            PathBuf::from("custom.toml")
        });
        out = Some(Config::load(file.as_deref()));
        Ok(())
    });
    out.expect("jail ran")
}

fn err(vars: &[(&str, &str)], toml: Option<&str>) -> String {
    match load(vars, toml) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_match_the_spec() {
    let c = load(&[], None).unwrap();
    assert_eq!(c.server.bind.to_string(), "127.0.0.1:8000");
    assert_eq!(c.storage.data_dir, PathBuf::from("./docwright-data"));
    assert_eq!(c.database_kind(), DatabaseKind::Sqlite);
    assert!(c.database_url().starts_with("sqlite://./docwright-data/docwright.db"));
    assert!(c.bootstrap.admin_token.is_none());
}

#[test]
fn env_overrides_file_with_spec_key_names() {
    let c = load(
        &[
            ("DOCWRIGHT_SERVER__BIND", "0.0.0.0:9000"),
            ("DOCWRIGHT_DATABASE__URL", "postgres://u:pw@db/dw"),
            ("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", "1234567890123456"),
            ("DOCWRIGHT_TEST_POSTGRES_URL", "not ours, ignored"),
        ],
        Some("[server]\nbind = \"127.0.0.1:1\"\n[storage]\ndata_dir = \"/srv/dw\"\n"),
    )
    .unwrap();
    assert_eq!(c.server.bind.to_string(), "0.0.0.0:9000");
    assert_eq!(c.storage.data_dir, PathBuf::from("/srv/dw"));
    assert_eq!(c.database_kind(), DatabaseKind::Postgres);
    // A numeric-looking token stays a string, digit for digit.
    assert_eq!(c.bootstrap.admin_token.unwrap().expose(), "1234567890123456");
}

#[test]
fn invalid_values_name_the_key_and_source() {
    let e = err(&[("DOCWRIGHT_SERVER__BIND", "not-an-address")], None);
    assert!(e.contains("`server.bind`"), "{e}");
    assert!(e.contains("DOCWRIGHT_SERVER__BIND"), "{e}");

    let e = err(&[], Some("[server]\nbindd = \"x\"\n"));
    assert!(e.contains("bindd"), "{e}");

    let e = err(&[("DOCWRIGHT_LOG__FORMAT", "xml")], None);
    assert!(e.contains("`log.format`"), "{e}");

    let e = err(&[("DOCWRIGHT_AUTH__JWT_SECRET", "short")], None);
    assert!(e.contains("`auth.jwt_secret`") && !e.contains("short\""), "{e}");

    let e = err(&[("DOCWRIGHT_DATABASE__URL", "mysql://root:hunter2@x/db")], None);
    assert!(e.contains("`database.url`") && !e.contains("hunter2"), "{e}");
}

#[test]
fn secrets_from_files() {
    let mut out = None;
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("jwt", "0123456789abcdef0123456789abcdef\n")?;
        jail.set_env("DOCWRIGHT_AUTH__JWT_SECRET_FILE", "jwt");
        out = Some(Config::load(None));
        Ok(())
    });
    let c = out.unwrap().unwrap();
    assert_eq!(c.auth.jwt_secret.unwrap().expose(), "0123456789abcdef0123456789abcdef");

    let e = err(&[("DOCWRIGHT_AUTH__JWT_SECRET_FILE", "/nonexistent/jwt")], None);
    assert!(e.contains("`auth.jwt_secret_file`"), "{e}");
}

#[test]
fn secrets_never_print() {
    let c = load(&[("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", "super-secret-token-value")], None).unwrap();
    assert!(!format!("{c:?}").contains("super-secret-token-value"));
    assert!(!serde_json::to_string(&c).unwrap().contains("super-secret-token-value"));
}

#[test]
fn missing_explicit_file_is_an_error() {
    let mut out = None;
    Jail::expect_with(|_| {
        out = Some(Config::load(Some(std::path::Path::new("nope.toml"))));
        Ok(())
    });
    assert!(out.unwrap().unwrap_err().to_string().contains("nope.toml"));
}

/// `docwright.example.toml` documents every key: each key of the typed config appears in it,
/// and with its comment marks removed it loads (so it names no key that does not exist).
#[test]
fn example_file_documents_every_key() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docwright.example.toml");
    let text = std::fs::read_to_string(path).expect("docwright.example.toml at the repo root");
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if (rest.contains(" = ") && !rest.starts_with(' ')) || rest.starts_with("[[") => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    // `_file` and value forms of one secret exclude each other; drop the `<secret>_file` lines
    // (files that are settings of their own, like `ca_bundle_file`, stay).
    let has_key = |key: &str| uncommented.lines().any(|l| l.starts_with(&format!("{key} = ")));
    let loadable: String = uncommented
        .lines()
        .filter(|l| !l.split_once("_file = ").is_some_and(|(secret, _)| has_key(secret)))
        .collect::<Vec<_>>()
        .join("\n");
    let loaded = load(&[], Some(&loadable)).expect("the example loads");
    assert_eq!(
        (loaded.providers.len(), loaded.models.len()),
        (3, 1),
        "the example shows three providers (OpenAI, GigaChat in each mode) and one model"
    );

    let defaults = serde_json::to_value(Config::default()).unwrap();
    let mut missing = Vec::new();
    for (section, table) in defaults.as_object().unwrap() {
        match table {
            serde_json::Value::Object(keys) => {
                assert!(text.contains(&format!("[{section}]")), "section [{section}] missing");
                missing.extend(keys.keys().filter(|k| !has_key(k)).map(|k| format!("{section}.{k}")));
            }
            // Arrays of tables: every key of a loaded entry is documented.
            _ => {
                assert!(text.contains(&format!("[[{section}]]")), "[[{section}]] missing");
                let entry = match section.as_str() {
                    "providers" => serde_json::to_value(&loaded.providers[0]).unwrap(),
                    _ => serde_json::to_value(&loaded.models[0]).unwrap(),
                };
                missing.extend(
                    entry.as_object().unwrap().keys().filter(|k| !has_key(k)).map(|k| format!("{section}.{k}")),
                );
            }
        }
    }
    assert!(missing.is_empty(), "keys missing from docwright.example.toml: {missing:?}");
}

#[test]
fn registry_is_checked() {
    let provider =
        "[[providers]]\nname = \"openai\"\ntype = \"openai_compatible\"\nbase_url = \"https://api.openai.com/v1\"\n";
    let model = |extra: &str| {
        format!(
            "[[models]]\nname = \"m\"\nprovider = \"openai\"\ncontext_tokens = 1000\nmax_output_tokens = 100\n\
             capabilities = [\"text\"]\nprice_input_per_mtok = \"0.15\"\nprice_output_per_mtok = \"0.60\"\n{extra}"
        )
    };
    let ok = load(&[], Some(&format!("{provider}{}", model("")))).unwrap();
    assert_eq!(ok.models[0].quality, 5);
    assert_eq!(ok.providers[0].response_format, None, "json_schema unless said otherwise");
    let none = load(&[], Some(&format!("{provider}response_format = \"none\"\n{}", model("")))).unwrap();
    assert_eq!(none.providers[0].response_format, Some(crate::ResponseFormat::None));
    for (toml, want) in [
        (format!("{provider}{}", model("fallbacks = [\"nope\"]\n")), "`models[0].fallbacks`"),
        (model(""), "`models[0].provider`"),
        (format!("{provider}{}", model("").replace("\"0.15\"", "\"0.1234567\"")), "`models[0].price_input_per_mtok`"),
        (format!("{provider}{}", model("").replace("\"0.60\"", "\"-1\"")), "`models[0].price_output_per_mtok`"),
        (
            provider.replace("openai_compatible", "gigachat").replace("https://api", "ftp://api"),
            "`providers[0].base_url`",
        ),
        (format!("{provider}mode = \"cloud\"\n"), "`providers[0].mode`"),
        (
            provider.replace("openai_compatible", "anthropic") + "response_format = \"json_object\"\n",
            "`providers[0].response_format`",
        ),
        (format!("{provider}response_format = \"yaml\"\n"), "response_format"),
        (format!("{provider}client_cert_file = \"/c.pem\"\n"), "`providers[0].client_key_file`"),
        (provider.replace("https://api.openai.com/v1", "ftp://x"), "`providers[0].base_url`"),
        (format!("{provider}{provider}"), "configured twice"),
        (
            format!("{provider}{}", model("").replace("capabilities = [\"text\"]", "capabilities = [\"telepathy\"]")),
            "telepathy",
        ),
    ] {
        let e = err(&[], Some(&toml));
        assert!(e.contains(want), "{want} in {e}");
    }
}

/// Loads `[[providers]]` entries given as TOML bodies (after `[[providers]]`), each named `p<i>`.
fn providers(bodies: &[&str]) -> Result<Config> {
    let toml: String =
        bodies.iter().enumerate().map(|(i, b)| format!("[[providers]]\nname = \"p{i}\"\n{b}\n")).collect();
    load(&[], Some(&toml))
}

#[test]
fn gigachat_providers_in_both_modes() {
    let c = providers(&[
        "type = \"gigachat\"\napi_key = \"YXV0aC1rZXk=\"",
        "type = \"gigachat\"\nmode = \"cloud\"\nscope = \"GIGACHAT_API_CORP\"\nauth_url = \"https://oauth.example/api/v2/oauth\"\n\
         ca_bundle_file = \"/etc/ssl/russian_trusted_root_ca.pem\"",
        "type = \"gigachat\"\nmode = \"mtls\"\nbase_url = \"https://gigachat.example/api/v1\"\n\
         client_cert_file = \"/c.pem\"\nclient_key_file = \"/k.pem\"\nclient_key_password = \"pkcs8-secret-pw\"",
    ])
    .unwrap();
    let p = &c.providers;
    assert_eq!((p[0].kind, p[0].mode, p[0].scope.as_deref()), (ProviderKind::Gigachat, None, None));
    assert_eq!((p[1].mode, p[1].scope.as_deref()), (Some(GigachatMode::Cloud), Some("GIGACHAT_API_CORP")));
    assert_eq!(p[1].ca_bundle_file.as_deref(), Some(std::path::Path::new("/etc/ssl/russian_trusted_root_ca.pem")));
    assert_eq!(p[2].mode, Some(GigachatMode::Mtls));
    assert_eq!(p[2].client_key_password.as_ref().unwrap().expose(), "pkcs8-secret-pw");
    assert!(!format!("{c:?}").contains("pkcs8-secret-pw"), "the key password never prints");
    assert!(!serde_json::to_string(&c).unwrap().contains("pkcs8-secret-pw"));
}

#[test]
fn the_key_password_may_come_from_a_file() {
    let mut out = None;
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("pw", "from-a-file\n")?;
        jail.create_file(
            "c.toml",
            "[[providers]]\nname = \"g\"\ntype = \"gigachat\"\nmode = \"mtls\"\nclient_cert_file = \"/c.pem\"\n\
             client_key_file = \"/k.pem\"\nclient_key_password_file = \"pw\"\n",
        )?;
        out = Some(Config::load(Some(std::path::Path::new("c.toml"))));
        Ok(())
    });
    let c = out.unwrap().unwrap();
    assert_eq!(c.providers[0].client_key_password.as_ref().unwrap().expose(), "from-a-file");

    let e = providers(&[
        "type = \"gigachat\"\nmode = \"mtls\"\nclient_cert_file = \"/c.pem\"\nclient_key_file = \"/k.pem\"\n\
         client_key_password = \"a\"\nclient_key_password_file = \"/pw\"",
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("`providers[0].client_key_password`") && e.contains("not both"), "{e}");
}

#[test]
fn gigachat_settings_are_checked() {
    let gigachat = "type = \"gigachat\"";
    let mtls = "type = \"gigachat\"\nmode = \"mtls\"";
    let with = |base: &str, extra: &str| format!("{base}\n{extra}");
    for (body, want) in [
        (with(mtls, ""), "`providers[0].client_cert_file`: mode mtls needs client_cert_file and client_key_file"),
        (with(mtls, "client_cert_file = \"/c.pem\""), "`providers[0].client_key_file`"),
        (with(gigachat, "client_key_file = \"/k.pem\""), "`providers[0].client_cert_file`"),
        (with(gigachat, "client_key_password = \"pw\""), "`providers[0].client_key_password`"),
        (
            with(mtls, "client_cert_file = \"/c\"\nclient_key_file = \"/k\"\nscope = \"GIGACHAT_API_PERS\""),
            "`providers[0].scope`",
        ),
        (
            with(mtls, "client_cert_file = \"/c\"\nclient_key_file = \"/k\"\nauth_url = \"https://x\""),
            "`providers[0].auth_url`",
        ),
        (with(mtls, "client_cert_file = \"/c\"\nclient_key_file = \"/k\"\napi_key = \"k\""), "`providers[0].api_key`"),
        (with(gigachat, "scope = \"GIGACHAT_API_PRES\""), "`GIGACHAT_API_PRES` is not one of"),
        (with(gigachat, "auth_url = \"ngw.devices.sberbank.ru\""), "`providers[0].auth_url`"),
        (with(gigachat, "mode = \"tls\""), "tls"),
        (with(gigachat, "modee = \"mtls\""), "modee"),
        ("type = \"anthropic\"\nmode = \"mtls\"".to_owned(), "`providers[0].mode`: only a gigachat provider"),
        ("type = \"gemini\"\nscope = \"GIGACHAT_API_PERS\"".to_owned(), "`providers[0].scope`"),
        ("type = \"dryrun\"\nclient_key_password = \"pw\"".to_owned(), "`providers[0].client_key_password`"),
        ("type = \"dryrun\"\nca_bundle_file = \"/ca.pem\"".to_owned(), "`providers[0].ca_bundle_file`"),
        ("type = \"anthropic\"\nclient_cert_file = \"/c.pem\"".to_owned(), "`providers[0].client_key_file`"),
    ] {
        let e = providers(&[&body]).unwrap_err().to_string();
        assert!(e.contains(want), "{want} in {e}");
        assert!(!e.contains("\"pw\""), "{e}");
    }
    // The other HTTP providers take TLS settings too (a local server behind a company CA).
    let tls = "ca_bundle_file = \"/ca.pem\"\nclient_cert_file = \"/c.pem\"\nclient_key_file = \"/k.pem\"";
    providers(&[&format!("type = \"anthropic\"\n{tls}")]).unwrap();
}

#[test]
fn smtp_is_off_by_default_and_checked_when_on() {
    let c = load(&[], None).unwrap();
    assert_eq!(c.smtp.host, None);
    assert_eq!(
        (c.smtp.port, c.smtp.security, c.smtp.timeout_secs, c.smtp.max_attempts),
        (587, SmtpSecurity::Starttls, 30, 8)
    );

    let on = "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"docwright <billing@example.com>\"\n";
    let c = load(
        &[
            ("DOCWRIGHT_SMTP__USERNAME", "billing"),
            ("DOCWRIGHT_SMTP__PASSWORD", "smtp-hunter2"),
            ("DOCWRIGHT_SMTP__SECURITY", "tls"),
        ],
        Some(on),
    )
    .unwrap();
    assert_eq!(c.smtp.security, SmtpSecurity::Tls);
    assert_eq!(c.smtp.password.as_ref().unwrap().expose(), "smtp-hunter2");
    assert!(!format!("{c:?}").contains("smtp-hunter2"), "the password never prints");
    assert!(!serde_json::to_string(&c).unwrap().contains("smtp-hunter2"));

    let smtp = |extra: &str| format!("{on}{extra}\n");
    for (toml, want) in [
        ("[smtp]\nhost = \"smtp.example.com\"\n".to_owned(), "`smtp.from`: is required"),
        (smtp("port = 0"), "`smtp.port`"),
        (smtp("security = \"ssl\""), "`smtp.security`"),
        (smtp("timeout_secs = 0"), "`smtp.timeout_secs`"),
        (smtp("max_attempts = 0"), "`smtp.max_attempts`"),
        (smtp("username = \"u\""), "`smtp.username`: needs smtp.password"),
        (smtp("password = \"smtp-hunter2\""), "`smtp.password`: needs smtp.username"),
        (smtp("hostname = \"x\""), "hostname"),
        (on.replace("smtp.example.com", "smtp://smtp.example.com:25"), "`smtp.host`"),
        (on.replace("docwright <billing@example.com>", "docwright billing at example.com"), "`smtp.from`"),
        (on.replace("docwright <billing@example.com>", "<nobody>"), "`smtp.from`"),
    ] {
        let e = err(&[], Some(&toml));
        assert!(e.contains(want), "{want} in {e}");
        assert!(!e.contains("smtp-hunter2"), "{e}");
    }
    let e = err(&[("DOCWRIGHT_SMTP__PASSWORD_FILE", "/nonexistent/pw")], Some(&smtp("username = \"u\"")));
    assert!(e.contains("`smtp.password_file`"), "{e}");
}

#[test]
fn jobs_are_checked_naming_the_key() {
    let c = load(&[], None).unwrap();
    assert_eq!((c.jobs.enabled, c.jobs.workers, c.jobs.lease_secs, c.jobs.heartbeat_secs), (true, 4, 30, 10));
    let c = load(
        &[("DOCWRIGHT_JOBS__WORKERS", "16")],
        Some("[jobs]\nlease_secs = 4\nheartbeat_secs = 2\ntimeouts = { \"ai.request\" = 120 }\n"),
    )
    .unwrap();
    assert_eq!((c.jobs.workers, c.jobs.timeouts.get("ai.request")), (16, Some(&120)));
    for (toml, want) in [
        ("[jobs]\nworkers = 0", "`jobs.workers`: must be between 1 and 256"),
        ("[jobs]\nlease_secs = 10\nheartbeat_secs = 6", "`jobs.heartbeat_secs`"),
        ("[jobs]\nheartbeat_secs = 0", "`jobs.heartbeat_secs`"),
        ("[jobs]\nbackoff_base_ms = 5000\nbackoff_max_secs = 2", "`jobs.backoff_max_secs`"),
        ("[jobs]\nmax_attempts = 0", "`jobs.max_attempts`"),
        ("[jobs]\ntimeouts = { \"ai.request\" = 0 }", "`jobs.timeouts.ai.request`"),
        ("[jobs]\ntimeouts = { \"AI Request\" = 5 }", "`jobs.timeouts.AI Request`: a job kind"),
        ("[jobs]\nworker = 3", "worker"),
    ] {
        let e = err(&[], Some(toml));
        assert!(e.contains(want), "{want} in {e}");
    }
    let e = err(&[("DOCWRIGHT_JOBS__LEASE_SECS", "1")], None);
    assert!(e.contains("`jobs.lease_secs`"), "{e}");
}

#[test]
fn cors_origins_must_be_origins() {
    let ok =
        load(&[], Some("[server]\ncors_origins = [\"https://app.example.com\", \"http://localhost:5173\"]\n")).unwrap();
    assert_eq!(ok.server.cors_origins.len(), 2);
    for bad in ["https://app.example.com/path", "*", "app.example.com", "https://", "http://host:99999x"] {
        let e = err(&[], Some(&format!("[server]\ncors_origins = [\"{bad}\"]\n")));
        assert!(e.contains("`server.cors_origins`"), "{bad}: {e}");
    }
}

#[test]
fn the_embedding_model_must_exist_and_embed() {
    let builtin = load(&[], Some("[embeddings]\nmodel = \"dryrun-embedding\"\n")).unwrap();
    assert_eq!((builtin.embeddings.model.as_str(), builtin.embeddings.batch_size), ("dryrun-embedding", 32));
    let registry = "[[providers]]\nname = \"p\"\ntype = \"dryrun\"\n\
        [[models]]\nname = \"chat\"\nprovider = \"p\"\ncontext_tokens = 8000\nmax_output_tokens = 100\n\
        capabilities = [\"text\"]\nprice_input_per_mtok = \"1\"\nprice_output_per_mtok = \"1\"\n\
        [[models]]\nname = \"vec\"\nprovider = \"p\"\ncontext_tokens = 8000\nmax_output_tokens = 0\n\
        capabilities = [\"embedding\"]\nprice_input_per_mtok = \"1\"\nprice_output_per_mtok = \"0\"\n";
    let ok = load(&[], Some(&format!("[embeddings]\nmodel = \"vec\"\n{registry}"))).unwrap();
    assert_eq!(ok.models[1].max_output_tokens, 0, "a model that only embeds may have no output");
    for (toml, want) in [
        (format!("[embeddings]\nmodel = \"chat\"\n{registry}"), "no `embedding` capability"),
        (format!("[embeddings]\nmodel = \"nope\"\n{registry}"), "no model `nope`"),
        ("[embeddings]\nmodel = \"nope\"\n".to_owned(), "`embeddings.model`"),
        ("[embeddings]\nbatch_size = 0\n".to_owned(), "`embeddings.batch_size`"),
        ("[embeddings]\nmax_scan = 0\n".to_owned(), "`embeddings.max_scan`"),
        (registry.replace("capabilities = [\"embedding\"]", "capabilities = [\"text\"]"), "max_output_tokens"),
    ] {
        let e = err(&[], Some(&toml));
        assert!(e.contains(want), "{want} in {e}");
    }
}
