//! A GigaChat provider through the front door: the server exchanges the configured
//! authorization key for an access token at the (fake) OAuth endpoint and calls the chat API
//! with it (SPEC A1).

use docwright_config::{Capability, GigachatMode, ModelConfig, ProviderConfig, ProviderKind, Secret};
use docwright_llm::testing::{FakeOpenAi, GigaChatAuth, Reply};
use docwright_storage::Backend;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

const KEY: &str = "Z2lnYS1jbGllbnQ6Z2lnYS1zZWNyZXQ="; // base64 of `giga-client:giga-secret`

mod cloud {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::cloud_mode_exchanges_the_key_for_a_token(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::cloud_mode_exchanges_the_key_for_a_token(docwright_storage::Backend::Postgres).await
    }
}

async fn cloud_mode_exchanges_the_key_for_a_token(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    fake.require_gigachat_auth(GigaChatAuth {
        authorization_key: KEY.into(),
        scope: "GIGACHAT_API_B2B".into(),
        token_lifetime: std::time::Duration::from_secs(1800),
    });
    let (base, oauth) = (fake.gigachat_url.clone(), fake.oauth_url.clone());
    let Some(app) = TestApp::spawn(backend, move |c| {
        c.providers = vec![ProviderConfig {
            name: "gigachat".into(),
            kind: ProviderKind::Gigachat,
            base_url: Some(base),
            api_key: Some(Secret::new(KEY.into())),
            mode: Some(GigachatMode::Cloud),
            auth_url: Some(oauth),
            scope: Some("GIGACHAT_API_B2B".into()),
            timeout_secs: 5,
            ..Default::default()
        }];
        c.models = vec![ModelConfig {
            name: "gigachat-max".into(),
            provider: "gigachat".into(),
            upstream_name: Some("GigaChat-2-Max".into()),
            context_tokens: 128_000,
            max_output_tokens: 8192,
            capabilities: vec![Capability::Text, Capability::Json],
            price_input_per_mtok: "1".into(),
            price_output_per_mtok: "2".into(),
            quality: 8,
            speed: 5,
            fallbacks: vec![],
        }];
    })
    .await
    else {
        return;
    };
    let sys = app.sysadmin().await;
    let chat = |text: &str| json!({"model": "gigachat-max", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]});

    fake.reply(Reply::Ok { content: "Здравствуйте".into(), usage: Some((1000, 500)) });
    let (status, r) = app.post("/v1/chat/completions", &sys, chat("привет")).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["choices"][0]["message"]["content"], "Здравствуйте");
    assert_eq!(r["docwright"]["provider"], "gigachat");
    assert_eq!(r["docwright"]["price"], "0.002", "1000 × 1 + 500 × 2 per million");
    assert_eq!(fake.oauth_exchanges(), 1, "the authorization key was exchanged for a token");

    // A second call, streamed this time, reuses the token.
    let mut body = chat("ещё");
    body["stream"] = json!(true);
    fake.reply(Reply::Stream { deltas: vec!["Д".into(), "а".into()], usage: Some((10, 2)), done: true });
    let resp =
        app.client.post(app.url("/v1/chat/completions")).bearer_auth(sys.bearer.clone().unwrap()).json(&body).send();
    let text = resp.await.unwrap().text().await.unwrap();
    assert!(text.contains("data: [DONE]"), "{text}");
    assert_eq!(fake.oauth_exchanges(), 1);

    let got = fake.received();
    assert_eq!(got.len(), 2);
    for g in &got {
        assert_eq!(g.path, "/api/v1/chat/completions");
        assert_eq!(g.authorization.as_deref(), Some("Bearer fake-gigachat-token-1"), "the token, never the key");
        assert_eq!(g.body["model"], "GigaChat-2-Max");
    }
    assert_eq!(got[0].body["messages"][0], json!({"role": "system", "content": "be brief"}));
    assert_eq!(got[1].body["stream"], true);
}
