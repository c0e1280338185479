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
    // `_file` and value forms of one secret exclude each other; drop the `_file` lines.
    let loadable: String = uncommented.lines().filter(|l| !l.contains("_file =")).collect::<Vec<_>>().join("\n");
    let loaded = load(&[], Some(&loadable)).expect("the example loads");
    assert_eq!((loaded.providers.len(), loaded.models.len()), (1, 1), "the example shows one provider and one model");

    let has_key = |key: &str| uncommented.lines().any(|l| l.starts_with(&format!("{key} = ")));
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
    for (toml, want) in [
        (format!("{provider}{}", model("fallbacks = [\"nope\"]\n")), "`models[0].fallbacks`"),
        (model(""), "`models[0].provider`"),
        (format!("{provider}{}", model("").replace("\"0.15\"", "\"0.1234567\"")), "`models[0].price_input_per_mtok`"),
        (format!("{provider}{}", model("").replace("\"0.60\"", "\"-1\"")), "`models[0].price_output_per_mtok`"),
        (provider.replace("openai_compatible", "gigachat"), "`providers[0].type`"),
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
