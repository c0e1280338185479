//! Automations (SPEC T2–T4): templates and definitions through the API, the actions catalog,
//! the scheduler driven by a clock of the test's choosing — one run per slot with two servers
//! on one database, missed slots after a downtime under both policies, a slot in Zurich's
//! spring gap —, run-now with its workflow, cost booked to feature `automation`, a run
//! refused for budget, and the estimate.

use docwright_config::Config;
use docwright_core::id::AutomationId;
use docwright_core::time::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp, assert_error};

both_databases!(
    config = no_scheduler;
    templates_and_definitions_through_the_api,
    the_catalog_lists_what_the_caller_may_use,
    a_slot_runs_once_with_two_schedulers,
    missed_slots_follow_the_policy,
    a_slot_in_the_spring_gap_and_the_next_from_the_slot,
    a_run_now_is_a_workflow_booked_to_the_automation,
    a_run_without_money_is_refused_and_logged,
    a_workflow_takes_the_instructions_of_a_category,
    the_starter_set_is_seeded_once_into_an_empty_table,
);

/// The tests drive the scheduler themselves, with their own clock.
fn no_scheduler(c: &mut Config) {
    c.automations.scheduler = false;
    c.automations.misfire_grace_secs = 120;
}

const TEMPLATE: &str = r#"{
  "overview": "Summarise the news",
  "tasks": [
    {
      "objective": "Write the digest",
      "action_list": [
        {
          "exec_method": "ai",
          "exec_action": "process",
          "exec_parameters": {"prompt": "Digest about {{KEY:topic}} for {{KEY:audience}}, again {{KEY:topic}}", "output_format": "txt"},
          "exec_result_label": "ai_process_result"
        }
      ]
    }
  ]
}"#;

async fn create(app: &TestApp, auth: &Auth, body: Value) -> Value {
    let (status, body) = app.post("/api/automations", auth, body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// An active definition of `auth` on `schedule` whose next slot is set to `slot`.
async fn scheduled(
    app: &TestApp,
    tenant: &str,
    auth: &Auth,
    schedule: &str,
    tz: &str,
    policy: &str,
    slot: Timestamp,
) -> AutomationId {
    let d = create(
        app,
        auth,
        json!({"label": "Digest", "template": TEMPLATE, "placeholders": {"topic": "rust", "audience": "us"},
               "schedule": schedule, "timezone": tz, "missed_policy": policy, "active": true}),
    )
    .await;
    let id = AutomationId::parse(d["id"].as_str().unwrap()).unwrap();
    let mut d = app.state.db.automation(tenant_id(tenant), id).await.unwrap().unwrap();
    d.next_run_at = Some(slot);
    assert!(app.state.db.update_automation(&d).await.unwrap());
    id
}

async fn runs(app: &TestApp, auth: &Auth, id: AutomationId) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/automations/{id}"), auth).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["execution_logs"].as_array().unwrap().clone()
}

/// A whole minute, some minutes ago.
fn minute_ago(minutes: i64) -> Timestamp {
    let now = Timestamp::now().millis();
    Timestamp::from_millis(now - now % 60_000 - minutes * 60_000)
}

async fn templates_and_definitions_through_the_api(app: TestApp) {
    let tenant = app.create_tenant("Automate").await;
    let user = app.user_in(&tenant, "user").await;
    let other = app.user_in(&tenant, "user").await;

    // The starter set, seeded into the empty table, read by everyone.
    let (status, page) = app.get("/api/automation-templates", &user.auth).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let starter = page["items"].as_array().unwrap();
    assert!(starter.len() >= 3, "{page}");
    assert!(
        starter.iter().all(|t| t["scope"] == "installation" && !t["placeholder_keys"].as_array().unwrap().is_empty())
    );

    // JSON errors name their position; actions are checked against the catalog.
    let bad = json!({"label": {"en": "Bad"}, "template": "{\n  \"tasks\": [\n    {\"action_list\": [}\n  ]\n}"});
    let (status, body) = app.post("/api/automation-templates", &user.auth, bad).await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("line 3, column"), "{body}");
    let unknown = TEMPLATE.replace("\"process\"", "\"teleport\"");
    let (status, body) =
        app.post("/api/automation-templates", &user.auth, json!({"label": {"en": "X"}, "template": unknown})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("no action `ai.teleport`"), "{body}");
    let (status, body) = app
        .post("/api/automation-templates", &user.auth, json!({"label": {"de": "Nur Deutsch"}, "template": TEMPLATE}))
        .await;
    assert_error(status, &body, 400, "validation_failed");

    // A template of the user's: keys once each, in order of first appearance.
    let (status, template) = app
        .post(
            "/api/automation-templates",
            &user.auth,
            json!({"label": {"en": "News Digest", "de": "Nachrichtenüberblick"}, "overview": {"en": "News"}, "template": TEMPLATE}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    assert_eq!(template["placeholder_keys"], json!(["topic", "audience"]));
    let tid = template["id"].as_str().unwrap();
    // Another user does not see it (level `my`).
    let (status, body) = app.get(&format!("/api/automation-templates/{tid}"), &other.auth).await;
    assert_error(status, &body, 404, "not_found");
    // Starter templates are the installation's: not for a tenant's users to edit.
    let starter_id = starter[0]["id"].as_str().unwrap();
    let put = json!({"label": {"en": "Mine now"}, "template": TEMPLATE});
    let (status, body) =
        app.call(Method::PUT, &format!("/api/automation-templates/{starter_id}"), &user.auth, Some(put)).await;
    assert_error(status, &body, 403, "forbidden");

    // A definition from the template: a copy, labelled in the user's language.
    let (status, _) = app.call(Method::PATCH, "/me/settings", &user.auth, Some(json!({"language": "de"}))).await;
    assert_eq!(status, StatusCode::OK);
    let d = create(&app, &user.auth, json!({"from_template": tid})).await;
    assert_eq!(d["label"], "Nachrichtenüberblick");
    assert_eq!(d["schedule"], "0 22 * * *");
    assert_eq!(d["active"], false);
    assert_eq!(d["timezone"], "UTC");
    // The tenant's own zone becomes the default of new definitions.
    let admin = app.user_in(&tenant, "admin").await;
    let url = format!("/api/admin/tenants/{tenant}/timezone");
    let (status, body) = app.call(Method::PUT, &url, &admin.auth, Some(json!({"timezone": "Atlantis/Capital"}))).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app.call(Method::PUT, &url, &admin.auth, Some(json!({"timezone": "Europe/Zurich"}))).await;
    assert_eq!((status, body["timezone"].as_str()), (StatusCode::OK, Some("Europe/Zurich")), "{body}");
    let zurich = create(&app, &user.auth, json!({"from_template": tid})).await;
    assert_eq!(zurich["timezone"], "Europe/Zurich");
    let zurich_path = format!("/api/automations/{}", zurich["id"].as_str().unwrap());
    let (status, _) = app.call(Method::DELETE, &zurich_path, &user.auth, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(d["missed_policy"], "skip");
    assert_eq!(d["placeholders"], json!({"audience": "", "topic": ""}));
    assert_eq!(d["unfilled_placeholders"], json!(["topic", "audience"]));
    assert_eq!(d["placeholder_types"]["topic"], "text");
    let id = d["id"].as_str().unwrap().to_owned();
    // No link is kept: deleting the template leaves the definition as it was.
    let (status, _) = app.call(Method::DELETE, &format!("/api/automation-templates/{tid}"), &user.auth, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Activation is refused while a placeholder has no value, naming it.
    let path = format!("/api/automations/{id}");
    let patch = json!({"active": true, "placeholders": {"topic": "Rust"}});
    let (status, body) = app.call(Method::PUT, &path, &user.auth, Some(patch)).await;
    assert_error(status, &body, 422, "unfilled_placeholders");
    assert!(body["error"]["message"].as_str().unwrap().contains("audience"), "{body}");
    assert!(!body["error"]["message"].as_str().unwrap().contains("topic"), "{body}");
    for (field, value) in [("schedule", "61 * * * *"), ("timezone", "Mars/Olympus"), ("missed_policy", "sometimes")] {
        let (status, body) = app.call(Method::PUT, &path, &user.auth, Some(json!({ field: value }))).await;
        assert_error(status, &body, 400, "validation_failed");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{body}");
    }
    let patch = json!({"active": true, "placeholders": {"topic": "Rust", "audience": "the team"},
                       "schedule": "30 7 * * mon-fri", "timezone": "Europe/Zurich"});
    let (status, d) = app.call(Method::PUT, &path, &user.auth, Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["status"], "scheduled");
    assert_eq!(d["unfilled_placeholders"], json!([]));
    assert_eq!(d["next_runs"].as_array().unwrap().len(), 5, "{d}");
    // 07:30 in Zurich is 05:30 or 06:30 UTC.
    let first = d["next_runs"][0].as_str().unwrap();
    assert!(first.contains("T05:30:00") || first.contains("T06:30:00"), "{first}");
    // The other user sees nothing of it.
    let (status, body) = app.get(&path, &other.auth).await;
    assert_error(status, &body, 404, "not_found");

    // Save as template: the markers stay, the values do not.
    let (status, saved) = app.post(&format!("{path}/save-as-template"), &user.auth, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["label"]["en"], "Nachrichtenüberblick");
    assert_eq!(saved["placeholder_keys"], json!(["topic", "audience"]));
    let text = saved["template"].as_str().unwrap();
    assert!(text.contains("{{KEY:topic}}") && !text.contains("the team") && !text.contains("Rust"), "{text}");

    // Deactivate, then delete.
    let (status, d) = app.call(Method::PUT, &path, &user.auth, Some(json!({"active": false}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d["status"], "inactive");
    assert_eq!(d["next_runs"], json!([]));
    let (status, _) = app.call(Method::DELETE, &path, &user.auth, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&path, &user.auth).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn the_catalog_lists_what_the_caller_may_use(app: TestApp) {
    let tenant = app.create_tenant("Catalog").await;
    let user = app.user_in(&tenant, "user").await;
    let (status, body) = app.get("/api/automations/actions", &user.auth).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let actions = body["actions"].as_array().unwrap();
    let process = actions.iter().find(|a| a["action_id"] == "ai.process").expect("ai.process");
    assert_eq!(process["category"], "AI");
    assert_eq!(process["example_json"]["exec_parameters"]["prompt"], "{{KEY:prompt}}");
    assert_eq!(process["example_json"]["exec_result_label"], "ai_process_result");
    let format = process["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "output_format").unwrap();
    assert_eq!(format["frontend_type"], "select");
    assert!(format["frontend_options"].as_array().unwrap().contains(&json!("csv")));
    assert!(actions.iter().any(|a| a["action_id"] == "web.search"));

    // A rule takes web search away from users: it leaves the catalog, and a definition using it
    // is refused.
    let sys = app.sysadmin().await.in_tenant(&tenant);
    let rule = json!({"role": "user", "item": "resource.action.web.search", "view": false, "read": "none",
                      "create": "none", "update": "none", "delete": "none"});
    let (status, body) = app.call(Method::PUT, "/api/admin/rbac/rules", &sys, Some(rule)).await;
    assert!(status.is_success(), "{body}");
    let (_, body) = app.get("/api/automations/actions", &user.auth).await;
    let ids: Vec<&str> = body["actions"].as_array().unwrap().iter().map(|a| a["action_id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&"web.search") && ids.contains(&"ai.process"), "{ids:?}");
    let web = r#"{"tasks":[{"action_list":[{"exec_method":"web","exec_action":"search","exec_parameters":{"query":"{{KEY:q}}"}}]}]}"#;
    let (status, body) = app.post("/api/automations", &user.auth, json!({"template": web})).await;
    assert_error(status, &body, 403, "forbidden");
    assert!(body["error"]["message"].as_str().unwrap().contains("web.search"), "{body}");
}

async fn a_slot_runs_once_with_two_schedulers(app: TestApp) {
    let tenant = app.create_tenant("Twice").await;
    let user = app.user_in(&tenant, "user").await;
    let replica = app.replica().await;
    let slot = minute_ago(1);
    let id = scheduled(&app, &tenant, &user.auth, "* * * * *", "UTC", "skip", slot).await;

    // Both servers look at once, several times, a little after the slot.
    let now = Timestamp::from_millis(slot.millis() + 5_000);
    let (a, b) = tokio::join!(
        async {
            let mut n = 0;
            for _ in 0..3 {
                n += app.state.engine.run_due_automations(now).await.unwrap().started;
            }
            n
        },
        async {
            let mut n = 0;
            for _ in 0..3 {
                n += replica.state.engine.run_due_automations(now).await.unwrap().started;
            }
            n
        }
    );
    assert_eq!(a + b, 1, "one run for the slot, not {a} + {b}");
    // The next slot follows the slot, not the clock.
    let next = Timestamp::from_millis(slot.millis() + 60_000);
    let d = app.state.db.automation(tenant_id(&tenant), id).await.unwrap().unwrap();
    assert_eq!(d.next_run_at, Some(next));
    let (a, b) = tokio::join!(
        app.state.engine.run_due_automations(Timestamp::from_millis(next.millis() + 1_000)),
        replica.state.engine.run_due_automations(Timestamp::from_millis(next.millis() + 1_000)),
    );
    assert_eq!(a.unwrap().started + b.unwrap().started, 1);
    let log = runs(&app, &user.auth, id).await;
    assert_eq!(log.len(), 2, "{log:?}");
    let slots: Vec<&str> = log.iter().map(|r| r["slot_at"].as_str().unwrap()).collect();
    assert_eq!(slots, [next.to_rfc3339(), slot.to_rfc3339()]);
    for r in &log {
        assert_eq!(r["status"], "started");
        assert_eq!(r["trigger"], "schedule");
        let workflow = r["workflow_id"].as_str().unwrap();
        assert_eq!(r["links"]["workflow"], format!("/api/workflows/{workflow}"));
    }
}

async fn missed_slots_follow_the_policy(app: TestApp) {
    let tenant = app.create_tenant("Downtime").await;
    let user = app.user_in(&tenant, "user").await;
    // Every five minutes; the server was down for an hour and comes back three minutes after a
    // slot, past the grace of two minutes.
    let now = Timestamp::now().millis();
    let slot = Timestamp::from_millis(now - now % 300_000 - 7_200_000);
    let at = |minutes: i64, secs: i64| Timestamp::from_millis(slot.millis() + minutes * 60_000 + secs * 1000);
    let skip = scheduled(&app, &tenant, &user.auth, "*/5 * * * *", "UTC", "skip", slot).await;
    let once = scheduled(&app, &tenant, &user.auth, "*/5 * * * *", "UTC", "run_once", slot).await;
    let ticked = app.state.engine.run_due_automations(at(50, 180)).await.unwrap();
    assert_eq!((ticked.started, ticked.skipped), (1, 1), "{ticked:?}");

    let log = runs(&app, &user.auth, skip).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["status"], "skipped");
    assert_eq!(log[0]["error"]["code"], "missed");
    assert!(log[0]["error"]["message"].as_str().unwrap().starts_with("11 slots missed"), "{log:?}");
    let log = runs(&app, &user.auth, once).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["status"], "started");
    assert_eq!(log[0]["trigger"], "catch_up");
    assert_eq!(log[0]["slot_at"], at(50, 0).to_rfc3339());
    // Both wait for the first slot after the downtime.
    for id in [skip, once] {
        let d = app.state.db.automation(tenant_id(&tenant), id).await.unwrap().unwrap();
        assert_eq!(d.next_run_at, Some(at(55, 0)));
    }
    // A slot found within the grace runs as scheduled; under `skip` the two before it are
    // logged as missed, under `run_once` the run stands for them.
    let ticked = app.state.engine.run_due_automations(at(65, 30)).await.unwrap();
    assert_eq!((ticked.started, ticked.skipped), (2, 1), "{ticked:?}");
    let log = runs(&app, &user.auth, skip).await;
    assert_eq!((log[0]["status"].as_str(), log[0]["trigger"].as_str()), (Some("started"), Some("schedule")));
    assert_eq!(log[0]["slot_at"], at(65, 0).to_rfc3339());
    assert!(log[1]["error"]["message"].as_str().unwrap().starts_with("2 slots missed"), "{log:?}");
    assert_eq!(runs(&app, &user.auth, once).await.len(), 2);
}

async fn a_slot_in_the_spring_gap_and_the_next_from_the_slot(app: TestApp) {
    let tenant = app.create_tenant("Zurich").await;
    let user = app.user_in(&tenant, "user").await;
    // 02:30 does not exist in Zurich on 2026-03-29: the slot is 03:30 CEST (01:30 UTC).
    let gap = Timestamp::from_millis(1_774_747_800_000);
    assert_eq!(gap.to_rfc3339(), "2026-03-29T01:30:00Z");
    let id = scheduled(&app, &tenant, &user.auth, "30 2 * * *", "Europe/Zurich", "skip", gap).await;
    let ticked = app.state.engine.run_due_automations(Timestamp::from_millis(gap.millis() + 1_000)).await.unwrap();
    assert_eq!(ticked.started, 1);
    // The next one is 02:30 CEST the day after (00:30 UTC), counted from the slot.
    let d = app.state.db.automation(tenant_id(&tenant), id).await.unwrap().unwrap();
    assert_eq!(d.next_run_at.map(|t| t.to_rfc3339()).as_deref(), Some("2026-03-30T00:30:00Z"));
}

async fn a_run_now_is_a_workflow_booked_to_the_automation(app: TestApp) {
    let tenant = app.prepaid_tenant("Booked").await;
    let sys = app.sysadmin().await;
    let (status, body) =
        app.post(&format!("/api/admin/billing/tenants/{tenant}/credit"), &sys, json!({"amount": "50.00"})).await;
    assert!(status.is_success(), "{body}");
    let admin = app.user_in(&tenant, "admin").await;
    let d =
        create(&app, &admin.auth, json!({"label": "Digest", "template": TEMPLATE, "placeholders": {"topic": "rust"}}))
            .await;
    let id = d["id"].as_str().unwrap();
    // Not while a placeholder is empty.
    let (status, body) = app.post(&format!("/api/automations/{id}/run"), &admin.auth, json!({})).await;
    assert_error(status, &body, 422, "unfilled_placeholders");
    let patch = json!({"placeholders": {"topic": "rust", "audience": "the team"}});
    let (status, _) = app.call(Method::PUT, &format!("/api/automations/{id}"), &admin.auth, Some(patch)).await;
    assert_eq!(status, StatusCode::OK);

    let (status, run) = app.post(&format!("/api/automations/{id}/run"), &admin.auth, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{run}");
    assert_eq!(run["trigger"], "manual");
    assert!(run.get("slot_at").is_none());
    let workflow = run["workflow_id"].as_str().unwrap();
    let ended = app.workflow_ended(&admin.auth, workflow).await;
    assert_eq!(ended["status"], "completed", "{ended}");
    assert!(!ended["files"].as_array().unwrap().is_empty(), "{ended}");
    // The fixed plan ran: no task planning, the action of the template in the log tree.
    let (_, log) = app.get(&format!("/api/workflows/{workflow}/log"), &admin.auth).await;
    let text = log.to_string();
    assert!(text.contains("Step 1: ai.process") && !text.contains("Task Planning"), "{text}");

    let log = runs(&app, &admin.auth, AutomationId::parse(id).unwrap()).await;
    assert_eq!(log[0]["workflow_status"], "completed");
    assert_ne!(log[0]["cost"], "0", "{log:?}");
    // Every charge of the run names the automation and its feature.
    let (_, txs) = app.get("/api/billing/transactions", &admin.auth).await;
    let debits: Vec<&Value> = txs.as_array().unwrap().iter().filter(|t| t["kind"] == "debit").collect();
    assert!(!debits.is_empty(), "{txs}");
    for t in debits {
        assert_eq!(
            (t["feature"].as_str(), t["reference_type"].as_str()),
            (Some("automation"), Some("automation")),
            "{t}"
        );
        assert_eq!(t["reference_id"], id);
    }
    let stats = app.state.db.ai_stats(tenant_id(&tenant)).await.unwrap();
    assert!(!stats.is_empty() && stats.iter().all(|s| s.automation_id.map(|a| a.to_string()).as_deref() == Some(id)));

    // The estimate: a run at the model the gateway would pick, a month of daily runs.
    let (status, e) = app.get(&format!("/api/automations/{id}/estimate"), &admin.auth).await;
    assert_eq!(status, StatusCode::OK, "{e}");
    assert_eq!(e["runs_per_month"], 30);
    assert_eq!(e["calls_per_run"], 2);
    assert_eq!(e["currency"], "CHF");
    assert!(e["model"].as_str().unwrap().starts_with("dryrun"), "{e}");
    let per_run: f64 = e["per_run"].as_str().unwrap().parse().unwrap();
    let per_month: f64 = e["per_month"].as_str().unwrap().parse().unwrap();
    assert!(per_run > 0.0 && (per_month - per_run * 30.0).abs() < 1e-6, "{e}");
}

async fn a_run_without_money_is_refused_and_logged(app: TestApp) {
    let tenant = app.prepaid_tenant("Broke").await;
    let user = app.user_in(&tenant, "user").await;
    let slot = minute_ago(1);
    let id = scheduled(&app, &tenant, &user.auth, "* * * * *", "UTC", "skip", slot).await;
    let ticked = app.state.engine.run_due_automations(Timestamp::from_millis(slot.millis() + 2_000)).await.unwrap();
    assert_eq!((ticked.started, ticked.refused), (0, 1), "{ticked:?}");
    let log = runs(&app, &user.auth, id).await;
    assert_eq!(log[0]["status"], "refused");
    assert_eq!(log[0]["error"]["code"], "insufficient_balance");
    assert!(log[0].get("workflow_id").is_none());
    // The slot is spent; the next one is waited for.
    let d = app.state.db.automation(tenant_id(&tenant), id).await.unwrap().unwrap();
    assert_eq!(d.next_run_at, Some(Timestamp::from_millis(slot.millis() + 60_000)));
    let (status, body) = app.post(&format!("/api/automations/{id}/run"), &user.auth, json!({})).await;
    assert_error(status, &body, 422, "insufficient_balance");
}

fn tenant_id(s: &str) -> docwright_core::id::TenantId {
    docwright_core::id::TenantId::parse(s).unwrap()
}

async fn a_workflow_takes_the_instructions_of_a_category(app: TestApp) {
    let tenant = app.create_tenant("Presets").await;
    let user = app.user_in(&tenant, "user").await;
    let body = json!({"prompt": "Find the trends", "output_format": "txt", "category": "analysis"});
    let (status, w) = app.post("/api/workflows", &user.auth, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{w}");
    let id = docwright_core::id::WorkflowId::parse(w["workflow_id"].as_str().unwrap()).unwrap();
    let stored = app.state.db.workflow(tenant_id(&tenant), id).await.unwrap().unwrap();
    assert!(
        stored.record.instructions.is_some_and(|i| i.len() > 20),
        "the preset's instructions are kept with the run"
    );
    let body = json!({"prompt": "x", "category": "astrology"});
    let (status, body) = app.post("/api/workflows", &user.auth, body).await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("astrology"), "{body}");
}

async fn the_starter_set_is_seeded_once_into_an_empty_table(app: TestApp) {
    let sys = app.sysadmin().await;
    let (_, page) = app.get("/api/automation-templates", &sys).await;
    let starter: Vec<String> =
        page["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(starter.len(), 3, "{page}");
    // A table with any template is left alone.
    assert_eq!(app.state.engine.seed_automation_templates().await.unwrap(), 0);
    // Emptied, it is seeded again (at the next start), once even by two seeders at once.
    for id in &starter {
        let (status, body) = app.call(Method::DELETE, &format!("/api/automation-templates/{id}"), &sys, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let engine = &app.state.engine;
    let (a, b) = tokio::join!(engine.seed_automation_templates(), engine.seed_automation_templates());
    assert_eq!(a.unwrap() + b.unwrap(), 3, "two seeders at once insert the set once");
    // A replica starting on the seeded table adds nothing.
    let _replica = app.replica().await;
    let (_, page) = app.get("/api/automation-templates", &sys).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3, "{page}");
}
