//! SPEC P6: the OpenAPI 3.1 document the server serves validates (`openapi-spec-validator`),
//! and schemathesis, with all its checks, a fixed seed and a bounded number of examples per
//! operation, finds nothing against a running server. `scripts/test` installs both Python
//! tools; without them the test skips with a notice, and under `CI=true` it fails instead.

use std::process::Output;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::TestApp;

/// The operations that could end the session the run authenticates with, by their operation
/// ids: logging out (the bearer token's session), and, applied to the sysadmin the run is,
/// removing them from the tenant, changing their role, or revoking the static token their
/// session came from. The run makes other sysadmins, so the last-sysadmin rule does not stop
/// these.
const DESTROYS_THE_SESSION: &[&str] = &["logout", "remove_user", "set_role", "revoke_static_token"];

/// Per operation, the answers a rule beyond any schema gives to schema-valid requests.
const SETTINGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");

/// Test cases per operation and phase: enough to reach every branch of the schemas, few
/// enough that the run stays within minutes on two cores.
const MAX_EXAMPLES: &str = "10";

/// The same cases on every run.
const SEED: &str = "20260601";

/// A guard against a hung tool only; a run takes a few minutes.
const HANG_GUARD: Duration = Duration::from_secs(30 * 60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_validates_and_schemathesis_finds_nothing() {
    let has_tools = std::process::Command::new("python3")
        .args(["-c", "import schemathesis, openapi_spec_validator"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_tools {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but the `schemathesis` or `openapi-spec-validator` Python package is missing \
             (scripts/test installs them)"
        );
        eprintln!(
            "notice: python3 with the `schemathesis` and `openapi-spec-validator` packages is not available; \
             skipping the OpenAPI conformance test"
        );
        return;
    }
    // The access token outlives the run.
    let Some(app) =
        TestApp::spawn(docwright_storage::Backend::Sqlite, |c| c.auth.access_token_ttl_secs = 4 * 3600).await
    else {
        return;
    };
    let sys = app.sysadmin().await;
    let token = sys.bearer.clone().unwrap();
    let resp = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc = resp.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, &doc).unwrap();

    let mut validate = tokio::process::Command::new("python3");
    validate.args(["-m", "openapi_spec_validator"]).arg(&spec);
    let out = finish(validate).await;
    assert!(out.status.success(), "openapi-spec-validator rejects /openapi.json:\n{}", shown(&out));

    let mut run = tokio::process::Command::new("python3");
    run.args(["-m", "schemathesis.cli", "--config-file", SETTINGS, "run"])
        .arg(&spec)
        .args(["--url", &app.base])
        .args(["--checks", "all"])
        .args(["--seed", SEED])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--workers", "1"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--request-timeout", "30"])
        .args(["--no-color", "--output-truncate", "false"])
        .current_dir(dir.path());
    for id in DESTROYS_THE_SESSION {
        run.args(["--exclude-operation-id", id]);
    }
    let out = finish(run).await;
    assert!(out.status.success(), "schemathesis found problems:\n{}", shown(&out));
    // The session the run used is still good: nothing it did locked it out.
    assert_eq!(app.get("/me", &sys).await.0, StatusCode::OK);
}

/// Runs `cmd` to its end (killed if it hangs far beyond its usual time).
async fn finish(mut cmd: tokio::process::Command) -> Output {
    cmd.kill_on_drop(true).stdin(std::process::Stdio::null());
    match tokio::time::timeout(HANG_GUARD, cmd.output()).await {
        Ok(out) => out.unwrap(),
        Err(_) => panic!("{:?} did not finish within {HANG_GUARD:?}", cmd.as_std().get_args().nth(1)),
    }
}

fn shown(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
