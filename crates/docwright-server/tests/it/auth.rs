//! `/auth/*`, access tokens, API keys.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, Auth, TestApp, assert_error};

both_databases!(
    exchange_and_me,
    bad_static_tokens_are_refused,
    refresh_rotates_and_reuse_revokes_the_family,
    logout_ends_the_session,
    revoking_a_static_token_ends_its_sessions,
    api_keys_authenticate_and_are_shown_once,
    api_key_expiry_is_validated,
    missing_or_malformed_credentials,
);

async fn exchange_and_me(app: TestApp) {
    let pair = app.exchange(ADMIN_TOKEN).await;
    assert_eq!(pair["token_type"], "bearer");
    assert_eq!(pair["expires_in"], 900);
    assert!(pair["refresh_token"].as_str().unwrap().starts_with("dwrt_"));
    let auth = Auth::bearer(pair["access_token"].as_str().unwrap());
    let (status, me) = app.get("/me", &auth).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["current_role"], "sysadmin");
    assert_eq!(me["tenants"][0]["tenant_name"], "ROOT");
    assert_eq!(me["settings"]["model_profile"], "simple");

    let (status, s) = app
        .call(
            Method::PATCH,
            "/me/settings",
            &auth,
            Some(json!({"model_profile": "complex", "language": "de", "selected_role_prompt_id": "engineer"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let (_, me) = app.get("/me", &auth).await;
    assert_eq!(
        me["settings"],
        json!({"model_profile": "complex", "language": "de", "selected_role_prompt_id": "engineer", "provider_keys_set": []})
    );
    // Absent fields stay; null clears.
    let (_, s) = app.call(Method::PATCH, "/me/settings", &auth, Some(json!({"selected_role_prompt_id": null}))).await;
    assert_eq!(
        s,
        json!({"model_profile": "complex", "language": "de", "selected_role_prompt_id": null, "provider_keys_set": []})
    );
    let (status, body) = app.call(Method::PATCH, "/me/settings", &auth, Some(json!({"language": "es"}))).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "language");
    let (status, body) = app.call(Method::PATCH, "/me/settings", &auth, Some(json!({"model_profile": "huge"}))).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "model_profile");
}

async fn bad_static_tokens_are_refused(app: TestApp) {
    let (status, body) = app.post("/auth/exchange", &Auth::none(), json!({"static_token": "dwst_nope"})).await;
    assert_error(status, &body, 401, "invalid_token");
    let (status, body) = app.post("/auth/exchange", &Auth::none(), json!({"static_token": ""})).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app.post("/auth/exchange", &Auth::none(), json!({})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "static_token");
}

async fn refresh_rotates_and_reuse_revokes_the_family(app: TestApp) {
    let first = app.exchange(ADMIN_TOKEN).await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = app.post("/auth/refresh", &Auth::none(), json!({"refresh_token": r1})).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    let a2 = Auth::bearer(second["access_token"].as_str().unwrap());
    assert_eq!(app.get("/me", &a2).await.0, StatusCode::OK);

    // Replaying r1: the family is revoked; r2 and every access token of the session die.
    let (status, body) = app.post("/auth/refresh", &Auth::none(), json!({"refresh_token": r1})).await;
    assert_error(status, &body, 401, "refresh_token_reused");
    let (status, body) = app.post("/auth/refresh", &Auth::none(), json!({"refresh_token": r2})).await;
    assert_error(status, &body, 401, "session_revoked");
    let (status, body) = app.get("/me", &a2).await;
    assert_error(status, &body, 401, "session_revoked");
    let (status, body) = app.get("/me", &Auth::bearer(first["access_token"].as_str().unwrap())).await;
    assert_error(status, &body, 401, "session_revoked");

    // Other sessions of the same user are untouched.
    let other = app.exchange(ADMIN_TOKEN).await;
    assert_eq!(app.get("/me", &Auth::bearer(other["access_token"].as_str().unwrap())).await.0, StatusCode::OK);

    let (status, body) = app.post("/auth/refresh", &Auth::none(), json!({"refresh_token": "dwrt_unknown"})).await;
    assert_error(status, &body, 401, "invalid_token");
}

async fn logout_ends_the_session(app: TestApp) {
    let pair = app.exchange(ADMIN_TOKEN).await;
    let auth = Auth::bearer(pair["access_token"].as_str().unwrap());
    let (status, body) = app.post("/auth/logout", &Auth::none(), json!({"refresh_token": pair["refresh_token"]})).await;
    assert_eq!((status, &body["revoked"]), (StatusCode::OK, &json!(true)));
    let (status, body) = app.get("/me", &auth).await;
    assert_error(status, &body, 401, "session_revoked");
    let (status, body) =
        app.post("/auth/refresh", &Auth::none(), json!({"refresh_token": pair["refresh_token"]})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Logout with the access token alone, and an empty body.
    let pair = app.exchange(ADMIN_TOKEN).await;
    let auth = Auth::bearer(pair["access_token"].as_str().unwrap());
    let resp = app.client.post(app.url("/auth/logout")).bearer_auth(auth.bearer.clone().unwrap()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.get("/me", &auth).await.0, StatusCode::UNAUTHORIZED);

    // Neither refresh token nor access token: the request names what is missing.
    let resp = app.client.post(app.url("/auth/logout")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

async fn revoking_a_static_token_ends_its_sessions(app: TestApp) {
    let root = app.get("/me", &app.sysadmin().await).await.1["current_tenant_id"].as_str().unwrap().to_owned();
    let u = app.user_in(&root, "user").await;
    let sys = app.sysadmin().await;
    let (_, tokens) = app.get(&format!("/api/admin/users/{}/tokens", u.id), &sys).await;
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    assert!(tokens[0].get("static_token").is_none(), "listings never show the secret");
    let tid = tokens[0]["id"].as_str().unwrap();
    let (status, _) = app.call(Method::DELETE, &format!("/api/admin/users/{}/tokens/{tid}", u.id), &sys, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get("/me", &u.auth).await;
    assert_error(status, &body, 401, "session_revoked");
    let (status, body) = app.post("/auth/exchange", &Auth::none(), json!({"static_token": u.static_token})).await;
    assert_error(status, &body, 401, "invalid_token");
    let (status, body) = app.call(Method::DELETE, &format!("/api/admin/users/{}/tokens/{tid}", u.id), &sys, None).await;
    assert_error(status, &body, 404, "not_found");
}

async fn api_keys_authenticate_and_are_shown_once(app: TestApp) {
    let sys = app.sysadmin().await;
    let (status, created) = app.post("/api/keys", &sys, json!({"name": "ci"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("dw_"));
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));

    let by_key = Auth::bearer(&key);
    let (status, me) = app.get("/me", &by_key).await;
    assert_eq!(status, StatusCode::OK, "{me}");

    let (_, list) = app.get("/api/keys", &sys).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&key), "the key is shown only at creation");

    let id = created["id"].as_str().unwrap();
    assert_eq!(app.call(Method::DELETE, &format!("/api/keys/{id}"), &sys, None).await.0, StatusCode::NO_CONTENT);
    let (status, body) = app.get("/me", &by_key).await;
    assert_error(status, &body, 401, "invalid_api_key");
    let (status, body) = app.get("/me", &Auth::bearer("dw_not_a_key")).await;
    assert_error(status, &body, 401, "invalid_api_key");
}

async fn api_key_expiry_is_validated(app: TestApp) {
    let sys = app.sysadmin().await;
    let (status, body) =
        app.post("/api/keys", &sys, json!({"name": "old", "expires_at": "2020-01-01T00:00:00Z"})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "expires_at");
    let (status, body) = app.post("/api/keys", &sys, json!({"name": "x", "expires_at": "tomorrow"})).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) =
        app.post("/api/keys", &sys, json!({"name": "soon", "expires_at": "2999-01-01T00:00:00Z"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["expires_at"], "2999-01-01T00:00:00Z");
}

async fn missing_or_malformed_credentials(app: TestApp) {
    let (status, body) = app.get("/me", &Auth::none()).await;
    assert_error(status, &body, 401, "missing_credentials");
    let resp = app.client.get(app.url("/me")).header("authorization", "Basic abc").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let (status, body) = app.get("/me", &Auth::bearer("eyJhbGciOiJIUzI1NiJ9.e30.forged")).await;
    assert_error(status, &body, 401, "invalid_token");
}
