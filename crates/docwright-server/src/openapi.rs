//! The OpenAPI 3.1 document's frame: info, tags, the bearer security scheme. Paths are added
//! from the route table when the router is built.

use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "docwright",
        description = "Self-hosted AI document gateway. Authenticate with `Authorization: Bearer <access token or dw_ API key>`; \
                       select a tenant with `X-Tenant-Id`. Errors are `{\"error\": {\"code\", \"message\", \"request_id\"}}`."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Log in with a static token; rotate and revoke sessions"),
        (name = "me", description = "Your profile and settings"),
        (name = "keys", description = "Your API keys"),
        (name = "admin", description = "Tenants, users, roles, tokens, the job queue"),
        (name = "rbac", description = "Permission rules of a tenant"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "openai", description = "OpenAI-compatible front door of the AI gateway"),
        (name = "files", description = "Uploaded files: upload, record, content, delete"),
        (name = "projects", description = "The projects tree (clients, projects, folders, documents), results about documents, full-text search"),
        (name = "collections", description = "Collections: named sets of files, their members, search within one; the context of chats and workflows"),
        (name = "ai", description = "Asynchronous AI requests (GigaOffice style): submit, status, result, cancel"),
        (name = "chats", description = "Chats with documents: answers streamed as events with citations, role prompts"),
        (name = "prompts", description = "The prompt library: categories, preset system prompts, classification of a request"),
        (name = "automations", description = "Automations: templates with placeholders, definitions on cron schedules, the actions catalog, runs and estimates"),
        (name = "sync", description = "CRM document sync: EspoCRM sources, signed webhooks, synced documents and forced resyncs"),
    ),
    components(schemas(crate::error::ErrorBody))
)]
pub(crate) struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An access token from /auth/exchange or /auth/refresh, or an API key (dw_...)"))
                    .build(),
            ),
        );
    }
}

/// Makes the generated document valid OpenAPI 3.1 and complete about errors, whatever each
/// handler's annotation says: every response has a description; path parameters are exactly
/// the template's (a missing one is declared, one not in the template is a query parameter);
/// operation ids are unique; and every operation documents the statuses the edge itself can
/// answer — 400, 404, 405, 413, 415 (with a body), 422, 429, 500 and 503, and 401 and 403 where
/// a credential is required — with the error body.
///
/// `providers`, when the document is a running server's, are the names its provider fields
/// take (`crate::schemas::components`).
pub(crate) fn conform(doc: utoipa::openapi::OpenApi, providers: Option<&[&str]>) -> serde_json::Value {
    let Ok(mut v) = serde_json::to_value(&doc) else { return serde_json::Value::Null };
    patch(&mut v);
    if let Some(schemas) = v.pointer_mut("/components/schemas").and_then(serde_json::Value::as_object_mut) {
        for (name, schema) in crate::schemas::components(providers) {
            schemas.insert(name.to_owned(), schema);
        }
        for (name, keywords) in crate::schemas::amendments() {
            if let (Some(schema), Some(keywords)) =
                (schemas.get_mut(name).and_then(serde_json::Value::as_object_mut), keywords.as_object())
            {
                schema.extend(keywords.clone());
            }
        }
    }
    v
}

fn reason(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "No content",
        "206" => "Partial content",
        "304" => "Not modified",
        "400" => "The request is not valid (validation_failed names the field)",
        "401" => "No valid credential (unauthenticated, invalid_token, token_expired, ...)",
        "402" => "The balance cannot cover the call (insufficient_balance)",
        "403" => "The credential may not do this (forbidden)",
        "404" => "Not found, or not yours to see",
        "405" => "The route does not take this method",
        "409" => "Conflict with the current state",
        "413" => "The body is larger than the limit (payload_too_large)",
        "415" => "The body is not of a type this route takes",
        "416" => "The range cannot be served",
        "422" => "Understood but cannot be done",
        "429" => "Too many requests (rate_limited; see Retry-After)",
        "500" => "Internal error; the request id identifies it in the log",
        "502" => "An upstream failed",
        "503" => "Unavailable for now (see Retry-After)",
        _ => "See the error body",
    }
}

fn patch(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    let mut seen_ids = std::collections::HashSet::new();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let template: Vec<String> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else { continue };
            // Parameters: the template's in the path, the rest in the query.
            let params = op.entry("parameters").or_insert_with(|| json!([]));
            if let Some(list) = params.as_array_mut() {
                for p in list.iter_mut() {
                    let in_path = p["in"] == "path";
                    let name = p["name"].as_str().unwrap_or_default().to_owned();
                    if in_path && !template.contains(&name) {
                        p["in"] = json!("query");
                        p["required"] = json!(false);
                    }
                }
                for name in &template {
                    if !list.iter().any(|p| p["in"] == "path" && p["name"] == name.as_str()) {
                        list.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
                    }
                }
                if list.is_empty() {
                    op.remove("parameters");
                }
            }
            // Unique operation ids: a repeated one takes its method and path.
            if let Some(id) = op.get("operationId").and_then(Value::as_str).map(str::to_owned)
                && !seen_ids.insert(id.clone())
            {
                let unique: String = format!("{id}_{method}_{path}")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                seen_ids.insert(unique.clone());
                op.insert("operationId".to_owned(), json!(unique));
            }
            let protected = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
            let has_body = op.contains_key("requestBody");
            let responses = op.entry("responses").or_insert_with(|| json!({}));
            let Some(responses) = responses.as_object_mut() else { continue };
            let mut edge = vec!["400", "404", "405", "413", "422", "429", "500", "503"];
            if has_body {
                edge.push("415");
            }
            if protected {
                edge.extend(["401", "403"]);
            }
            for status in edge {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| json!({"description": reason(status), "content": error.clone()}));
            }
            for (status, r) in responses.iter_mut() {
                if let Some(r) = r.as_object_mut() {
                    let missing = r.get("description").and_then(Value::as_str).is_none_or(str::is_empty);
                    if missing {
                        r.insert("description".to_owned(), json!(reason(status)));
                    }
                }
            }
        }
    }
}
