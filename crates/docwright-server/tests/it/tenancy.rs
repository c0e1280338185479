//! Tenants, the tenant header, bootstrap, roles and rule editing.

use docwright_server::Application;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, Auth, TestApp, assert_error};

both_databases!(
    tenant_header_selects_the_context,
    api_keys_act_only_in_their_tenant,
    second_start_creates_nothing,
    roles_are_assigned_with_guards,
    removing_a_user_ends_their_access_to_the_tenant,
    tenant_admin_credentials_stay_in_their_tenant,
    promotion_to_sysadmin_revokes_credentials_others_issued,
    rules_are_edited_per_tenant,
);

async fn tenant_header_selects_the_context(app: TestApp) {
    let a = app.create_tenant("Alpha").await;
    let b = app.create_tenant("Beta").await;
    let u = app.user_in(&a, "user").await;
    // Default context: the first tenant.
    let no_header = Auth { tenant: None, ..u.auth.clone() };
    assert_eq!(app.get("/me", &no_header).await.1["current_tenant_id"], a.as_str());
    // A tenant the user does not belong to.
    let (status, body) = app.get("/me", &u.auth.in_tenant(&b)).await;
    assert_error(status, &body, 403, "forbidden");
    // Added to B as viewer: the header now switches context and role.
    let sys = app.sysadmin().await.in_tenant(&b);
    let (status, body) =
        app.call(Method::PUT, &format!("/api/admin/users/{}/role", u.id), &sys, Some(json!({"role": "viewer"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, me) = app.get("/me", &u.auth.in_tenant(&b)).await;
    assert_eq!((me["current_tenant_id"].as_str(), me["current_role"].as_str()), (Some(b.as_str()), Some("viewer")));
    assert_eq!(me["tenants"].as_array().unwrap().len(), 2);
    // Malformed and unknown tenant ids.
    let (status, body) = app.get("/me", &u.auth.in_tenant("not-a-uuid")).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "X-Tenant-Id");
    let (status, body) = app.get("/me", &app.sysadmin().await.in_tenant("01a1ffc4-0000-7000-8000-000000000000")).await;
    assert_error(status, &body, 404, "not_found");
    // Tenant names are unique.
    let (status, body) = app.post("/api/admin/tenants", &app.sysadmin().await, json!({"name": "Alpha"})).await;
    assert_error(status, &body, 409, "conflict");
}

async fn api_keys_act_only_in_their_tenant(app: TestApp) {
    let a = app.create_tenant("A").await;
    let b = app.create_tenant("B").await;
    let u = app.user_in(&a, "admin").await;
    let sys_b = app.sysadmin().await.in_tenant(&b);
    app.call(Method::PUT, &format!("/api/admin/users/{}/role", u.id), &sys_b, Some(json!({"role": "admin"}))).await;
    let (status, created) = app.post("/api/keys", &u.auth, json!({"name": "a-only"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = Auth::bearer(created["key"].as_str().unwrap());
    assert_eq!(app.get("/me", &key).await.1["current_tenant_id"], a.as_str());
    assert_eq!(app.get("/me", &key.in_tenant(&a)).await.0, StatusCode::OK);
    let (status, body) = app.get("/me", &key.in_tenant(&b)).await;
    assert_error(status, &body, 403, "forbidden");
    // The admin of B cannot see or revoke A's key.
    let (_, keys_b) = app.get("/api/admin/keys", &u.auth.in_tenant(&b)).await;
    assert_eq!(keys_b["items"].as_array().unwrap().len(), 0, "{keys_b}");
    let kid = created["id"].as_str().unwrap();
    let (status, _) = app.call(Method::DELETE, &format!("/api/keys/{kid}"), &u.auth.in_tenant(&b), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/me", &key).await.0, StatusCode::OK);
}

async fn second_start_creates_nothing(app: TestApp) {
    let sys = app.sysadmin().await;
    let (_, before) = app.get("/api/admin/tenants", &sys).await;
    // A second server on the same database and data directory.
    let again = Application::build(&app.config).await.expect("second start");
    assert!(again.bootstrap_token().is_none(), "the configured token is never printed");
    drop(again);
    let (_, after) = app.get("/api/admin/tenants", &sys).await;
    assert_eq!(before, after);
    assert_eq!(after["items"].as_array().unwrap().len(), 1);
    let (_, users) = app.get("/api/admin/users", &sys).await;
    assert_eq!(users["items"].as_array().unwrap().len(), 1);
    let id = users["items"][0]["id"].as_str().unwrap();
    let (_, tokens) = app.get(&format!("/api/admin/users/{id}/tokens"), &sys).await;
    assert_eq!(tokens.as_array().unwrap().len(), 1, "{tokens}");
    app.exchange(ADMIN_TOKEN).await;
}

async fn roles_are_assigned_with_guards(app: TestApp) {
    let t = app.create_tenant("T").await;
    let admin = app.user_in(&t, "admin").await;
    let plain = app.user_in(&t, "user").await;
    // An admin cannot make anyone sysadmin, nor create one.
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/admin/users/{}/role", plain.id),
            &admin.auth,
            Some(json!({"role": "sysadmin"})),
        )
        .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) =
        app.post("/api/admin/users", &admin.auth, json!({"display_name": "x", "role": "sysadmin"})).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = app.post("/api/admin/users", &admin.auth, json!({"display_name": "x", "role": "boss"})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "role");
    let (status, body) =
        app.post("/api/admin/users", &admin.auth, json!({"display_name": "x", "role": "user", "email": "nope"})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "email");
    let (status, _) = app
        .post("/api/admin/users", &admin.auth, json!({"display_name": "e", "role": "user", "email": "e@x.org"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app
        .post("/api/admin/users", &admin.auth, json!({"display_name": "f", "role": "user", "email": "E@X.org"}))
        .await;
    assert_error(status, &body, 409, "conflict");
    // Demote and promote within the tenant; the demoted user loses admin powers at once.
    let (status, body) = app
        .call(Method::PUT, &format!("/api/admin/users/{}/role", plain.id), &admin.auth, Some(json!({"role": "admin"})))
        .await;
    assert_eq!((status, body["role"].as_str()), (StatusCode::OK, Some("admin")));
    let (status, _) = app
        .call(Method::PUT, &format!("/api/admin/users/{}/role", admin.id), &plain.auth, Some(json!({"role": "viewer"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/api/admin/keys", &admin.auth).await;
    assert_error(status, &body, 403, "forbidden");
    // The last sysadmin cannot demote themselves.
    let sys = app.sysadmin().await;
    let me = app.get("/me", &sys).await.1;
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/admin/users/{}/role", me["id"].as_str().unwrap()),
            &sys,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_error(status, &body, 409, "conflict");
}

async fn rules_are_edited_per_tenant(app: TestApp) {
    let a = app.create_tenant("A").await;
    let b = app.create_tenant("B").await;
    let admin_a = app.user_in(&a, "admin").await;
    let viewer_a = app.user_in(&a, "viewer").await;
    let viewer_b = app.user_in(&b, "viewer").await;
    // Viewers may not create API keys once the rule says so, in A only.
    let rule = json!({"role": "viewer", "item": "data.system.ApiKey", "view": true, "read": "my", "create": "none", "update": "none", "delete": "none"});
    let (status, stored) = app.call(Method::PUT, "/api/admin/rbac/rules", &admin_a.auth, Some(rule.clone())).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let (status, _) = app.post("/api/keys", &viewer_a.auth, json!({"name": "k"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post("/api/keys", &viewer_b.auth, json!({"name": "k"})).await;
    assert_eq!(status, StatusCode::CREATED, "tenant B keeps its own rules");
    // Deleting the rule falls back to the prefix rule `data.system.*` (none for viewers).
    let id = stored["id"].as_str().unwrap();
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/admin/rbac/rules/{id}"), &admin_a.auth, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get("/api/keys", &viewer_a.auth).await.0, StatusCode::FORBIDDEN);

    // Validation names the field.
    for (field, bad) in [
        ("role", json!({"role": "sysadmin"})),
        ("item", json!({"item": "data.system.Usr"})),
        ("item", json!({"item": "nonsense"})),
        ("read", json!({"read": "all"})),
        ("create", json!({"create": "everything"})),
    ] {
        let mut body = rule.clone();
        body.as_object_mut().unwrap().extend(bad.as_object().unwrap().clone());
        let (status, resp) = app.call(Method::PUT, "/api/admin/rbac/rules", &admin_a.auth, Some(body)).await;
        assert_error(status, &resp, 400, "validation_failed");
        assert_eq!(resp["error"]["field"], field, "{resp}");
    }
    // An admin cannot lock the tenant's admins out of the rules.
    let lockout = json!({"role": "admin", "item": "data.system.RbacRule", "view": true, "read": "tenant", "create": "none", "update": "none", "delete": "none"});
    let (status, body) = app.call(Method::PUT, "/api/admin/rbac/rules", &admin_a.auth, Some(lockout)).await;
    assert_error(status, &body, 409, "conflict");
    let (_, rules) = app.get("/api/admin/rbac/rules", &admin_a.auth).await;
    // Removing `data.system.*` for admins is harmless (`data.*` still covers the rules)...
    let rule_id = |rules: &serde_json::Value, item: &str| {
        rules.as_array().unwrap().iter().find(|r| r["role"] == "admin" && r["item"] == item).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let system = rule_id(&rules, "data.system.*");
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/admin/rbac/rules/{system}"), &admin_a.auth, None).await.0,
        StatusCode::NO_CONTENT
    );
    // ...but removing the last rule that covers them would lock the admins out.
    let data = rule_id(&rules, "data.*");
    let (status, body) = app.call(Method::DELETE, &format!("/api/admin/rbac/rules/{data}"), &admin_a.auth, None).await;
    assert_error(status, &body, 409, "conflict");
    assert_eq!(app.get("/api/admin/rbac/rules", &admin_a.auth).await.0, StatusCode::OK);
    // A rule id of another tenant is not found.
    let (_, rules_b) = app.get("/api/admin/rbac/rules", &app.sysadmin().await.in_tenant(&b)).await;
    let rid = rules_b[0]["id"].as_str().unwrap();
    let (status, _) = app.call(Method::DELETE, &format!("/api/admin/rbac/rules/{rid}"), &admin_a.auth, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The catalogue of items.
    let (_, items) = app.get("/api/admin/rbac/items", &admin_a.auth).await;
    assert!(items.as_array().unwrap().iter().any(|i| i["item"] == "resource.aicore."));
}

async fn removing_a_user_ends_their_access_to_the_tenant(app: TestApp) {
    let a = app.create_tenant("A").await;
    let b = app.create_tenant("B").await;
    let admin = app.user_in(&a, "admin").await;
    let u = app.user_in(&a, "user").await;
    let sys_b = app.sysadmin().await.in_tenant(&b);
    app.call(Method::PUT, &format!("/api/admin/users/{}/role", u.id), &sys_b, Some(json!({"role": "user"}))).await;
    let (_, key) = app.post("/api/keys", &u.auth, json!({"name": "k"})).await;
    let key = Auth::bearer(key["key"].as_str().unwrap());
    assert_eq!(app.get("/me", &key).await.0, StatusCode::OK);

    let (status, _) = app.call(Method::DELETE, &format!("/api/admin/users/{}", u.id), &admin.auth, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&format!("/api/admin/users/{}", u.id), &admin.auth).await;
    assert_error(status, &body, 404, "not_found");
    // Their key for A is revoked; their session no longer reaches A, but still reaches B.
    let (status, body) = app.get("/me", &key).await;
    assert_error(status, &body, 401, "invalid_api_key");
    let (status, body) = app.get("/me", &u.auth).await;
    assert_error(status, &body, 403, "forbidden");
    assert_eq!(app.get("/me", &u.auth.in_tenant(&b)).await.0, StatusCode::OK);
    // Twice: not found. A sysadmin cannot be removed by an admin, nor the last sysadmin at all.
    let (status, _) = app.call(Method::DELETE, &format!("/api/admin/users/{}", u.id), &admin.auth, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let sys = app.sysadmin().await;
    let root = app.get("/me", &sys).await.1;
    let sys_id = root["id"].as_str().unwrap();
    let (status, body) = app.call(Method::DELETE, &format!("/api/admin/users/{sys_id}"), &sys, None).await;
    assert_error(status, &body, 409, "conflict");
    let (_, second) = app.post("/api/admin/users", &sys, json!({"display_name": "s2", "role": "sysadmin"})).await;
    let root_id = root["current_tenant_id"].as_str().unwrap();
    let s2 = second["id"].as_str().unwrap();
    let (status, body) =
        app.call(Method::DELETE, &format!("/api/admin/users/{s2}"), &admin.auth.in_tenant(&a), None).await;
    assert_error(status, &body, 404, "not_found");
    let admin_root = app.user_in(root_id, "admin").await;
    let (status, body) = app.call(Method::DELETE, &format!("/api/admin/users/{s2}"), &admin_root.auth, None).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, _) = app.call(Method::DELETE, &format!("/api/admin/users/{s2}"), &sys, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "with another sysadmin around, one can go");
}

/// An admin of A must not become an admin of B by issuing credentials for a member of A who
/// administers B, nor a sysadmin by issuing credentials for a sysadmin member of A.
async fn tenant_admin_credentials_stay_in_their_tenant(app: TestApp) {
    let a = app.create_tenant("A").await;
    let b = app.create_tenant("B").await;
    let admin_a = app.user_in(&a, "admin").await;
    let x = app.user_in(&b, "admin").await;
    let sys_a = app.sysadmin().await.in_tenant(&a);
    app.call(Method::PUT, &format!("/api/admin/users/{}/role", x.id), &sys_a, Some(json!({"role": "user"}))).await;

    let (status, issued) =
        app.post(&format!("/api/admin/users/{}/tokens", x.id), &admin_a.auth, json!({"name": "t"})).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    assert_eq!(issued["tenant_id"], a.as_str(), "a tenant admin's token is bound to the tenant");
    let pair = app.exchange(issued["static_token"].as_str().unwrap()).await;
    let as_x = Auth::bearer(pair["access_token"].as_str().unwrap());
    let (_, me) = app.get("/me", &as_x).await;
    assert_eq!((me["current_tenant_id"].as_str(), me["current_role"].as_str()), (Some(a.as_str()), Some("user")));
    let (status, body) = app.get("/api/admin/users", &as_x.in_tenant(&b)).await;
    assert_error(status, &body, 403, "forbidden");
    // The binding survives refresh.
    let (_, pair2) = app.post("/auth/refresh", &Auth::none(), json!({"refresh_token": pair["refresh_token"]})).await;
    let (status, _) = app.get("/me", &Auth::bearer(pair2["access_token"].as_str().unwrap()).in_tenant(&b)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // B's admin view of X's tokens shows only B's; A's token cannot be revoked from B.
    let (_, x_tokens_from_b) = app.get(&format!("/api/admin/users/{}/tokens", x.id), &x.auth).await;
    assert!(x_tokens_from_b.as_array().unwrap().iter().all(|t| t["tenant_id"] != a.as_str()), "{x_tokens_from_b}");
    let tid = issued["id"].as_str().unwrap();
    let (status, _) = app.call(Method::DELETE, &format!("/api/admin/users/{}/tokens/{tid}", x.id), &x.auth, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The sysadmin sees every token, bound or not.
    let (_, all) = app.get(&format!("/api/admin/users/{}/tokens", x.id), &sys_a).await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");

    // No credentials for a sysadmin from a tenant admin.
    let (_, s) = app.post("/api/admin/users", &sys_a, json!({"display_name": "s", "role": "sysadmin"})).await;
    let sid = s["id"].as_str().unwrap();
    let (status, body) = app.post(&format!("/api/admin/users/{sid}/keys"), &admin_a.auth, json!({"name": "k"})).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = app.post(&format!("/api/admin/users/{sid}/tokens"), &admin_a.auth, json!({"name": "t"})).await;
    assert_error(status, &body, 403, "forbidden");
}

async fn promotion_to_sysadmin_revokes_credentials_others_issued(app: TestApp) {
    let a = app.create_tenant("A").await;
    let admin_a = app.user_in(&a, "admin").await;
    let x = app.user_in(&a, "user").await; // logged in with a sysadmin-issued (unbound) token
    let (_, issued) = app.post(&format!("/api/admin/users/{}/tokens", x.id), &admin_a.auth, json!({"name": "t"})).await;
    let bound = issued["static_token"].as_str().unwrap().to_owned();
    let bound_session = Auth::bearer(app.exchange(&bound).await["access_token"].as_str().unwrap());
    let (_, key_by_admin) =
        app.post(&format!("/api/admin/users/{}/keys", x.id), &admin_a.auth, json!({"name": "k"})).await;
    let key_by_admin = Auth::bearer(key_by_admin["key"].as_str().unwrap());
    let (_, own_key) = app.post("/api/keys", &x.auth, json!({"name": "mine"})).await;
    let own_key = Auth::bearer(own_key["key"].as_str().unwrap());

    let sys = app.sysadmin().await.in_tenant(&a);
    let (status, _) = app
        .call(Method::PUT, &format!("/api/admin/users/{}/role", x.id), &sys, Some(json!({"role": "sysadmin"})))
        .await;
    assert_eq!(status, StatusCode::OK);

    // What the tenant admin issued (and so knows) is dead...
    let (status, body) = app.post("/auth/exchange", &Auth::none(), json!({"static_token": bound})).await;
    assert_error(status, &body, 401, "invalid_token");
    assert_eq!(app.get("/me", &bound_session).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/me", &key_by_admin).await.0, StatusCode::UNAUTHORIZED);
    // ...while the user's own credentials carry the new role.
    let (_, me) = app.get("/me", &own_key).await;
    assert_eq!(me["current_role"], "sysadmin", "{me}");
    assert_eq!(app.get("/me", &x.auth).await.1["current_role"], "sysadmin");
}
