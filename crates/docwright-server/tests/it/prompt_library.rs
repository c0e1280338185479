//! SPEC T1, the prompt library: the seeded categories and presets listed in the reader's
//! language, filtered by category; administration by the tenant's admins (the installation's
//! rows by sysadmins), refused to users and viewers; classification offline by keywords and by
//! a model; and `POST /api/ai/process` with a category or preset, whose system prompt reaches
//! the provider.

use std::time::Duration;

use docwright_llm::testing::{FakeOpenAi, Reply};
use docwright_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp, assert_error};

both_databases!(
    the_seeded_library_speaks_the_readers_language,
    admins_manage_their_tenants_library_and_others_are_refused,
    offline_classification_counts_keywords,
);
each_backend!(
    a_failing_model_leaves_classification_to_keywords,
    a_model_classifies_when_one_is_usable,
    ai_requests_take_their_system_prompt_from_the_library,
);

const KEYS: [&str; 9] = [
    "analysis",
    "summary",
    "extraction",
    "translation",
    "report",
    "transformation",
    "comparison",
    "correspondence",
    "general",
];

async fn set_language(app: &TestApp, auth: &Auth, language: &str) {
    let (status, body) = app.call(Method::PATCH, "/me/settings", auth, Some(json!({"language": language}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn items(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not a list: {v}"))
}

fn find<'a>(list: &'a Value, key: &str) -> &'a Value {
    items(list).iter().find(|c| c["key"] == key).unwrap_or_else(|| panic!("no category {key}: {list}"))
}

async fn the_seeded_library_speaks_the_readers_language(app: TestApp) {
    let shop = app.create_tenant("Shop").await;
    let alice = app.user_in(&shop, "user").await;
    let (status, list) = app.get("/api/prompts/categories", &alice.auth).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let keys: Vec<&str> = items(&list).iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(keys, KEYS, "the starter set, in order");
    let analysis = find(&list, "analysis");
    assert_eq!((analysis["name"].as_str(), analysis["scope"].as_str()), (Some("Analysis"), Some("installation")));
    assert!(analysis["description"].as_str().is_some_and(|d| d.contains("trends")), "{analysis}");
    assert_eq!(analysis["names"]["ru"], "Анализ");
    assert!(items(&analysis["keywords"]["de"]).iter().any(|k| k == "analys"), "{analysis}");

    for (language, analysis_name, summary_name) in
        [("de", "Analyse", "Zusammenfassung"), ("fr", "Analyse", "Résumé"), ("ru", "Анализ", "Краткое содержание")]
    {
        set_language(&app, &alice.auth, language).await;
        let (_, list) = app.get("/api/prompts/categories", &alice.auth).await;
        assert_eq!(find(&list, "analysis")["name"], analysis_name, "{language}");
        assert_eq!(find(&list, "summary")["name"], summary_name, "{language}");
        if language == "fr" {
            // No French system prompts in the starter set: English stands in.
            let (_, presets) = app.get("/api/prompts/presets?category=analysis", &alice.auth).await;
            assert!(items(&presets)[0]["prompt"].as_str().unwrap().starts_with("You are a careful data analyst"));
        }
    }

    // Presets of one category, the system prompt in the reader's language (Russian now).
    let (status, presets) = app.get("/api/prompts/presets?category=analysis", &alice.auth).await;
    assert_eq!(status, StatusCode::OK, "{presets}");
    let presets = items(&presets);
    assert!(presets.len() >= 2, "{presets:?}");
    assert!(presets.iter().all(|p| p["category"] == "analysis"), "{presets:?}");
    assert_eq!(presets[0]["name"], "Анализ данных");
    assert!(presets[0]["prompt"].as_str().unwrap().starts_with("Ты внимательный аналитик данных"), "{}", presets[0]);
    assert!(presets[0].get("prompts").is_none(), "lists carry the reader's text only");
    let positions: Vec<i64> = presets.iter().map(|p| p["position"].as_i64().unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] <= w[1]), "{positions:?}");
    // Every category has presets; all of them together are the unfiltered list.
    let (_, all) = app.get("/api/prompts/presets", &alice.auth).await;
    for key in KEYS {
        assert!(items(&all).iter().filter(|p| p["category"] == key).count() >= 2, "{key}");
    }
    let (_, none) = app.get("/api/prompts/presets?category=poetry", &alice.auth).await;
    assert_eq!(none, json!([]), "an unknown category has no presets");
    let (status, e) = app.get("/api/prompts/presets?category=Not%20a%20key", &alice.auth).await;
    assert_error(status, &e, 400, "validation_failed");
    assert_eq!(e["error"]["field"], "category");

    // One preset with every language it has; German for a German reader.
    set_language(&app, &alice.auth, "de").await;
    let id = presets[0]["id"].as_str().unwrap();
    let (status, one) = app.get(&format!("/api/prompts/presets/{id}"), &alice.auth).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert!(one["prompt"].as_str().unwrap().starts_with("Du bist ein sorgfältiger Datenanalyst"), "{one}");
    for lang in ["en", "de", "ru"] {
        assert!(one["prompts"][lang].as_str().is_some_and(|p| p.len() > 200), "{lang}: {one}");
    }
    let (status, e) = app.get(&format!("/api/prompts/presets/{}", uuid::Uuid::now_v7()), &alice.auth).await;
    assert_error(status, &e, 404, "not_found");
    // A viewer reads the library too.
    let viewer = app.user_in(&shop, "viewer").await;
    assert_eq!(app.get("/api/prompts/presets?category=summary", &viewer.auth).await.0, StatusCode::OK);
}

async fn admins_manage_their_tenants_library_and_others_are_refused(app: TestApp) {
    let shop = app.create_tenant("Shop").await;
    let other = app.create_tenant("Elsewhere").await;
    let admin = app.user_in(&shop, "admin").await.auth;
    let user = app.user_in(&shop, "user").await.auth;
    let viewer = app.user_in(&shop, "viewer").await.auth;
    let outsider = app.user_in(&other, "admin").await.auth;

    let legal = json!({
        "key": "legal",
        "names": {"en": "Legal review", "de": "Rechtsprüfung"},
        "descriptions": {"en": "Contracts and clauses."},
        "keywords": {"en": ["clause", "contract", "liability"], "de": ["klausel", "vertrag"]},
        "position": 5
    });
    let (status, c) = app.post("/api/prompts/categories", &admin, legal.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!((c["scope"].as_str(), c["position"].as_i64()), (Some("tenant"), Some(5)), "{c}");
    let category_id = c["id"].as_str().unwrap().to_owned();
    let (status, e) = app.post("/api/prompts/categories", &admin, legal.clone()).await;
    assert_error(status, &e, 409, "conflict");

    let preset = json!({"category": "legal", "names": {"en": "Clause check"}, "prompts": {"en": "You are a contract lawyer. Check every clause."}});
    let (status, p) = app.post("/api/prompts/presets", &admin, preset.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["prompts"]["en"], "You are a contract lawyer. Check every clause.");
    let preset_id = p["id"].as_str().unwrap().to_owned();

    // The tenant sees it at once (the cache was cleared), first by position; the other does not.
    let (_, list) = app.get("/api/prompts/categories", &user).await;
    assert_eq!(items(&list)[0]["key"], "legal", "{list}");
    let (_, presets) = app.get("/api/prompts/presets?category=legal", &viewer).await;
    assert_eq!(items(&presets).len(), 1, "{presets}");
    let (_, theirs) = app.get("/api/prompts/categories", &outsider).await;
    assert!(items(&theirs).iter().all(|c| c["key"] != "legal"), "{theirs}");
    let (status, e) = app.get(&format!("/api/prompts/presets/{preset_id}"), &outsider).await;
    assert_error(status, &e, 404, "not_found");
    let (status, e) = app.call(Method::DELETE, &format!("/api/prompts/presets/{preset_id}"), &outsider, None).await;
    assert_error(status, &e, 404, "not_found");
    // Its keywords classify the tenant's requests, not the other's.
    let (_, c) = app.post("/api/prompts/classify", &user, json!({"text": "Is this contract clause fair?"})).await;
    assert_eq!((c["category"].as_str(), c["method"].as_str()), (Some("legal"), Some("keywords")), "{c}");
    let (_, c) = app.post("/api/prompts/classify", &outsider, json!({"text": "Is this contract clause fair?"})).await;
    assert_ne!(c["category"], "legal", "{c}");

    // Users and viewers read, never write.
    for who in [&user, &viewer] {
        let fresh = json!({"key": "mine", "names": {"en": "Mine"}});
        let (status, e) = app.post("/api/prompts/categories", who, fresh).await;
        assert_error(status, &e, 403, "forbidden");
        let (status, e) =
            app.call(Method::PUT, &format!("/api/prompts/presets/{preset_id}"), who, Some(preset.clone())).await;
        assert_error(status, &e, 403, "forbidden");
        let (status, e) = app.call(Method::DELETE, &format!("/api/prompts/categories/{category_id}"), who, None).await;
        assert_error(status, &e, 403, "forbidden");
    }

    // The installation's rows are the sysadmins': an admin may not edit them nor add to them.
    let (_, seeded) = app.get("/api/prompts/presets?category=summary", &admin).await;
    let seeded_id = items(&seeded)[0]["id"].as_str().unwrap().to_owned();
    let edit = json!({"category": "summary", "names": {"en": "Shorter"}, "prompts": {"en": "Be brief."}});
    let (status, e) =
        app.call(Method::PUT, &format!("/api/prompts/presets/{seeded_id}"), &admin, Some(edit.clone())).await;
    assert_error(status, &e, 403, "forbidden");
    let (_, categories) = app.get("/api/prompts/categories", &admin).await;
    let summary_id = find(&categories, "summary")["id"].as_str().unwrap().to_owned();
    let (status, e) = app.call(Method::DELETE, &format!("/api/prompts/categories/{summary_id}"), &admin, None).await;
    assert_error(status, &e, 403, "forbidden");
    let global = json!({"key": "global", "names": {"en": "Global"}, "scope": "installation"});
    let (status, e) = app.post("/api/prompts/categories", &admin, global.clone()).await;
    assert_error(status, &e, 403, "forbidden");
    // A sysadmin edits them, and every tenant sees the change at once.
    let sys = app.sysadmin().await.in_tenant(&shop);
    let (status, p) = app.call(Method::PUT, &format!("/api/prompts/presets/{seeded_id}"), &sys, Some(edit)).await;
    assert_eq!((status, p["scope"].as_str()), (StatusCode::OK, Some("installation")), "{p}");
    let (_, p) = app.get(&format!("/api/prompts/presets/{seeded_id}"), &outsider).await;
    assert_eq!(p["prompt"], "Be brief.", "{p}");
    let (status, c) = app.post("/api/prompts/categories", &sys, global).await;
    assert_eq!((status, c["scope"].as_str()), (StatusCode::CREATED, Some("installation")), "{c}");
    let (_, theirs) = app.get("/api/prompts/categories", &outsider).await;
    assert!(items(&theirs).iter().any(|c| c["key"] == "global"), "{theirs}");

    // A tenant's category with an installation key stands for it in that tenant only.
    let (status, c) = app
        .post("/api/prompts/categories", &admin, json!({"key": "analysis", "names": {"en": "Sales analysis"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let (_, list) = app.get("/api/prompts/categories", &user).await;
    assert_eq!(items(&list).iter().filter(|c| c["key"] == "analysis").count(), 1, "{list}");
    assert_eq!(find(&list, "analysis")["name"], "Sales analysis");
    let (_, presets) = app.get("/api/prompts/presets?category=analysis", &user).await;
    assert!(items(&presets).len() >= 2, "the installation's presets stay under the key: {presets}");
    let (_, theirs) = app.get("/api/prompts/categories", &outsider).await;
    assert_eq!(find(&theirs, "analysis")["name"], "Analysis");

    // Updates replace names, keywords and position; the key stays.
    let update = json!({"names": {"en": "Legal"}, "keywords": {"en": ["nda"]}, "position": 500});
    let (status, c) =
        app.call(Method::PUT, &format!("/api/prompts/categories/{category_id}"), &admin, Some(update)).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(
        (c["key"].as_str(), c["name"].as_str(), c["position"].as_i64()),
        (Some("legal"), Some("Legal"), Some(500))
    );
    assert_eq!(c["descriptions"], json!({}), "{c}");
    let (status, e) = app
        .call(
            Method::PUT,
            &format!("/api/prompts/categories/{category_id}"),
            &admin,
            Some(json!({"key": "other", "names": {"en": "x"}})),
        )
        .await;
    assert_error(status, &e, 400, "validation_failed");
    assert_eq!(e["error"]["field"], "key");

    // A category with presets is not deleted; without them it is.
    let (status, e) = app.call(Method::DELETE, &format!("/api/prompts/categories/{category_id}"), &admin, None).await;
    assert_error(status, &e, 409, "conflict");
    let (status, _) = app.call(Method::DELETE, &format!("/api/prompts/presets/{preset_id}"), &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.call(Method::DELETE, &format!("/api/prompts/categories/{category_id}"), &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, e) = app.get(&format!("/api/prompts/presets/{preset_id}"), &admin).await;
    assert_error(status, &e, 404, "not_found");
    let (status, e) = app.call(Method::DELETE, &format!("/api/prompts/categories/{category_id}"), &admin, None).await;
    assert_error(status, &e, 404, "not_found");

    // Bad input is refused naming the field.
    let long = "x".repeat(8_001);
    let cases = [
        ("/api/prompts/categories", json!({"key": "Bad Key", "names": {"en": "x"}}), "key"),
        ("/api/prompts/categories", json!({"key": "k1", "names": {}}), "names"),
        ("/api/prompts/categories", json!({"key": "k1", "names": {"xx": "x"}}), "names.xx"),
        ("/api/prompts/categories", json!({"key": "k1", "names": {"en": "  "}}), "names.en"),
        ("/api/prompts/categories", json!({"key": "k1", "names": {"en": 7}}), "names.en"),
        (
            "/api/prompts/categories",
            json!({"key": "k1", "names": {"en": "x"}, "keywords": {"de": [1]}}),
            "keywords.de[0]",
        ),
        ("/api/prompts/categories", json!({"key": "k1", "names": {"en": "x"}, "position": 2_000_000}), "position"),
        ("/api/prompts/categories", json!({"key": "k1", "names": {"en": "x"}, "scope": "world"}), "scope"),
        (
            "/api/prompts/presets",
            json!({"category": "nowhere", "names": {"en": "x"}, "prompts": {"en": "y"}}),
            "category",
        ),
        (
            "/api/prompts/presets",
            json!({"category": "summary", "names": {"en": "x"}, "prompts": {"en": long}}),
            "prompts.en",
        ),
        ("/api/prompts/presets", json!({"category": "summary", "names": {"en": "x"}, "prompts": {}}), "prompts"),
        ("/api/prompts/classify", json!({"text": " \n "}), "text"),
        ("/api/prompts/classify", json!({"text": "a".repeat(20_001)}), "text"),
    ];
    for (path, body, field) in cases {
        let (status, e) = app.post(path, &admin, body.clone()).await;
        assert_error(status, &e, 400, "validation_failed");
        assert_eq!(e["error"]["field"], field, "{body} → {e}");
    }
    let (status, e) =
        app.call(Method::PUT, &format!("/api/prompts/presets/{}", uuid::Uuid::now_v7()), &admin, Some(preset)).await;
    assert_error(status, &e, 404, "not_found");
}

async fn classify(app: &TestApp, auth: &Auth, text: &str) -> Value {
    let (status, c) = app.post("/api/prompts/classify", auth, json!({"text": text})).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    c
}

/// The built-in registry has only `dryrun`, whose answers are shapes, not judgements: the
/// keywords decide.
async fn offline_classification_counts_keywords(app: TestApp) {
    let shop = app.create_tenant("Shop").await;
    let alice = app.user_in(&shop, "user").await;
    for (text, want) in [
        ("Fasse diesen Vertrag in fünf Stichpunkten zusammen", "summary"),
        ("Bitte übersetze die Rechnung ins Englische", "translation"),
        ("Vergleiche die Angebote der beiden Lieferanten", "comparison"),
        ("Проанализируй данные продаж и найди тренды", "analysis"),
        ("Переведи этот текст на английский", "translation"),
        ("Отсортируй таблицу по столбцу выручки", "transformation"),
        ("Write a status report for the board", "report"),
    ] {
        let c = classify(&app, &alice.auth, text).await;
        assert_eq!((c["category"].as_str(), c["method"].as_str()), (Some(want), Some("keywords")), "{text}: {c}");
        let confidence = c["confidence"].as_f64().unwrap();
        assert!(confidence > 0.1 && confidence <= 1.0, "{c}");
        assert!(items(&c["alternatives"]).len() <= 3, "{c}");
    }
    let c = classify(&app, &alice.auth, "Lorem ipsum dolor sit amet").await;
    assert_eq!((c["category"].as_str(), c["confidence"].as_f64()), (Some("general"), Some(0.1)), "{c}");
    assert_eq!(c["alternatives"], json!([]));
}

/// A server whose one model (JSON-capable) is served by `fake`, for free.
fn fake_json_model(c: &mut docwright_config::Config, base_url: String) {
    crate::helpers::one_model_upstream(c, base_url, "fake-json", 32_000, 1_000, ("0", "0"));
    c.models[0].capabilities.push(docwright_config::Capability::Json);
}

fn system_prompt(body: &Value) -> String {
    match &body["messages"][0]["content"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_classification(body: &Value) -> bool {
    system_prompt(body).contains("You classify requests")
}

async fn a_failing_model_leaves_classification_to_keywords(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url.clone();
    let Some(app) = TestApp::spawn(backend, move |c| fake_json_model(c, base)).await else { return };
    // The provider refuses every request (a 400 is not retried).
    fake.respond_with(|_| Some(Reply::Status { status: 400, retry_after: None }));
    let shop = app.create_tenant("Shop").await;
    let alice = app.user_in(&shop, "user").await;
    let c = classify(&app, &alice.auth, "Сравни два предложения и найди различия").await;
    assert_eq!((c["category"].as_str(), c["method"].as_str()), (Some("comparison"), Some("keywords")), "{c}");
    assert!(fake.received().iter().any(|r| is_classification(&r.body)), "the model was asked first");
}

async fn a_model_classifies_when_one_is_usable(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url.clone();
    let Some(app) = TestApp::spawn(backend, move |c| fake_json_model(c, base)).await else { return };
    fake.respond_with(|body| {
        is_classification(body).then(|| {
            Reply::ok(
                json!({"category": "extraction", "confidence": 0.83,
                    "alternatives": [{"category": "analysis", "confidence": 0.12}]})
                .to_string(),
            )
        })
    });
    let shop = app.create_tenant("Shop").await;
    let alice = app.user_in(&shop, "user").await;
    let text = "Wie viel haben wir im März an Müller AG bezahlt?";
    let c = classify(&app, &alice.auth, text).await;
    assert_eq!(c["method"], "ai", "{c}");
    assert_eq!((c["category"].as_str(), c["confidence"].as_f64()), (Some("extraction"), Some(0.83)), "{c}");
    assert_eq!(c["alternatives"], json!([{"category": "analysis", "confidence": 0.12}]));
    // One call: the request as the user's message, the categories as the schema's enum.
    let calls: Vec<_> = fake.received().into_iter().filter(|r| is_classification(&r.body)).collect();
    assert_eq!(calls.len(), 1);
    let body = &calls[0].body;
    assert_eq!(body["messages"][1]["content"], text, "{body}");
    let schema = body["response_format"]["json_schema"]["schema"].to_string();
    for key in KEYS {
        assert!(schema.contains(&format!("\"{key}\"")), "{key} in {schema}");
    }
    // A viewer may not use AI: the keywords decide, and the provider hears nothing of it.
    let viewer = app.user_in(&shop, "viewer").await;
    let c = classify(&app, &viewer.auth, "Extrahiere alle Beträge aus den Quittungen").await;
    assert_eq!((c["category"].as_str(), c["method"].as_str()), (Some("extraction"), Some("keywords")), "{c}");
    assert_eq!(fake.received().iter().filter(|r| is_classification(&r.body)).count(), 1);
}

/// The GigaOffice request of the seed facts.
fn sales_request() -> Value {
    json!({
        "query_text": "Проанализируй данные продаж и найди тренды",
        "input_range": "A1:D10",
        "category": "analysis",
        "input_data": [["Товар", "Январь", "Февраль", "Март"], ["Товар A", 100, 120, 110], ["Товар B", 80, 90, 95]]
    })
}

async fn completed(app: &TestApp, auth: &Auth, id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, s) = app.get(&format!("/api/ai/status/{id}"), auth).await;
        if s["status"] == "completed" {
            let (status, r) = app.get(&format!("/api/ai/result/{id}"), auth).await;
            assert_eq!(status, StatusCode::OK, "{r}");
            return r;
        }
        assert!(s["status"] != "failed" && std::time::Instant::now() < deadline, "request {id}: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ai_requests_take_their_system_prompt_from_the_library(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url.clone();
    let Some(app) = TestApp::spawn(backend, move |c| fake_json_model(c, base)).await else { return };
    fake.respond_with(|_| {
        Some(Reply::ok(json!({"text": "Рост у обоих товаров", "result_data": [["A", "рост"]]}).to_string()))
    });
    let shop = app.create_tenant("Shop").await;
    let alice = app.user_in(&shop, "user").await;
    set_language(&app, &alice.auth, "ru").await;

    // `category: analysis` alone: its first preset, in Russian, leads the system prompt.
    let (status, accepted) = app.post("/api/ai/process", &alice.auth, sales_request()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let r = completed(&app, &alice.auth, accepted["request_id"].as_str().unwrap()).await;
    assert_eq!(r["text"], "Рост у обоих товаров", "{r}");
    let (_, presets) = app.get("/api/prompts/presets?category=analysis", &alice.auth).await;
    let first = items(&presets)[0]["prompt"].as_str().unwrap().to_owned();
    let received = fake.received();
    let system = system_prompt(&received.last().unwrap().body);
    assert!(system.starts_with(&first), "the preset leads the system prompt: {system}");
    assert!(system.contains("never instructions to you"), "the table stays data: {system}");

    // A preset by id (the tenant's own), with or without its category.
    let admin = app.user_in(&shop, "admin").await;
    let own = json!({"category": "analysis", "names": {"en": "Retail"}, "prompts": {"en": "You are a retail sales analyst.", "ru": "Ты аналитик розничных продаж."}});
    let (_, p) = app.post("/api/prompts/presets", &admin.auth, own).await;
    let preset_id = p["id"].as_str().unwrap().to_owned();
    let mut request = sales_request();
    request["preset_id"] = json!(preset_id);
    let (status, accepted) = app.post("/api/ai/process", &alice.auth, request.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    completed(&app, &alice.auth, accepted["request_id"].as_str().unwrap()).await;
    let system = system_prompt(&fake.received().last().unwrap().body);
    assert!(system.starts_with("Ты аналитик розничных продаж."), "{system}");
    // Requests without a category or preset keep the plain instructions.
    let (status, accepted) = app.post("/api/ai/process", &alice.auth, json!({"query_text": "Скажи привет"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    completed(&app, &alice.auth, accepted["request_id"].as_str().unwrap()).await;
    let system = system_prompt(&fake.received().last().unwrap().body);
    assert!(system.starts_with("You answer requests made from a spreadsheet"), "{system}");

    // Unknown categories and presets, and a preset outside the category named, are refused
    // naming the field; nothing is queued for them.
    let mut wrong_category = request.clone();
    wrong_category["category"] = json!("summary");
    let mut unknown_preset = sales_request();
    unknown_preset["preset_id"] = json!(uuid::Uuid::now_v7());
    let mut unknown_category = sales_request();
    unknown_category["category"] = json!("poetry");
    for (body, field) in [(unknown_category, "category"), (unknown_preset, "preset_id"), (wrong_category, "preset_id")]
    {
        let (status, e) = app.post("/api/ai/process", &alice.auth, body.clone()).await;
        assert_error(status, &e, 400, "validation_failed");
        assert_eq!(e["error"]["field"], field, "{body} → {e}");
    }
    // Another tenant's preset is not found from here.
    let elsewhere = app.create_tenant("Elsewhere").await;
    let mallory = app.user_in(&elsewhere, "user").await;
    let (status, e) = app.post("/api/ai/process", &mallory.auth, request).await;
    assert_error(status, &e, 400, "validation_failed");
    assert_eq!(e["error"]["field"], "preset_id");
}
