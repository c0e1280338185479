//! Billing through the API (SPEC B2–B6): reservations around every AI call under heavy
//! concurrency, 402 with the numbers, settlement at the actual price, the ledger's sums, the
//! statistics and the CSV export.

use docwright_config::{Capability, ModelConfig, ProviderConfig, ProviderKind, Secret};
use docwright_core::money::Money;
use docwright_llm::testing::FakeOpenAi;
use docwright_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp, assert_error};

/// One output token at 0.20: with `max_tokens: 1` a call reserves exactly what it costs.
const PRICE_PER_CALL: i64 = 200_000;

async fn metered(backend: Backend, fake: &FakeOpenAi) -> Option<TestApp> {
    let base = fake.base_url.clone();
    TestApp::spawn(backend, move |c| {
        c.database.max_connections = 8;
        crate::helpers::metered_upstream(c, base, 1000);
    })
    .await
}

fn ask() -> Value {
    json!({"model": "metered", "max_tokens": 1, "messages": [{"role": "user", "content": "one token please"}]})
}

fn money(v: &Value) -> Money {
    Money::parse(v.as_str().unwrap_or_else(|| panic!("not a decimal: {v}"))).unwrap()
}

/// Fires `n` calls at once as `auth`; answers (succeeded, refused with 402).
async fn storm(app: &TestApp, auth: &Auth, n: usize) -> (usize, usize) {
    let calls = (0..n).map(|_| app.post("/v1/chat/completions", auth, ask()));
    let results = futures_util::future::join_all(calls).await;
    let mut ok = 0;
    let mut refused = 0;
    for (status, body) in results {
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::PAYMENT_REQUIRED => {
                assert_error(status, &body, 402, "insufficient_balance");
                let d = &body["error"]["details"];
                assert_eq!(money(&d["required"]), Money::from_micros(PRICE_PER_CALL), "{body}");
                assert_eq!(d["currency"], "CHF");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    (ok, refused)
}

/// After a scenario: the ledger agrees with every balance, nothing is held, the calls that ran
/// are exactly the ones charged, and only they reached the provider.
async fn assert_books(app: &TestApp, sys: &Auth, tenant: &str, fake: &FakeOpenAi, ran: usize) {
    let (_, v) = app.get("/api/admin/billing/verify", sys).await;
    assert_eq!(v["ok"], true, "{v}");
    let (_, accounts) = app.get(&format!("/api/admin/billing/tenants/{tenant}/accounts"), sys).await;
    for a in accounts.as_array().unwrap() {
        assert_eq!(money(&a["reserved"]), Money::ZERO, "nothing stays reserved: {a}");
    }
    let (_, rows) = app.get(&format!("/api/admin/billing/tenants/{tenant}/transactions"), sys).await;
    let debits: Vec<&Value> = rows.as_array().unwrap().iter().filter(|r| r["kind"] == "debit").collect();
    assert_eq!(debits.len(), ran, "one debit per call that ran");
    assert!(debits.iter().all(|d| money(&d["amount"]) == Money::from_micros(-PRICE_PER_CALL)));
    assert_eq!(fake.received().len(), ran, "refused calls never reach the provider");
    app.state.engine.flush_stats().await;
    let stats = app.state.db.ai_stats(docwright_core::id::TenantId::parse(tenant).unwrap()).await.unwrap();
    assert_eq!(stats.len(), ran);
}

async fn five_hundred_calls_never_overspend_a_prepaid_balance(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = metered(backend, &fake).await else { return };
    let sys = app.sysadmin().await;
    let shop = app.prepaid_tenant("Shop").await;
    let (status, account) =
        app.post(&format!("/api/admin/billing/tenants/{shop}/credit"), &sys, json!({"amount": "10.00"})).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(money(&account["balance"]), Money::from_micros(10_000_000));
    let user = app.user_in(&shop, "user").await.auth;

    let (ok, refused) = storm(&app, &user, 500).await;
    assert_eq!((ok, refused), (50, 450), "10.00 covers exactly 50 calls at 0.20");
    let (_, b) = app.get("/api/billing/balance", &user).await;
    assert_eq!(money(&b["balance"]), Money::ZERO, "{b}");
    assert_eq!(b["billing_model"], "prepay_tenant");
    assert_books(&app, &sys.in_tenant(&shop), &shop, &fake, 50).await;

    // The statistics and the export agree with the ledger.
    let (_, chart) = app.get(&format!("/api/billing/statistics/{shop}/chart?period=day"), &sys.in_tenant(&shop)).await;
    assert_eq!(money(&chart["total"]), Money::from_micros(10_000_000), "{chart}");
    assert_eq!(chart["operations"], 50);
    assert_eq!(money(&chart["by_provider"]["upstream"]), Money::from_micros(10_000_000));
    assert_eq!(money(&chart["by_feature"]["api"]), Money::from_micros(10_000_000));
    let resp = reqwest::Client::new()
        .get(app.url(&format!("/api/admin/billing/tenants/{shop}/export")))
        .bearer_auth(sys.bearer.as_deref().unwrap())
        .header("X-Tenant-Id", &shop)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("created_at,id,account_id"));
    assert_eq!(lines.len(), 1 + 1 + 50, "header, the top-up, 50 debits");
    assert_eq!(lines.iter().filter(|l| l.contains(",debit,")).count(), 50);
}

async fn five_hundred_calls_stop_at_a_credit_limit(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = metered(backend, &fake).await else { return };
    let sys = app.sysadmin().await;
    let firm = app.create_tenant("Firm").await;
    let url = format!("/api/admin/billing/tenants/{firm}/settings");
    let mut settings = json!({"billing_model": "credit_postpay", "currency": "CHF", "credit_limit": "10.00"});
    // A postpaid tenant is invoiced: its address is required and checked.
    let (status, body) = app.call(Method::PUT, &url, &sys, Some(settings.clone())).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "billing_address");
    settings["billing_address"] =
        json!({"company": "Firm AG", "street": "Hauptstrasse 1", "zip": "3000", "city": "Bern", "country": "Schweiz"});
    let (status, body) = app.call(Method::PUT, &url, &sys, Some(settings.clone())).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "billing_address.country");
    settings["billing_address"]["country"] = json!("CH");
    let (status, body) = app.call(Method::PUT, &url, &sys, Some(settings)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = app.user_in(&firm, "user").await.auth;

    let (ok, refused) = storm(&app, &user, 500).await;
    assert_eq!((ok, refused), (50, 450), "a limit of 10.00 covers exactly 50 calls at 0.20");
    let (_, b) = app.get("/api/billing/balance", &user).await;
    assert_eq!(money(&b["balance"]), Money::from_micros(-10_000_000), "{b}");
    assert_eq!(money(&b["available"]), Money::ZERO, "{b}");
    assert_books(&app, &sys.in_tenant(&firm), &firm, &fake, 50).await;
}

async fn root_users_start_with_credit_and_see_only_their_own(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = metered(backend, &fake).await else { return };
    let sys = app.sysadmin().await;
    let root = app.get("/me", &sys).await.1["current_tenant_id"].as_str().unwrap().to_owned();
    let alice = app.user_in(&root, "user").await;
    let bob = app.user_in(&root, "user").await;
    // ROOT bills per user; each starts with 10.00, booked as a credit transaction.
    let (_, b) = app.get("/api/billing/balance", &alice.auth).await;
    assert_eq!((b["billing_model"].as_str(), b["account_type"].as_str()), (Some("prepay_user"), Some("user")));
    assert_eq!(money(&b["balance"]), Money::from_micros(10_000_000));
    let (status, r) = app.post("/v1/chat/completions", &alice.auth, ask()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(money(&r["docwright"]["price"]), Money::from_micros(PRICE_PER_CALL));
    let (_, b) = app.get("/api/billing/balance", &alice.auth).await;
    assert_eq!(money(&b["balance"]), Money::from_micros(10_000_000 - PRICE_PER_CALL));
    let (_, b) = app.get("/api/billing/balance", &bob.auth).await;
    assert_eq!(money(&b["balance"]), Money::from_micros(10_000_000), "Alice's call is not Bob's");
    // Bob's transactions hold nothing of Alice's; Bob cannot read another tenant's balance.
    let (_, rows) = app.get("/api/billing/transactions", &bob.auth).await;
    assert!(rows.as_array().unwrap().iter().all(|r| r["user_id"] != json!(alice.id)), "{rows}");
    let other = app.create_tenant("Elsewhere").await;
    let (status, body) = app.get(&format!("/api/billing/balance/{other}"), &bob.auth).await;
    assert_error(status, &body, 404, "not_found");
    // Top-ups are positive amounts; a user's account needs a member.
    let url = format!("/api/admin/billing/tenants/{root}/credit");
    let (status, body) = app.post(&url, &sys, json!({"amount": "-1"})).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) =
        app.post(&url, &sys, json!({"amount": "1", "user_id": uuid::Uuid::now_v7().to_string()})).await;
    assert_error(status, &body, 404, "not_found");
    let (status, a) = app.post(&url, &sys, json!({"amount": "2.50", "user_id": bob.id})).await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(money(&a["balance"]), Money::from_micros(12_500_000));
    let (_, v) = app.get("/api/admin/billing/verify", &sys).await;
    assert_eq!(v["ok"], true, "{v}");
}

async fn low_balance_notices(app: &TestApp, admin: &Auth) -> Vec<Value> {
    let (_, page) = app.get("/api/billing/notices", admin).await;
    page["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "low_balance").cloned().collect()
}

/// SPEC B7: a low-balance warning once per crossing of the threshold (a top-up re-arms it),
/// and the monthly report once per month; both stored as notices (no SMTP server here: kept as
/// `unsent`) that admins list and download.
async fn low_balance_warnings_and_monthly_reports(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = metered(backend, &fake).await else { return };
    let sys = app.sysadmin().await;
    let shop = app.create_tenant("Notices").await;
    let settings = json!({"billing_model": "prepay_tenant", "currency": "CHF", "warning_threshold_percent": 50,
                          "notify_emails": ["ops@example.com"]});
    let (status, body) =
        app.call(Method::PUT, &format!("/api/admin/billing/tenants/{shop}/settings"), &sys, Some(settings)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let credit = format!("/api/admin/billing/tenants/{shop}/credit");
    app.post(&credit, &sys, json!({"amount": "1.00"})).await;
    let admin = app.user_in(&shop, "admin").await.auth;
    // 1.00 → 0.80 → 0.60: above 50%. → 0.40: crossed, one warning. → 0.20, 0.00: no more.
    for i in 0..5 {
        let (status, _) = app.post("/v1/chat/completions", &admin, ask()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(low_balance_notices(&app, &admin).await.len(), usize::from(i >= 2), "after call {}", i + 1);
    }
    // A top-up re-arms the warning: the next crossing warns again.
    app.post(&credit, &sys, json!({"amount": "1.00"})).await;
    for _ in 0..3 {
        app.post("/v1/chat/completions", &admin, ask()).await;
    }
    let warnings = low_balance_notices(&app, &admin).await;
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[0]["status"], "unsent", "no SMTP server configured: kept for download");
    assert_eq!(warnings[0]["recipients"], json!(["ops@example.com"]));
    let (_, one) = app.get(&format!("/api/billing/notices/{}", warnings[0]["id"].as_str().unwrap()), &admin).await;
    assert!(one["body"].as_str().unwrap().contains("fell below 50%"), "{one}");

    // The report of this month, as the reconciler makes it at the start of the next.
    let next_month = docwright_core::time::Timestamp::now().plus_secs(32 * 24 * 3600);
    assert!(app.state.engine.monthly_reports(next_month).await.unwrap() >= 1);
    assert_eq!(app.state.engine.monthly_reports(next_month).await.unwrap(), 0, "once per month");
    let (_, page) = app.get("/api/billing/notices", &admin).await;
    let report = page["items"].as_array().unwrap().iter().find(|n| n["kind"] == "monthly_report").unwrap().clone();
    let (_, report) = app.get(&format!("/api/billing/notices/{}", report["id"].as_str().unwrap()), &admin).await;
    let body = report["body"].as_str().unwrap();
    for want in
        ["Operations: 8", "Total: 1.6", "Opening balance: 0", "Closing balance: 0.4", "upstream: 1.6", "api: 1.6"]
    {
        assert!(body.contains(want), "{want} in {body}");
    }
    let csv = report["attachment"].as_str().unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 + 8, "header, two top-ups, eight debits");
}

mod notices {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::low_balance_warnings_and_monthly_reports(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::low_balance_warnings_and_monthly_reports(docwright_storage::Backend::Postgres).await
    }
}

/// SPEC B3: a fallback to a pricier model releases the first hold and reserves again at the
/// fallback's price; a fallback the balance cannot cover is refused with 402, and the provider
/// of the fallback is never called.
async fn a_fallback_reserves_again_at_its_own_price(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url.clone();
    let Some(app) = TestApp::spawn(backend, move |c| {
        c.gateway.retries_per_model = 0;
        c.providers = vec![
            ProviderConfig {
                name: "upstream".into(),
                kind: ProviderKind::OpenaiCompatible,
                base_url: Some(base),
                api_key: Some(Secret::new("sk-upstream".into())),
                timeout_secs: 30,
                ..Default::default()
            },
            ProviderConfig { name: "local".into(), kind: ProviderKind::Dryrun, ..Default::default() },
        ];
        let model = |name: &str, provider: &str, price: &str, fallbacks: Vec<String>| ModelConfig {
            name: name.into(),
            provider: provider.into(),
            upstream_name: None,
            context_tokens: 8000,
            max_output_tokens: 1000,
            capabilities: vec![Capability::Text],
            price_input_per_mtok: "0".into(),
            price_output_per_mtok: price.into(),
            quality: 5,
            speed: 5,
            fallbacks,
        };
        c.models = vec![
            model("cheap", "upstream", "200000", vec!["pricey".into()]),
            model("pricey", "local", "3000000", vec![]),
        ];
    })
    .await
    else {
        return;
    };
    let sys = app.sysadmin().await;
    let shop = app.create_tenant("Fallbacks").await;
    let settings = json!({"billing_model": "prepay_tenant", "currency": "CHF"});
    app.call(Method::PUT, &format!("/api/admin/billing/tenants/{shop}/settings"), &sys, Some(settings)).await;
    app.post(&format!("/api/admin/billing/tenants/{shop}/credit"), &sys, json!({"amount": "5.00"})).await;
    let user = app.user_in(&shop, "user").await.auth;
    let body = json!({"model": "cheap", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]});

    // cheap fails; pricey (3.00 per output token) is reserved at 3.00 and answers.
    fake.reply(docwright_llm::testing::Reply::Status { status: 500, retry_after: None });
    let (status, r) = app.post("/v1/chat/completions", &user, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["model"], "pricey");
    let price = money(&r["docwright"]["price"]);
    assert!(price > Money::ZERO && price <= Money::from_micros(3_000_000), "{r}");
    let (_, b) = app.get("/api/billing/balance", &user).await;
    assert_eq!(money(&b["balance"]), Money::from_micros(5_000_000 - price.micros()));
    assert_eq!(money(&b["reserved"]), Money::ZERO, "both holds ended");

    // Now cheap fails again and the balance (5.00 - price) cannot hold pricey's 3.00 a second
    // time once it is below it: keep calling until refused; nothing is ever overspent.
    let mut refused = false;
    for _ in 0..3 {
        fake.reply(docwright_llm::testing::Reply::Status { status: 500, retry_after: None });
        let (status, r) = app.post("/v1/chat/completions", &user, body.clone()).await;
        if status == StatusCode::PAYMENT_REQUIRED {
            assert_eq!(money(&r["error"]["details"]["required"]), Money::from_micros(3_000_000), "{r}");
            refused = true;
            break;
        }
        assert_eq!(status, StatusCode::OK, "{r}");
    }
    assert!(refused, "the balance ran out for the pricey fallback");
    let (_, b) = app.get("/api/billing/balance", &user).await;
    assert!(money(&b["balance"]) >= Money::ZERO, "{b}");
    let (_, v) = app.get("/api/admin/billing/verify", &sys).await;
    assert_eq!(v["ok"], true, "{v}");
}

mod fallback_reserves_again {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_fallback_reserves_again_at_its_own_price(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_fallback_reserves_again_at_its_own_price(docwright_storage::Backend::Postgres).await
    }
}

mod prepaid_concurrency {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::five_hundred_calls_never_overspend_a_prepaid_balance(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::five_hundred_calls_never_overspend_a_prepaid_balance(docwright_storage::Backend::Postgres).await
    }
}

mod postpaid_concurrency {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::five_hundred_calls_stop_at_a_credit_limit(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::five_hundred_calls_stop_at_a_credit_limit(docwright_storage::Backend::Postgres).await
    }
}

mod per_user_accounts {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::root_users_start_with_credit_and_see_only_their_own(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::root_users_start_with_credit_and_see_only_their_own(docwright_storage::Backend::Postgres).await
    }
}
