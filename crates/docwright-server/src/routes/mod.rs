//! Every route of the API, declared once with its [`Access`].
//!
//! [`declarations`] is the single list: the router is built from it (each route behind the
//! `guard::enforce` layer with its access), the OpenAPI document is built from it (each
//! operation's description names the permission it needs), and the RBAC matrix test walks it
//! ([`route_table`]), so a route cannot exist without a declared access.

mod admin;
mod ai;
mod ai_admin;
mod auth;
mod automations;
mod billing;
mod chat_ws;
mod chats;
mod collections;
mod files;
mod jobs;
mod keys;
mod me;
mod openai;
mod ops;
mod projects;
mod prompt_library;
mod prompts;
mod rbac;
mod responses;
mod sync;
mod workflows;

use axum::http::Method;
use docwright_engine::admin::perms::*;
use docwright_engine::ai_requests::{AI_REQUEST_CREATE, AI_REQUEST_READ, AI_REQUEST_UPDATE};
use docwright_engine::automations::{
    AUTOMATION_CREATE, AUTOMATION_DELETE, AUTOMATION_READ, AUTOMATION_UPDATE, TEMPLATE_CREATE, TEMPLATE_DELETE,
    TEMPLATE_READ, TEMPLATE_UPDATE,
};
use docwright_engine::billing::{BILLING_CREDIT, BILLING_READ, BILLING_UPDATE};
use docwright_engine::chat::{
    CHAT_CREATE, CHAT_DELETE, CHAT_READ, ROLE_PROMPT_CREATE, ROLE_PROMPT_DELETE, ROLE_PROMPT_READ, ROLE_PROMPT_UPDATE,
};
use docwright_engine::collections::{COLLECTION_CREATE, COLLECTION_DELETE, COLLECTION_READ, COLLECTION_UPDATE};
use docwright_engine::extraction::FILE_UPDATE;
use docwright_engine::files::{FILE_CREATE, FILE_DELETE, FILE_READ};
use docwright_engine::gateway::{AI_PROVIDER_READ, AI_PROVIDER_UPDATE, AI_USE};
use docwright_engine::jobs::{JOB_READ, JOB_UPDATE};
use docwright_engine::notices::NOTICE_READ;
use docwright_engine::projects::{PROJECT_CREATE, PROJECT_DELETE, PROJECT_READ, PROJECT_UPDATE, SEARCH};
use docwright_engine::prompt_library::{PROMPT_CREATE, PROMPT_DELETE, PROMPT_READ, PROMPT_UPDATE};
use docwright_engine::sync::{SOURCE_CREATE, SOURCE_DELETE, SOURCE_READ, SOURCE_UPDATE};
use docwright_engine::workflows::{WORKFLOW_CREATE, WORKFLOW_READ, WORKFLOW_UPDATE};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use crate::guard::Access;
use crate::state::AppState;

/// Routes and who may call them.
pub(crate) fn declarations() -> Vec<(Access, UtoipaMethodRouter<AppState>)> {
    use Access::{Public, Rbac};
    vec![
        (Public, routes!(ops::health)),
        (Public, routes!(ops::ready)),
        (Public, routes!(ops::metrics)),
        (Rbac(AI_PROVIDER_READ), routes!(ops::tenant_metrics)),
        (Public, routes!(auth::exchange)),
        (Public, routes!(auth::refresh)),
        (Public, routes!(auth::logout)),
        (Rbac(SETTINGS_READ), routes!(me::me)),
        (Rbac(SETTINGS_UPDATE), routes!(me::update_settings)),
        (Rbac(API_KEY_CREATE), routes!(keys::create_key)),
        (Rbac(API_KEY_READ), routes!(keys::list_keys)),
        (Rbac(API_KEY_DELETE), routes!(keys::delete_key)),
        (Rbac(TENANT_CREATE), routes!(admin::create_tenant)),
        (Rbac(TENANT_READ), routes!(admin::list_tenants)),
        (Rbac(TENANT_READ), routes!(admin::get_tenant)),
        (Rbac(USER_CREATE), routes!(admin::create_user)),
        (Rbac(USER_READ), routes!(admin::list_users)),
        (Rbac(USER_READ), routes!(admin::get_user)),
        (Rbac(USER_UPDATE), routes!(admin::set_role)),
        (Rbac(USER_DELETE), routes!(admin::remove_user)),
        (Rbac(STATIC_TOKEN_CREATE), routes!(admin::issue_static_token)),
        (Rbac(STATIC_TOKEN_READ), routes!(admin::list_static_tokens)),
        (Rbac(STATIC_TOKEN_DELETE), routes!(admin::revoke_static_token)),
        (Rbac(API_KEY_CREATE), routes!(admin::issue_user_key)),
        (Rbac(API_KEY_READ), routes!(admin::list_tenant_keys)),
        (Rbac(RULE_READ), routes!(rbac::list_rules)),
        (Rbac(RULE_READ), routes!(rbac::list_items)),
        (Rbac(RULE_UPDATE), routes!(rbac::put_rule)),
        (Rbac(RULE_DELETE), routes!(rbac::delete_rule)),
        (Rbac(AI_PROVIDER_READ), routes!(ai_admin::list_models)),
        (Rbac(AI_PROVIDER_READ), routes!(ai_admin::list_providers)),
        (Rbac(AI_PROVIDER_UPDATE), routes!(ai_admin::test_provider)),
        (Rbac(AI_PROVIDER_READ), routes!(ai_admin::list_tenant_keys)),
        (Rbac(AI_PROVIDER_UPDATE), routes!(ai_admin::put_tenant_key)),
        (Rbac(AI_PROVIDER_UPDATE), routes!(ai_admin::delete_tenant_key)),
        (Rbac(AI_USE), routes!(openai::list_models)),
        (Rbac(AI_USE), routes!(openai::retrieve_model)),
        (Rbac(AI_USE), routes!(openai::chat_completions)),
        (Rbac(AI_USE), routes!(openai::embeddings)),
        (Rbac(AI_USE), routes!(responses::create_response)),
        (Rbac(BILLING_READ), routes!(billing::balance)),
        (Rbac(BILLING_READ), routes!(billing::balance_of)),
        (Rbac(BILLING_READ), routes!(billing::transactions)),
        (Rbac(BILLING_READ), routes!(billing::chart)),
        (Rbac(BILLING_READ), routes!(billing::providers)),
        (Rbac(BILLING_READ), routes!(billing::get_settings)),
        (Rbac(BILLING_UPDATE), routes!(billing::put_settings)),
        (Rbac(BILLING_CREDIT), routes!(billing::credit)),
        (Rbac(BILLING_READ), routes!(billing::accounts)),
        (Rbac(BILLING_READ), routes!(billing::tenant_transactions)),
        (Rbac(BILLING_READ), routes!(billing::export)),
        (Rbac(BILLING_READ), routes!(billing::verify)),
        (Rbac(NOTICE_READ), routes!(billing::notices)),
        (Rbac(NOTICE_READ), routes!(billing::notice)),
        (Rbac(FILE_CREATE), routes!(files::upload)),
        (Rbac(FILE_READ), routes!(files::get_file)),
        (Rbac(FILE_READ), routes!(files::content)),
        (Rbac(FILE_DELETE), routes!(files::delete_file)),
        (Rbac(FILE_READ), routes!(files::parts)),
        (Rbac(FILE_READ), routes!(files::part_content)),
        (Rbac(FILE_READ), routes!(files::thumbnail)),
        (Rbac(FILE_UPDATE), routes!(files::extract)),
        (Rbac(PROJECT_CREATE), routes!(projects::create_client)),
        (Rbac(PROJECT_READ), routes!(projects::list_clients)),
        (Rbac(PROJECT_READ), routes!(projects::get_client)),
        (Rbac(PROJECT_UPDATE), routes!(projects::update_client)),
        (Rbac(PROJECT_DELETE), routes!(projects::delete_client)),
        (Rbac(PROJECT_CREATE), routes!(projects::create_project)),
        (Rbac(PROJECT_READ), routes!(projects::get_project)),
        (Rbac(PROJECT_UPDATE), routes!(projects::update_project)),
        (Rbac(PROJECT_DELETE), routes!(projects::delete_project)),
        (Rbac(PROJECT_CREATE), routes!(projects::create_folder)),
        (Rbac(PROJECT_UPDATE), routes!(projects::update_folder)),
        (Rbac(PROJECT_DELETE), routes!(projects::delete_folder)),
        (Rbac(PROJECT_CREATE), routes!(projects::create_document)),
        (Rbac(PROJECT_UPDATE), routes!(projects::update_document)),
        (Rbac(PROJECT_DELETE), routes!(projects::delete_document)),
        (Rbac(PROJECT_READ), routes!(projects::document_results)),
        (Rbac(PROJECT_READ), routes!(projects::tree)),
        (Rbac(SEARCH), routes!(projects::search)),
        (Rbac(COLLECTION_READ), routes!(collections::list_collections)),
        (Rbac(COLLECTION_CREATE), routes!(collections::create_collection)),
        (Rbac(COLLECTION_READ), routes!(collections::get_collection)),
        (Rbac(COLLECTION_UPDATE), routes!(collections::update_collection)),
        (Rbac(COLLECTION_DELETE), routes!(collections::delete_collection)),
        (Rbac(COLLECTION_READ), routes!(collections::list_files)),
        (Rbac(COLLECTION_UPDATE), routes!(collections::add_file)),
        (Rbac(COLLECTION_UPDATE), routes!(collections::remove_file)),
        (Rbac(COLLECTION_READ), routes!(collections::search)),
        (Rbac(WORKFLOW_CREATE), routes!(workflows::submit)),
        (Rbac(WORKFLOW_READ), routes!(workflows::list)),
        (Rbac(WORKFLOW_READ), routes!(workflows::get)),
        (Rbac(WORKFLOW_UPDATE), routes!(workflows::cancel)),
        (Rbac(WORKFLOW_READ), routes!(workflows::events)),
        (Rbac(WORKFLOW_READ), routes!(workflows::log)),
        (Rbac(WORKFLOW_READ), routes!(workflows::debug)),
        (Rbac(CHAT_CREATE), routes!(chats::create)),
        (Rbac(CHAT_READ), routes!(chats::list)),
        (Rbac(CHAT_READ), routes!(chats::get)),
        (Rbac(CHAT_DELETE), routes!(chats::delete)),
        (Rbac(CHAT_CREATE), routes!(chats::send)),
        (Rbac(CHAT_READ), routes!(chats::events)),
        (Rbac(CHAT_READ), routes!(chats::turn_log)),
        (Access::Socket(CHAT_READ), routes!(chat_ws::stream)),
        (Rbac(ROLE_PROMPT_READ), routes!(prompts::list)),
        (Rbac(ROLE_PROMPT_READ), routes!(prompts::get)),
        (Rbac(ROLE_PROMPT_CREATE), routes!(prompts::create)),
        (Rbac(ROLE_PROMPT_UPDATE), routes!(prompts::update)),
        (Rbac(ROLE_PROMPT_DELETE), routes!(prompts::delete)),
        (Rbac(PROMPT_READ), routes!(prompt_library::list_categories)),
        (Rbac(PROMPT_CREATE), routes!(prompt_library::create_category)),
        (Rbac(PROMPT_UPDATE), routes!(prompt_library::update_category)),
        (Rbac(PROMPT_DELETE), routes!(prompt_library::delete_category)),
        (Rbac(PROMPT_READ), routes!(prompt_library::list_presets)),
        (Rbac(PROMPT_READ), routes!(prompt_library::get_preset)),
        (Rbac(PROMPT_CREATE), routes!(prompt_library::create_preset)),
        (Rbac(PROMPT_UPDATE), routes!(prompt_library::update_preset)),
        (Rbac(PROMPT_DELETE), routes!(prompt_library::delete_preset)),
        (Rbac(PROMPT_READ), routes!(prompt_library::classify)),
        (Rbac(AI_REQUEST_CREATE), routes!(ai::process)),
        (Rbac(AI_REQUEST_READ), routes!(ai::status)),
        (Rbac(AI_REQUEST_READ), routes!(ai::result)),
        (Rbac(AI_REQUEST_UPDATE), routes!(ai::cancel)),
        (Rbac(TEMPLATE_READ), routes!(automations::list_templates)),
        (Rbac(TEMPLATE_READ), routes!(automations::get_template)),
        (Rbac(TEMPLATE_CREATE), routes!(automations::create_template)),
        (Rbac(TEMPLATE_UPDATE), routes!(automations::update_template)),
        (Rbac(TEMPLATE_DELETE), routes!(automations::delete_template)),
        (Rbac(AUTOMATION_READ), routes!(automations::actions)),
        (Rbac(AUTOMATION_READ), routes!(automations::list)),
        (Rbac(AUTOMATION_CREATE), routes!(automations::create)),
        (Rbac(AUTOMATION_READ), routes!(automations::get)),
        (Rbac(AUTOMATION_UPDATE), routes!(automations::update)),
        (Rbac(AUTOMATION_DELETE), routes!(automations::delete)),
        (Rbac(AUTOMATION_READ), routes!(automations::save_as_template)),
        (Rbac(AUTOMATION_UPDATE), routes!(automations::run)),
        (Rbac(AUTOMATION_READ), routes!(automations::estimate)),
        (Rbac(TENANT_UPDATE), routes!(automations::set_timezone)),
        (Rbac(JOB_READ), routes!(jobs::list_jobs)),
        (Rbac(JOB_UPDATE), routes!(jobs::retry_job)),
        (Rbac(JOB_UPDATE), routes!(jobs::cancel_job)),
        (Rbac(SOURCE_READ), routes!(sync::list_sources)),
        (Rbac(SOURCE_CREATE), routes!(sync::create_source)),
        (Rbac(SOURCE_READ), routes!(sync::get_source)),
        (Rbac(SOURCE_UPDATE), routes!(sync::update_source)),
        (Rbac(SOURCE_DELETE), routes!(sync::delete_source)),
        (Public, routes!(sync::webhook)),
        (Rbac(SOURCE_READ), routes!(sync::documents)),
        (Rbac(SOURCE_UPDATE), routes!(sync::resync)),
    ]
}

/// Whether a route streams its body itself (uploads), so the JSON body limit must not apply.
pub(crate) fn streams_body(route: &UtoipaMethodRouter<AppState>) -> bool {
    route.1.paths.contains_key(files::UPLOAD_PATH)
}

/// One route: its method, path template and access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    pub path: String,
    pub access: Access,
}

/// Every declared route (for the RBAC matrix test and for documentation).
pub fn route_table() -> Vec<RouteInfo> {
    let mut out = Vec::new();
    for (access, (_, paths, _)) in declarations() {
        for (path, item) in paths.paths {
            for (method, _) in operations(&item) {
                out.push(RouteInfo { method, path: path.clone(), access });
            }
        }
    }
    out
}

fn operations(item: &PathItem) -> Vec<(Method, &Operation)> {
    [
        (Method::GET, &item.get),
        (Method::POST, &item.post),
        (Method::PUT, &item.put),
        (Method::PATCH, &item.patch),
        (Method::DELETE, &item.delete),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
    .collect()
}

/// Writes the access of each operation into the OpenAPI document: its security requirement
/// and a sentence naming the permission.
pub(crate) fn annotate(route: &mut UtoipaMethodRouter<AppState>, access: Access) {
    use utoipa::openapi::security::SecurityRequirement;
    for item in route.1.paths.values_mut() {
        for op in
            [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
        {
            let note = match access {
                Access::Public => "Public: no credential needed.".to_owned(),
                Access::Socket(p) => format!(
                    "A WebSocket: give the access token as `?token=`; needs permission `{}` ({}), else the socket \
                     closes with code 1008 and the reason.",
                    p.item,
                    p.action.as_str()
                ),
                Access::Rbac(p) => {
                    op.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
                    format!(
                        "Requires permission `{}` ({}) in the tenant selected by `X-Tenant-Id` (default: your first tenant).",
                        p.item,
                        p.action.as_str()
                    )
                }
            };
            op.description = Some(match op.description.take() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
                _ => note,
            });
        }
    }
}
