//! The RBAC matrix (SPEC P5): every declared route × every role × the target in the caller's
//! own tenant, in another tenant, and the caller naming a tenant they do not belong to. Each
//! case gets fresh target objects, so destructive routes do not disturb later cases.
//!
//! The table must list exactly the routes the server declares: a new route without a row here
//! fails `the_table_covers_every_declared_route`.

use std::collections::BTreeSet;

use docwright_server::guard::Access;
use docwright_server::routes::route_table;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp};

/// Which fresh object a route's path needs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    None,
    Tenant,
    User,
    Key,
    StaticToken,
    Rule,
    /// The built-in provider (installation-wide, the same in every tenant).
    Provider,
    /// A built-in model (installation-wide).
    Model,
    /// The caller's tenant's key for the built-in provider: tenant keys belong to the tenant a
    /// request acts in, so the other-tenant side targets the caller's tenant too.
    TenantKey,
    /// A billing notice of the target tenant.
    Notice,
    /// A file of the target tenant, uploaded by its sysadmin (so users, at level `my`, do not
    /// own it).
    File,
    /// The image part of an extracted image file of the target tenant.
    Part,
    /// No object: the request is a multipart upload of a small file instead of a JSON body.
    Upload,
    /// A client of the target tenant (the top of its projects tree).
    Client,
    /// A project of that client.
    Project,
    /// A folder of that project.
    Folder,
    /// A document of that project, placing another file of the tenant.
    Document,
    /// No object: a search for a word of the fixture files (the path gets its query).
    Search,
    /// A collection of the target tenant holding the fixture's file.
    Collection,
    /// That collection and its file (`{file_id}`).
    CollectionFile,
    /// That collection, searched for a word of its file (the path gets its query).
    CollectionSearch,
    /// An asynchronous AI request of the fixture's user, queued for an hour from now (so it
    /// stays queued whatever the workers do).
    AiRequest,
    /// The job of that request.
    Job,
    /// A workflow of the fixture's user, queued for an hour from now.
    Workflow,
    /// A workflow of the fixture's user that has ended (its event stream ends at once), run
    /// with `debug_trace`.
    EndedWorkflow,
    /// A chat of the fixture's user with one answered turn (its event stream ends at once).
    Chat,
    /// A role prompt of the target tenant.
    RolePrompt,
    /// A prompt library category of the target tenant, without presets.
    PromptCategory,
    /// A prompt library preset of the target tenant (in the seeded category `analysis`).
    PromptPreset,
    /// An automation template of the fixture's user.
    Template,
    /// An automation definition of the fixture's user (inactive, its placeholder filled).
    Automation,
    /// A CRM sync source of the target tenant (its CRM unreachable), and a record id
    /// (`{entity_id}`).
    SyncSource,
}

/// Expected statuses for [sysadmin, admin, user, viewer].
type Row = [u16; 4];

struct Case {
    method: Method,
    path: &'static str,
    target: Target,
    body: fn() -> Option<Value>,
    /// Target in the tenant the caller acts in.
    own: Row,
    /// Target in another tenant (caller still acting in its own).
    other: Row,
}

fn none() -> Option<Value> {
    None
}

/// A body with a fresh `name`.
fn named() -> Option<Value> {
    Some(json!({"name": uuid::Uuid::now_v7().to_string()}))
}

fn table() -> Vec<Case> {
    use Target as T;
    let m = |method: Method, path, target, body, own, other| Case { method, path, target, body, own, other };
    vec![
        m(Method::GET, "/me", T::None, none, [200; 4], [200; 4]),
        m(Method::PATCH, "/me/settings", T::None, || Some(json!({"language": "de"})), [200; 4], [200; 4]),
        m(Method::POST, "/api/keys", T::None, || Some(json!({"name": "k"})), [201; 4], [201; 4]),
        m(Method::GET, "/api/keys", T::None, none, [200; 4], [200; 4]),
        m(Method::DELETE, "/api/keys/{id}", T::Key, none, [204, 204, 404, 404], [404; 4]),
        m(
            Method::POST,
            "/api/admin/tenants",
            T::None,
            || Some(json!({"name": uuid::Uuid::now_v7().to_string()})),
            [201, 403, 403, 403],
            [201, 403, 403, 403],
        ),
        m(Method::GET, "/api/admin/tenants", T::None, none, [200; 4], [200; 4]),
        m(Method::GET, "/api/admin/tenants/{id}", T::Tenant, none, [200; 4], [200, 404, 404, 404]),
        m(
            Method::POST,
            "/api/admin/users",
            T::None,
            || Some(json!({"display_name": "n", "role": "user"})),
            [201, 201, 403, 403],
            [201, 201, 403, 403],
        ),
        m(Method::GET, "/api/admin/users", T::None, none, [200; 4], [200; 4]),
        m(Method::GET, "/api/admin/users/{id}", T::User, none, [200, 200, 404, 404], [404; 4]),
        m(Method::DELETE, "/api/admin/users/{id}", T::User, none, [204, 204, 403, 403], [404, 404, 403, 403]),
        m(
            Method::PUT,
            "/api/admin/users/{id}/role",
            T::User,
            || Some(json!({"role": "viewer"})),
            [200, 200, 403, 403],
            [200, 404, 403, 403],
        ),
        m(
            Method::POST,
            "/api/admin/users/{id}/tokens",
            T::User,
            || Some(json!({"name": "t"})),
            [201, 201, 403, 403],
            [404, 404, 403, 403],
        ),
        m(Method::GET, "/api/admin/users/{id}/tokens", T::User, none, [200, 200, 403, 403], [404, 404, 403, 403]),
        m(
            Method::DELETE,
            "/api/admin/users/{id}/tokens/{token_id}",
            T::StaticToken,
            none,
            [204, 204, 403, 403],
            [404, 404, 403, 403],
        ),
        m(
            Method::POST,
            "/api/admin/users/{id}/keys",
            T::User,
            || Some(json!({"name": "k"})),
            [201, 201, 403, 403],
            [404, 404, 403, 403],
        ),
        m(Method::GET, "/api/admin/keys", T::None, none, [200, 200, 403, 403], [200, 200, 403, 403]),
        m(Method::GET, "/api/admin/rbac/rules", T::None, none, [200, 200, 403, 403], [200, 200, 403, 403]),
        m(Method::GET, "/api/admin/rbac/items", T::None, none, [200, 200, 403, 403], [200, 200, 403, 403]),
        m(
            Method::PUT,
            "/api/admin/rbac/rules",
            T::None,
            || {
                Some(
                    json!({"role": "viewer", "item": "resource.aicore.matrix", "view": true, "read": "none", "create": "none", "update": "none", "delete": "none"}),
                )
            },
            [200, 200, 403, 403],
            [200, 200, 403, 403],
        ),
        m(Method::DELETE, "/api/admin/rbac/rules/{id}", T::Rule, none, [204, 204, 403, 403], [404, 404, 403, 403]),
        m(Method::GET, "/api/admin/ai/models", T::None, none, [200, 200, 403, 403], [200, 200, 403, 403]),
        m(Method::GET, "/api/admin/ai/providers", T::None, none, [200, 200, 403, 403], [200, 200, 403, 403]),
        m(
            Method::POST,
            "/api/admin/ai/providers/{name}/test",
            T::Provider,
            none,
            [200, 200, 403, 403],
            [200, 200, 403, 403],
        ),
        m(Method::GET, "/api/admin/ai/keys", T::None, none, [200, 200, 403, 403], [200, 200, 403, 403]),
        m(
            Method::PUT,
            "/api/admin/ai/keys/{provider}",
            T::TenantKey,
            || Some(json!({"key": "sk-matrix"})),
            [204, 204, 403, 403],
            [204, 204, 403, 403],
        ),
        m(
            Method::DELETE,
            "/api/admin/ai/keys/{provider}",
            T::TenantKey,
            none,
            [204, 204, 403, 403],
            [204, 204, 403, 403],
        ),
        m(Method::GET, "/v1/models", T::None, none, [200, 200, 200, 403], [200, 200, 200, 403]),
        m(Method::GET, "/api/metrics", T::None, none, [200, 200, 403, 403], [200, 200, 403, 403]),
        m(Method::GET, "/v1/models/{model}", T::Model, none, [200, 200, 200, 403], [200, 200, 200, 403]),
        m(
            Method::POST,
            "/v1/chat/completions",
            T::None,
            || Some(json!({"model": "dryrun-simple", "messages": [{"role": "user", "content": "hi"}]})),
            [200, 200, 200, 403],
            [200, 200, 200, 403],
        ),
        m(
            Method::POST,
            "/v1/embeddings",
            T::None,
            || Some(json!({"model": "dryrun-embedding", "input": ["hi"]})),
            [200, 200, 200, 403],
            [200, 200, 200, 403],
        ),
        m(
            Method::POST,
            "/v1/responses",
            T::None,
            || Some(json!({"model": "dryrun-simple", "input": "hi"})),
            [200, 200, 200, 403],
            [200, 200, 200, 403],
        ),
        // Billing: everyone reads their own; admins their tenant's; money and models move by sysadmins.
        m(Method::GET, "/api/billing/balance", T::None, none, [200; 4], [200; 4]),
        m(Method::GET, "/api/billing/balance/{tenant_id}", T::Tenant, none, [200; 4], [404; 4]),
        m(Method::GET, "/api/billing/transactions", T::None, none, [200; 4], [200; 4]),
        m(Method::GET, "/api/billing/statistics/{tenant_id}/chart", T::Tenant, none, [200; 4], [200, 404, 404, 404]),
        m(Method::GET, "/api/billing/providers", T::None, none, [200; 4], [200; 4]),
        m(
            Method::GET,
            "/api/admin/billing/tenants/{id}/settings",
            T::Tenant,
            none,
            [200, 200, 403, 403],
            [200, 404, 403, 403],
        ),
        m(
            Method::PUT,
            "/api/admin/billing/tenants/{id}/settings",
            T::Tenant,
            || Some(json!({"billing_model": "prepay_tenant", "currency": "EUR"})),
            [200, 403, 403, 403],
            [200, 403, 403, 403],
        ),
        m(
            Method::POST,
            "/api/admin/billing/tenants/{id}/credit",
            T::Tenant,
            || Some(json!({"amount": "5.00"})),
            [200, 403, 403, 403],
            [200, 403, 403, 403],
        ),
        m(
            Method::GET,
            "/api/admin/billing/tenants/{id}/accounts",
            T::Tenant,
            none,
            [200, 200, 403, 403],
            [200, 404, 403, 403],
        ),
        m(
            Method::GET,
            "/api/admin/billing/tenants/{id}/transactions",
            T::Tenant,
            none,
            [200, 200, 403, 403],
            [200, 404, 403, 403],
        ),
        m(
            Method::GET,
            "/api/admin/billing/tenants/{id}/export",
            T::Tenant,
            none,
            [200, 200, 403, 403],
            [200, 404, 403, 403],
        ),
        m(Method::GET, "/api/admin/billing/verify", T::None, none, [200, 200, 403, 403], [200, 200, 403, 403]),
        m(Method::GET, "/api/billing/notices", T::None, none, [200, 200, 403, 403], [200, 200, 403, 403]),
        m(Method::GET, "/api/billing/notices/{id}", T::Notice, none, [200, 200, 403, 403], [404, 404, 403, 403]),
        // Files: admins and users read the tenant's, users delete their own, viewers only read.
        m(Method::POST, "/files/upload", T::Upload, none, [201, 201, 201, 403], [201, 201, 201, 403]),
        m(Method::GET, "/files/{id}", T::File, none, [200; 4], [404; 4]),
        m(Method::GET, "/files/{id}/content", T::File, none, [200; 4], [404; 4]),
        m(Method::GET, "/files/{id}/parts", T::File, none, [200; 4], [404; 4]),
        m(Method::GET, "/files/{id}/thumbnail", T::File, none, [200; 4], [404; 4]),
        m(Method::GET, "/files/{id}/parts/{part_id}/content", T::Part, none, [200; 4], [404; 4]),
        m(Method::POST, "/files/{id}/extract", T::File, none, [202, 202, 404, 403], [404, 404, 404, 403]),
        m(Method::DELETE, "/files/{id}", T::File, none, [204, 204, 404, 403], [404, 404, 404, 403]),
        // The projects tree: users build it, only admins delete from it, viewers read. In a
        // request body, `{client}` and `{file}` stand for the fixture's.
        m(Method::POST, "/projects/clients", T::None, named, [201, 201, 201, 403], [201, 201, 201, 403]),
        m(Method::GET, "/projects/clients", T::None, none, [200; 4], [200; 4]),
        m(Method::GET, "/projects/clients/{id}", T::Client, none, [200; 4], [404; 4]),
        m(Method::PATCH, "/projects/clients/{id}", T::Client, named, [200, 200, 200, 403], [404, 404, 404, 403]),
        m(Method::DELETE, "/projects/clients/{id}", T::Client, none, [204, 204, 403, 403], [404, 404, 403, 403]),
        m(
            Method::POST,
            "/projects",
            T::None,
            || Some(json!({"client_id": "{client}", "name": uuid::Uuid::now_v7().to_string()})),
            [201, 201, 201, 403],
            [404, 404, 404, 403],
        ),
        m(Method::GET, "/projects/{id}", T::Project, none, [200; 4], [404; 4]),
        m(Method::PATCH, "/projects/{id}", T::Project, named, [200, 200, 200, 403], [404, 404, 404, 403]),
        m(Method::DELETE, "/projects/{id}", T::Project, none, [204, 204, 403, 403], [404, 404, 403, 403]),
        m(Method::POST, "/projects/{id}/folders", T::Project, named, [201, 201, 201, 403], [404, 404, 404, 403]),
        m(Method::PATCH, "/projects/folders/{id}", T::Folder, named, [200, 200, 200, 403], [404, 404, 404, 403]),
        m(Method::DELETE, "/projects/folders/{id}", T::Folder, none, [204, 204, 403, 403], [404, 404, 403, 403]),
        m(
            Method::POST,
            "/projects/{id}/documents",
            T::Project,
            || Some(json!({"file_id": "{file}"})),
            [201, 201, 201, 403],
            [404, 404, 404, 403],
        ),
        m(
            Method::PATCH,
            "/projects/documents/{id}",
            T::Document,
            || Some(json!({"title": "retitled"})),
            [200, 200, 200, 403],
            [404, 404, 404, 403],
        ),
        m(Method::DELETE, "/projects/documents/{id}", T::Document, none, [204, 204, 403, 403], [404, 404, 403, 403]),
        m(Method::GET, "/projects/documents/{id}/results", T::Document, none, [200; 4], [404; 4]),
        m(Method::GET, "/projects/tree", T::None, none, [200; 4], [200; 4]),
        m(Method::GET, "/projects/search", T::Search, none, [200; 4], [200; 4]),
        // Collections are shared like the tree: users build them, only admins delete them,
        // viewers read. The fixture's file is in the collection already (adding it: 200).
        m(Method::GET, "/api/collections", T::None, none, [200; 4], [200; 4]),
        m(Method::POST, "/api/collections", T::None, named, [201, 201, 201, 403], [201, 201, 201, 403]),
        m(Method::GET, "/api/collections/{id}", T::Collection, none, [200; 4], [404; 4]),
        m(Method::PATCH, "/api/collections/{id}", T::Collection, named, [200, 200, 200, 403], [404, 404, 404, 403]),
        m(Method::DELETE, "/api/collections/{id}", T::Collection, none, [204, 204, 403, 403], [404, 404, 403, 403]),
        m(Method::GET, "/api/collections/{id}/files", T::Collection, none, [200; 4], [404; 4]),
        m(
            Method::POST,
            "/api/collections/{id}/files",
            T::Collection,
            || Some(json!({"file_id": "{file}"})),
            [200, 200, 200, 403],
            [404, 404, 404, 403],
        ),
        m(
            Method::DELETE,
            "/api/collections/{id}/files/{file_id}",
            T::CollectionFile,
            none,
            [204, 204, 204, 403],
            [404, 404, 404, 403],
        ),
        m(Method::GET, "/api/collections/{id}/search", T::CollectionSearch, none, [200; 4], [404; 4]),
        // Asynchronous AI requests: users submit and follow their own, admins the tenant's,
        // viewers nothing (they may not use AI).
        m(
            Method::POST,
            "/api/ai/process",
            T::None,
            || Some(json!({"query_text": "matrix"})),
            [202, 202, 202, 403],
            [202, 202, 202, 403],
        ),
        m(Method::GET, "/api/ai/status/{id}", T::AiRequest, none, [200, 200, 404, 403], [404, 404, 404, 403]),
        m(Method::GET, "/api/ai/result/{id}", T::AiRequest, none, [409, 409, 404, 403], [404, 404, 404, 403]),
        m(Method::POST, "/api/ai/cancel/{id}", T::AiRequest, none, [200, 200, 404, 403], [404, 404, 404, 403]),
        // The queue: a tenant's admins act on its jobs, sysadmins on every tenant's.
        m(Method::GET, "/api/admin/jobs", T::None, none, [200, 200, 403, 403], [200, 200, 403, 403]),
        m(Method::POST, "/api/admin/jobs/{id}/retry", T::Job, none, [200, 200, 403, 403], [200, 404, 403, 403]),
        m(Method::POST, "/api/admin/jobs/{id}/cancel", T::Job, none, [200, 200, 403, 403], [200, 404, 403, 403]),
        // Workflows: users submit and follow their own, admins the tenant's, viewers nothing.
        m(
            Method::POST,
            "/api/workflows",
            T::None,
            || Some(json!({"prompt": "matrix", "output_format": "txt"})),
            [202, 202, 202, 403],
            [202, 202, 202, 403],
        ),
        m(Method::GET, "/api/workflows", T::None, none, [200, 200, 200, 403], [200, 200, 200, 403]),
        m(Method::GET, "/api/workflows/{id}", T::Workflow, none, [200, 200, 404, 403], [404, 404, 404, 403]),
        m(Method::POST, "/api/workflows/{id}/cancel", T::Workflow, none, [200, 200, 404, 403], [404, 404, 404, 403]),
        m(
            Method::GET,
            "/api/workflows/{id}/events",
            T::EndedWorkflow,
            none,
            [200, 200, 404, 403],
            [404, 404, 404, 403],
        ),
        m(Method::GET, "/api/workflows/{id}/log", T::EndedWorkflow, none, [200, 200, 404, 403], [404, 404, 404, 403]),
        m(Method::GET, "/api/workflows/{id}/debug", T::EndedWorkflow, none, [200, 200, 404, 403], [404, 404, 404, 403]),
        // Chats: users chat in their own, admins reach the tenant's, viewers nothing (no AI).
        m(
            Method::POST,
            "/chats",
            T::None,
            || Some(json!({"title": "matrix"})),
            [201, 201, 201, 403],
            [201, 201, 201, 403],
        ),
        m(Method::GET, "/chats", T::None, none, [200, 200, 200, 403], [200, 200, 200, 403]),
        m(Method::GET, "/chats/{id}", T::Chat, none, [200, 200, 404, 403], [404, 404, 404, 403]),
        m(Method::DELETE, "/chats/{id}", T::Chat, none, [204, 204, 404, 403], [404, 404, 404, 403]),
        m(
            Method::POST,
            "/chats/{id}/messages",
            T::Chat,
            || Some(json!({"message": "matrix"})),
            [200, 200, 404, 403],
            [404, 404, 404, 403],
        ),
        m(Method::GET, "/chats/{id}/events", T::Chat, none, [200, 200, 404, 403], [404, 404, 404, 403]),
        m(Method::GET, "/chats/{id}/turns/{turn_id}/log", T::Chat, none, [200, 200, 404, 403], [404, 404, 404, 403]),
        // Role prompts: everyone reads them; the tenant's admins write the tenant's.
        m(Method::GET, "/prompts/roles", T::None, none, [200; 4], [200; 4]),
        m(Method::GET, "/prompts/roles/{id}", T::RolePrompt, none, [200; 4], [404; 4]),
        m(
            Method::POST,
            "/prompts/roles",
            T::None,
            || Some(json!({"names": {"en": "Matrix"}, "prompt": "You test."})),
            [201, 201, 403, 403],
            [201, 201, 403, 403],
        ),
        m(
            Method::PUT,
            "/prompts/roles/{id}",
            T::RolePrompt,
            || Some(json!({"names": {"en": "Matrix 2"}, "prompt": "You test again."})),
            [200, 200, 403, 403],
            [404, 404, 403, 403],
        ),
        m(Method::DELETE, "/prompts/roles/{id}", T::RolePrompt, none, [204, 204, 403, 403], [404, 404, 403, 403]),
        // The prompt library: everyone reads it and classifies; the tenant's admins write the
        // tenant's (a viewer's classification counts keywords: no AI for viewers).
        m(Method::GET, "/api/prompts/categories", T::None, none, [200; 4], [200; 4]),
        m(Method::POST, "/api/prompts/categories", T::None, category_body, [201, 201, 403, 403], [201, 201, 403, 403]),
        m(
            Method::PUT,
            "/api/prompts/categories/{id}",
            T::PromptCategory,
            || Some(json!({"names": {"en": "Matrix 2"}})),
            [200, 200, 403, 403],
            [404, 404, 403, 403],
        ),
        m(
            Method::DELETE,
            "/api/prompts/categories/{id}",
            T::PromptCategory,
            none,
            [204, 204, 403, 403],
            [404, 404, 403, 403],
        ),
        m(Method::GET, "/api/prompts/presets", T::None, none, [200; 4], [200; 4]),
        m(Method::GET, "/api/prompts/presets/{id}", T::PromptPreset, none, [200; 4], [404; 4]),
        m(Method::POST, "/api/prompts/presets", T::None, preset_body, [201, 201, 403, 403], [201, 201, 403, 403]),
        m(
            Method::PUT,
            "/api/prompts/presets/{id}",
            T::PromptPreset,
            preset_body,
            [200, 200, 403, 403],
            [404, 404, 403, 403],
        ),
        m(
            Method::DELETE,
            "/api/prompts/presets/{id}",
            T::PromptPreset,
            none,
            [204, 204, 403, 403],
            [404, 404, 403, 403],
        ),
        m(
            Method::POST,
            "/api/prompts/classify",
            T::None,
            || Some(json!({"text": "Analyse the sales"})),
            [200; 4],
            [200; 4],
        ),
        // Automation templates (the seed's bootstrap): everyone manages their own at level `my`,
        // viewers read their own; the starter set is read by all.
        m(Method::GET, "/api/automation-templates", T::None, none, [200; 4], [200; 4]),
        m(Method::GET, "/api/automation-templates/{id}", T::Template, none, [200, 404, 404, 404], [404; 4]),
        m(
            Method::POST,
            "/api/automation-templates",
            T::None,
            template_body,
            [201, 201, 201, 403],
            [201, 201, 201, 403],
        ),
        m(
            Method::PUT,
            "/api/automation-templates/{id}",
            T::Template,
            template_body,
            [200, 404, 404, 403],
            [404, 404, 404, 403],
        ),
        m(
            Method::DELETE,
            "/api/automation-templates/{id}",
            T::Template,
            none,
            [204, 404, 404, 403],
            [404, 404, 404, 403],
        ),
        // Automation definitions run workflows: the levels of workflows.
        m(Method::GET, "/api/automations/actions", T::None, none, [200, 200, 200, 403], [200, 200, 200, 403]),
        m(Method::GET, "/api/automations", T::None, none, [200, 200, 200, 403], [200, 200, 200, 403]),
        m(Method::POST, "/api/automations", T::None, automation_body, [201, 201, 201, 403], [201, 201, 201, 403]),
        m(Method::GET, "/api/automations/{id}", T::Automation, none, [200, 200, 404, 403], [404, 404, 404, 403]),
        m(
            Method::PUT,
            "/api/automations/{id}",
            T::Automation,
            || Some(json!({"label": "matrix 2"})),
            [200, 200, 404, 403],
            [404, 404, 404, 403],
        ),
        m(Method::DELETE, "/api/automations/{id}", T::Automation, none, [204, 204, 404, 403], [404, 404, 404, 403]),
        m(
            Method::POST,
            "/api/automations/{id}/save-as-template",
            T::Automation,
            || Some(json!({})),
            [201, 201, 404, 403],
            [404, 404, 404, 403],
        ),
        m(Method::POST, "/api/automations/{id}/run", T::Automation, none, [202, 202, 404, 403], [404, 404, 404, 403]),
        m(
            Method::PUT,
            "/api/admin/tenants/{id}/timezone",
            T::Tenant,
            || Some(json!({"timezone": "Europe/Zurich"})),
            [200, 200, 403, 403],
            [200, 404, 403, 403],
        ),
        m(
            Method::GET,
            "/api/automations/{id}/estimate",
            T::Automation,
            none,
            [200, 200, 404, 403],
            [404, 404, 404, 403],
        ),
        // CRM sync sources are administration (`data.system.SyncSource`).
        m(Method::GET, "/api/admin/sync/sources", T::None, none, [200, 200, 403, 403], [200, 200, 403, 403]),
        m(
            Method::POST,
            "/api/admin/sync/sources",
            T::None,
            sync_source_body,
            [201, 201, 403, 403],
            [201, 201, 403, 403],
        ),
        m(Method::GET, "/api/admin/sync/sources/{id}", T::SyncSource, none, [200, 200, 403, 403], [404, 404, 403, 403]),
        m(
            Method::PATCH,
            "/api/admin/sync/sources/{id}",
            T::SyncSource,
            named,
            [200, 200, 403, 403],
            [404, 404, 403, 403],
        ),
        m(
            Method::DELETE,
            "/api/admin/sync/sources/{id}",
            T::SyncSource,
            none,
            [204, 204, 403, 403],
            [404, 404, 403, 403],
        ),
        m(Method::GET, "/api/sync/{source}/documents", T::SyncSource, none, [200, 200, 403, 403], [404, 404, 403, 403]),
        m(
            Method::POST,
            "/api/sync/{source}/resync/{entity_id}",
            T::SyncSource,
            none,
            [202, 202, 403, 403],
            [404, 404, 403, 403],
        ),
    ]
}

/// A template with one placeholder.
const MATRIX_TEMPLATE: &str = r#"{"tasks":[{"action_list":[{"exec_method":"ai","exec_action":"process","exec_parameters":{"prompt":"matrix {{KEY:topic}}","output_format":"txt"}}]}]}"#;

fn sync_source_body() -> Option<Value> {
    Some(json!({"name": "CRM", "base_url": "http://127.0.0.1:9", "api_key": "k", "webhook_secret": "s"}))
}

fn template_body() -> Option<Value> {
    Some(json!({"label": {"en": "Matrix"}, "template": MATRIX_TEMPLATE}))
}

fn automation_body() -> Option<Value> {
    Some(json!({"label": "Matrix", "template": MATRIX_TEMPLATE, "placeholders": {"topic": "x"}}))
}

/// A prompt category with a fresh key.
fn category_body() -> Option<Value> {
    Some(json!({"key": format!("m{}", uuid::Uuid::now_v7().simple()), "names": {"en": "Matrix"}}))
}

fn preset_body() -> Option<Value> {
    Some(json!({"category": "analysis", "names": {"en": "Matrix"}, "prompts": {"en": "You test."}}))
}

const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/api/health"),
    ("GET", "/api/ready"),
    ("GET", "/metrics"),
    ("POST", "/auth/exchange"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
    // EspoCRM's webhooks: the signature proves the sender (`sync::signatures_are_checked_...`).
    ("POST", "/api/sync/{source}/webhook/document/{action}"),
];

/// WebSocket routes: the token comes in the query and a refusal is a close frame.
const SOCKETS: &[(&str, &str)] = &[("GET", "/chats/{id}/stream")];

#[test]
fn the_table_covers_every_declared_route() {
    let kind = |a: Access| match a {
        Access::Public => "public",
        Access::Rbac(_) => "rbac",
        Access::Socket(_) => "socket",
    };
    let declared: BTreeSet<(String, String, &str)> =
        route_table().into_iter().map(|r| (r.method.as_str().to_owned(), r.path, kind(r.access))).collect();
    let mut listed: BTreeSet<(String, String, &str)> =
        table().iter().map(|c| (c.method.as_str().to_owned(), c.path.to_owned(), "rbac")).collect();
    listed.extend(PUBLIC.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned(), "public")));
    // Sockets decide after the upgrade; `chats::the_websocket_refuses_bad_tokens` covers them.
    listed.extend(SOCKETS.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned(), "socket")));
    assert_eq!(declared, listed, "the RBAC matrix must list every route with its access");
}

both_databases!(rbac_matrix, rbac_routes_need_credentials);

/// Fresh objects in `tenant` for one case, created by the sysadmin; the static token by the
/// tenant's admin, so that it is bound to the tenant like every token a tenant admin manages.
struct Fixture {
    tenant: String,
    user: String,
    key: String,
    static_token: String,
    rule: String,
    notice: String,
    file: String,
    /// (file, part) of an extracted image.
    part: (String, String),
    client: String,
    project: String,
    folder: String,
    document: String,
    /// A collection holding `file`.
    collection: String,
    /// (request, its job).
    ai_request: (String, String),
    /// (queued workflow, ended workflow).
    workflows: (String, String),
    /// (chat, its answered turn).
    chat: (String, String),
    role_prompt: String,
    /// Made only for the cases that target them (see `prompt_fixtures`), else empty.
    prompt_category: String,
    prompt_preset: String,
    template: String,
    automation: String,
    sync_source: String,
}

/// Whether a case reads what extraction makes (parts, previews): only then does its fixture
/// wait for the files' extraction (it costs time in a table this long).
fn needs_extraction(case: &Case) -> bool {
    case.target == Target::Part || case.path.contains("/parts") || case.path.contains("/thumbnail")
}

async fn fixture(app: &TestApp, sys: &Auth, tenant_admin: &Auth, tenant: &str, n: usize, extracted: bool) -> Fixture {
    let sys = sys.in_tenant(tenant);
    let (_, u) =
        app.post("/api/admin/users", &sys, json!({"display_name": format!("target {n}"), "role": "user"})).await;
    let user = u["id"].as_str().expect("user").to_owned();
    let (_, k) = app.post(&format!("/api/admin/users/{user}/keys"), &sys, json!({"name": "target"})).await;
    let (_, t) = app.post(&format!("/api/admin/users/{user}/tokens"), tenant_admin, json!({"name": "target"})).await;
    let rule = json!({"role": "viewer", "item": format!("resource.aicore.case{n}"), "view": true, "read": "none", "create": "none", "update": "none", "delete": "none"});
    let (_, r) = app.call(Method::PUT, "/api/admin/rbac/rules", &sys, Some(rule)).await;
    let notice = docwright_engine::notices::NewNotice {
        kind: docwright_storage::notices::NoticeKind::LowBalance,
        recipients: vec!["ops@example.com".into()],
        subject: format!("notice {n}"),
        body: "body".into(),
        attachment: None,
        dedupe_key: None,
    };
    let tenant_id = docwright_core::id::TenantId::parse(tenant).expect("tenant id");
    let notice = app.state.engine.enqueue_notice(tenant_id, notice).await.expect("notice").id.to_string();
    let (_, file) = app.upload(&sys, &format!("target {n}.txt"), format!("file {n}").as_bytes()).await;
    let part = if extracted {
        let (_, image) = app.upload(&sys, &format!("target {n}.png"), &crate::files::png()).await;
        let image = image["id"].as_str().expect("image").to_owned();
        crate::extraction::ended(app, &sys, file["id"].as_str().expect("file")).await;
        crate::extraction::ended(app, &sys, &image).await;
        let (_, parts) = app.get(&format!("/files/{image}/parts"), &sys).await;
        (image, parts["items"][0]["id"].as_str().expect("image part").to_owned())
    } else {
        (String::new(), String::new())
    };
    let id = |v: Value| v["id"].as_str().expect("fixture id").to_owned();
    let client = id(app.post("/projects/clients", &sys, json!({"name": format!("client {n}")})).await.1);
    let project = id(app.post("/projects", &sys, json!({"client_id": client, "name": "project"})).await.1);
    let folder = id(app.post(&format!("/projects/{project}/folders"), &sys, json!({"name": "folder"})).await.1);
    let (_, placed) = app.upload(&sys, &format!("placed {n}.txt"), format!("placed {n}").as_bytes()).await;
    let document =
        id(app.post(&format!("/projects/{project}/documents"), &sys, json!({"file_id": placed["id"]})).await.1);
    let collection = id(app.post("/api/collections", &sys, json!({"name": format!("collection {n}")})).await.1);
    app.post(&format!("/api/collections/{collection}/files"), &sys, json!({"file_id": file["id"]})).await;
    let ai_request = scheduled_ai_request(app, tenant_id, &user).await;
    let workflows =
        (scheduled_workflow(app, tenant_id, &user, false).await, scheduled_workflow(app, tenant_id, &user, true).await);
    let chat = answered_chat(app, tenant_id, &user).await;
    let role_prompt = tenant_role_prompt(app, tenant_id).await;
    let (template, automation) = automation_fixtures(app, tenant_id, &user).await;
    let sync_source = id(app.post("/api/admin/sync/sources", &sys, sync_source_body().expect("body")).await.1);
    Fixture {
        template,
        automation,
        sync_source,
        ai_request,
        workflows,
        chat,
        role_prompt,
        prompt_category: String::new(),
        prompt_preset: String::new(),
        tenant: tenant.to_owned(),
        user,
        key: k["id"].as_str().expect("key").to_owned(),
        static_token: t["id"].as_str().expect("token").to_owned(),
        rule: r["id"].as_str().expect("rule").to_owned(),
        notice,
        file: file["id"].as_str().expect("file").to_owned(),
        part,
        client,
        project,
        folder,
        document,
        collection,
    }
}

fn fill(path: &str, target: Target, f: &Fixture) -> String {
    match target {
        Target::None => path.to_owned(),
        Target::Tenant => path.replace("{id}", &f.tenant).replace("{tenant_id}", &f.tenant),
        Target::User => path.replace("{id}", &f.user),
        Target::Key => path.replace("{id}", &f.key),
        Target::StaticToken => path.replace("{id}", &f.user).replace("{token_id}", &f.static_token),
        Target::Rule => path.replace("{id}", &f.rule),
        Target::Provider => path.replace("{name}", "dryrun"),
        Target::Model => path.replace("{model}", "dryrun-simple"),
        Target::TenantKey => path.replace("{provider}", "dryrun"),
        Target::Notice => path.replace("{id}", &f.notice),
        Target::File => path.replace("{id}", &f.file),
        Target::Part => path.replace("{id}", &f.part.0).replace("{part_id}", &f.part.1),
        Target::Upload => path.to_owned(),
        Target::Client => path.replace("{id}", &f.client),
        Target::Project => path.replace("{id}", &f.project),
        Target::Folder => path.replace("{id}", &f.folder),
        Target::Document => path.replace("{id}", &f.document),
        Target::Search => format!("{path}?q=file"),
        Target::Collection => path.replace("{id}", &f.collection),
        Target::CollectionFile => path.replace("{id}", &f.collection).replace("{file_id}", &f.file),
        Target::CollectionSearch => format!("{}?q=file", path.replace("{id}", &f.collection)),
        Target::AiRequest => path.replace("{id}", &f.ai_request.0),
        Target::Job => path.replace("{id}", &f.ai_request.1),
        Target::Workflow => path.replace("{id}", &f.workflows.0),
        Target::EndedWorkflow => path.replace("{id}", &f.workflows.1),
        Target::Chat => path.replace("{id}", &f.chat.0).replace("{turn_id}", &f.chat.1),
        Target::RolePrompt => path.replace("{id}", &f.role_prompt),
        Target::PromptCategory => path.replace("{id}", &f.prompt_category),
        Target::PromptPreset => path.replace("{id}", &f.prompt_preset),
        Target::Template => path.replace("{id}", &f.template),
        Target::Automation => path.replace("{id}", &f.automation),
        Target::SyncSource => {
            path.replace("{id}", &f.sync_source).replace("{source}", &f.sync_source).replace("{entity_id}", "doc1")
        }
    }
}

/// A chat of `user` with one turn stored as `POST /chats/{id}/messages` stores one (its job due
/// in an hour), then answered: its answer stored, its last event `completed`.
async fn answered_chat(app: &TestApp, tenant: docwright_core::id::TenantId, user: &str) -> (String, String) {
    use docwright_storage::chats::{AnswerEnd, Chat, TurnRecord, TurnStatus};
    let now = docwright_core::time::Timestamp::now();
    let user = docwright_core::id::UserId::parse(user).expect("user id");
    let chat = Chat {
        id: docwright_core::id::ChatId::new(),
        tenant_id: tenant,
        user_id: user,
        title: "matrix".into(),
        description: None,
        project_id: None,
        collection_id: None,
        created_at: now,
        updated_at: now,
    };
    app.state.db.insert_chat(&chat).await.expect("chat");
    let turn = TurnRecord {
        id: docwright_core::id::ChatTurnId::new(),
        chat_id: chat.id,
        tenant_id: tenant,
        user_id: user,
        credential_kind: "session".into(),
        credential_id: uuid::Uuid::now_v7().to_string(),
        credential_tenant: None,
        job_id: docwright_core::id::JobId::new(),
        user_message_id: docwright_core::id::ChatMessageId::new(),
        assistant_message_id: docwright_core::id::ChatMessageId::new(),
        message: "matrix".into(),
        attached_file_ids: Vec::new(),
        model_profile: "simple".into(),
        allowed_providers: None,
        role_prompt_id: None,
        created_at: now,
    };
    let job = docwright_jobs::NewJob::new(docwright_engine::chat::JOB_KIND, json!({"turn_id": turn.id.to_string()}))
        .id(turn.job_id)
        .tenant(tenant)
        .run_at(now.plus_secs(3600));
    let mut tx = app.state.db.begin_write().await.expect("begin");
    tx.enqueue(&job).await.expect("enqueue");
    tx.insert_chat_turn(&turn).await.expect("insert");
    tx.commit().await.expect("commit");
    let end = AnswerEnd {
        status: TurnStatus::Completed,
        content: "answer",
        model: Some("dryrun-simple"),
        provider: Some("dryrun"),
        price: docwright_core::money::Money::ZERO,
        input_tokens: 1,
        output_tokens: 1,
        sources: &[],
        error_code: None,
        error_message: None,
    };
    app.state.db.finish_chat_turn(&turn, &end).await.expect("finish");
    let done = json!({"message_id": turn.assistant_message_id.to_string()});
    app.state.db.append_chat_event(turn.id, "completed", &done).await.expect("event");
    (chat.id.to_string(), turn.id.to_string())
}

/// A template and an inactive definition of `user`, stored as the API stores them.
async fn automation_fixtures(app: &TestApp, tenant: docwright_core::id::TenantId, user: &str) -> (String, String) {
    use docwright_storage::automations::{DefinitionRecord, TemplateRecord};
    let now = docwright_core::time::Timestamp::now();
    let user = docwright_core::id::UserId::parse(user).expect("user id");
    let template = TemplateRecord {
        id: docwright_core::id::AutomationTemplateId::new(),
        tenant_id: Some(tenant),
        label: json!({"en": "Fixture"}),
        overview: json!({}),
        template: MATRIX_TEMPLATE.into(),
        created_by: Some(user),
        created_by_name: "target".into(),
        created_at: now,
        updated_at: now,
    };
    app.state.db.insert_automation_template(&template).await.expect("template");
    let definition = DefinitionRecord {
        id: docwright_core::id::AutomationId::new(),
        tenant_id: tenant,
        user_id: user,
        label: "Fixture".into(),
        template: MATRIX_TEMPLATE.into(),
        placeholders: [("topic".to_owned(), "x".to_owned())].into(),
        schedule: "0 22 * * *".into(),
        timezone: "UTC".into(),
        active: false,
        missed_policy: "skip".into(),
        allowed_providers: None,
        model_profile: None,
        output_format: None,
        status: "inactive".into(),
        last_error: None,
        next_run_at: None,
        failures: 0,
        retry_at: None,
        created_at: now,
        updated_at: now,
    };
    app.state.db.insert_automation(&definition).await.expect("definition");
    (template.id.to_string(), definition.id.to_string())
}

/// A category (without presets) and a preset of `tenant`'s prompt library, made through the API
/// by its sysadmin, which keeps the library's cache right. Only for the cases that need them: a
/// library holds a bounded number of rows.
async fn prompt_fixtures(app: &TestApp, sys: &Auth, tenant: &str, n: usize) -> (String, String) {
    let sys = sys.in_tenant(tenant);
    let category = json!({"key": format!("fixture-{n}"), "names": {"en": "Fixture"}});
    let (status, c) = app.post("/api/prompts/categories", &sys, category).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let preset = json!({"category": "analysis", "names": {"en": "Fixture"}, "prompts": {"en": "You are a fixture."}});
    let (status, p) = app.post("/api/prompts/presets", &sys, preset).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    (c["id"].as_str().expect("category").to_owned(), p["id"].as_str().expect("preset").to_owned())
}

/// A role prompt of `tenant`.
async fn tenant_role_prompt(app: &TestApp, tenant: docwright_core::id::TenantId) -> String {
    let now = docwright_core::time::Timestamp::now();
    let role = docwright_storage::chats::RolePrompt {
        id: docwright_core::id::RolePromptId::new(),
        tenant_id: Some(tenant),
        names: vec![("en".into(), "Fixture".into())],
        prompt: "You are a fixture.".into(),
        created_at: now,
        updated_at: now,
    };
    app.state.db.insert_role_prompt(&role).await.expect("role prompt");
    role.id.to_string()
}

/// An AI request of `user` whose job is due in an hour: stored as `/api/ai/process` stores
/// one, with its job, in one transaction.
async fn scheduled_ai_request(app: &TestApp, tenant: docwright_core::id::TenantId, user: &str) -> (String, String) {
    use docwright_storage::ai_requests::{AiQuery, AiRequestRecord};
    let record = AiRequestRecord {
        id: docwright_core::id::AiRequestId::new(),
        tenant_id: tenant,
        user_id: docwright_core::id::UserId::parse(user).expect("user id"),
        credential_kind: "session".into(),
        credential_id: uuid::Uuid::now_v7().to_string(),
        credential_tenant: None,
        job_id: docwright_core::id::JobId::new(),
        query: AiQuery { query_text: "matrix".into(), ..AiQuery::default() },
        created_at: docwright_core::time::Timestamp::now(),
        answer: None,
    };
    let in_an_hour = docwright_core::time::Timestamp::now().plus_secs(3600);
    let job =
        docwright_jobs::NewJob::new(docwright_engine::ai_requests::KIND, json!({"request_id": record.id.to_string()}))
            .id(record.job_id)
            .tenant(tenant)
            .run_at(in_an_hour);
    let mut tx = app.state.db.begin_write().await.expect("begin");
    tx.enqueue(&job).await.expect("enqueue");
    tx.insert_ai_request(&record).await.expect("insert");
    tx.commit().await.expect("commit");
    (record.id.to_string(), record.job_id.to_string())
}

/// A workflow of `user` stored with its job as `POST /api/workflows` stores one, its job due in
/// an hour; `ended`, it is marked completed at once.
async fn scheduled_workflow(app: &TestApp, tenant: docwright_core::id::TenantId, user: &str, ended: bool) -> String {
    use docwright_storage::workflows::{WorkflowEnd, WorkflowRecord, WorkflowStatus};
    let record = WorkflowRecord {
        id: docwright_core::id::WorkflowId::new(),
        tenant_id: tenant,
        user_id: docwright_core::id::UserId::parse(user).expect("user id"),
        credential_kind: "session".into(),
        credential_id: uuid::Uuid::now_v7().to_string(),
        credential_tenant: None,
        job_id: docwright_core::id::JobId::new(),
        prompt: "matrix".into(),
        file_ids: Vec::new(),
        project_id: None,
        collection_id: None,
        output_format: Some("txt".into()),
        title: None,
        allowed_providers: None,
        model_profile: None,
        debug_trace: ended,
        plan: None,
        automation_id: None,
        instructions: None,
        created_at: docwright_core::time::Timestamp::now(),
    };
    let in_an_hour = docwright_core::time::Timestamp::now().plus_secs(3600);
    let job = docwright_jobs::NewJob::new(
        docwright_engine::workflows::JOB_KIND,
        json!({"workflow_id": record.id.to_string()}),
    )
    .id(record.job_id)
    .tenant(tenant)
    .run_at(in_an_hour);
    let mut tx = app.state.db.begin_write().await.expect("begin");
    tx.enqueue(&job).await.expect("enqueue");
    tx.insert_workflow(&record).await.expect("insert");
    tx.commit().await.expect("commit");
    if ended {
        let end = WorkflowEnd {
            status: WorkflowStatus::Completed,
            error_code: None,
            error_message: None,
            answer: Some("done"),
            detected_language: None,
            cost: docwright_core::money::Money::ZERO,
        };
        app.state.db.finish_workflow(record.id, &end).await.expect("finish");
    }
    record.id.to_string()
}

/// A case's body with the fixture's ids for `{client}` and `{file}`.
fn fill_body(body: Option<Value>, f: &Fixture) -> Option<Value> {
    let text = body?.to_string().replace("{client}", &f.client).replace("{file}", &f.file);
    Some(serde_json::from_str(&text).expect("body"))
}

async fn rbac_matrix(app: TestApp) {
    let a = app.create_tenant("Own").await;
    let b = app.create_tenant("Other").await;
    let sys = app.sysadmin().await;
    let admin_a = app.user_in(&a, "admin").await.auth;
    let admin_b = app.user_in(&b, "admin").await.auth;
    let callers = [
        ("sysadmin", sys.in_tenant(&a)),
        ("admin", admin_a.clone()),
        ("user", app.user_in(&a, "user").await.auth),
        ("viewer", app.user_in(&a, "viewer").await.auth),
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for case in table() {
        for (side, expected, tenant, tenant_admin) in
            [("own", case.own, &a, &admin_a), ("other", case.other, &b, &admin_b)]
        {
            for (i, (role, auth)) in callers.iter().enumerate() {
                n += 1;
                let mut f = fixture(&app, &sys, tenant_admin, tenant, n, needs_extraction(&case)).await;
                if matches!(case.target, Target::PromptCategory | Target::PromptPreset) {
                    (f.prompt_category, f.prompt_preset) = prompt_fixtures(&app, &sys, tenant, n).await;
                }
                if case.target == Target::TenantKey {
                    let put = Some(json!({"key": "sk-fixture"}));
                    app.call(Method::PUT, "/api/admin/ai/keys/dryrun", &sys.in_tenant(&a), put).await;
                }
                let path = fill(case.path, case.target, &f);
                let (status, body) = if case.target == Target::Upload {
                    app.upload(auth, "matrix.txt", b"matrix").await
                } else {
                    app.call(case.method.clone(), &path, auth, fill_body((case.body)(), &f)).await
                };
                if status.as_u16() != expected[i] {
                    failures.push(format!(
                        "{} {} as {role}, target in {side} tenant: got {status}, want {} — {body}",
                        case.method, case.path, expected[i]
                    ));
                }
                if status.is_client_error() && body["error"]["code"].as_str().is_none() {
                    failures
                        .push(format!("{} {} as {role}: error without the JSON shape: {body}", case.method, case.path));
                }
            }
        }
        // Naming a tenant one does not belong to: refused for every tenant role, whatever the route.
        for (role, auth) in callers.iter().skip(1) {
            n += 1;
            let mut f = fixture(&app, &sys, &admin_b, &b, n, needs_extraction(&case)).await;
            if matches!(case.target, Target::PromptCategory | Target::PromptPreset) {
                (f.prompt_category, f.prompt_preset) = prompt_fixtures(&app, &sys, &b, n).await;
            }
            let path = fill(case.path, case.target, &f);
            let (status, body) = if case.target == Target::Upload {
                app.upload(&auth.in_tenant(&b), "matrix.txt", b"matrix").await
            } else {
                app.call(case.method.clone(), &path, &auth.in_tenant(&b), fill_body((case.body)(), &f)).await
            };
            if status != StatusCode::FORBIDDEN {
                failures.push(format!(
                    "{} {} as {role} with X-Tenant-Id of a foreign tenant: got {status}, want 403 — {body}",
                    case.method, case.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} of the RBAC matrix cases failed:\n{}", failures.len(), failures.join("\n"));
}

async fn rbac_routes_need_credentials(app: TestApp) {
    let sys = app.sysadmin().await;
    let root = app.get("/me", &sys).await.1["current_tenant_id"].as_str().unwrap().to_owned();
    let mut f = fixture(&app, &sys, &sys, &root, 0, true).await;
    (f.prompt_category, f.prompt_preset) = prompt_fixtures(&app, &sys, &root, 0).await;
    for case in table() {
        let path = fill(case.path, case.target, &f);
        let (status, body) = app.call(case.method.clone(), &path, &Auth::none(), fill_body((case.body)(), &f)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {path}: {body}", case.method);
        assert_eq!(body["error"]["code"], "missing_credentials");
    }
    for (method, path) in PUBLIC {
        let (status, body) = app.call(method.parse().unwrap(), path, &Auth::none(), Some(json!({}))).await;
        assert!(status != StatusCode::UNAUTHORIZED || *path == "/auth/logout", "{method} {path} is public: {body}");
    }
}
