//! `/api/admin/rbac/*`: read and edit the current tenant's permission rules (SPEC P5).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use docwright_core::id::RuleId;
use docwright_core::rbac::items;
use docwright_storage::rbac::StoredRule;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::guard::Authorized;
use crate::state::AppState;

/// A rule: for `role`, on items matching `item` (exact, or a prefix ending in `.*`; the most
/// specific matching rule wins). Levels: `none`, `my` (own records), `tenant`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(super) struct RuleBody {
    /// `admin`, `user` or `viewer`.
    #[schema(value_type = crate::schemas::RuleRole)]
    pub role: String,
    /// e.g. `data.system.User`, `data.*`, `resource.aicore.openai`.
    #[schema(value_type = crate::schemas::RbacItem)]
    pub item: String,
    /// Visible / usable (for `resource.*` items this is "may use").
    pub view: bool,
    #[schema(value_type = crate::schemas::RuleLevel)]
    pub read: String,
    #[schema(value_type = crate::schemas::RuleLevel)]
    pub create: String,
    #[schema(value_type = crate::schemas::RuleLevel)]
    pub update: String,
    #[schema(value_type = crate::schemas::RuleLevel)]
    pub delete: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RuleOut {
    pub id: Uuid,
    #[serde(flatten)]
    pub rule: RuleBody,
    pub updated_at: String,
}

impl From<StoredRule> for RuleOut {
    fn from(s: StoredRule) -> Self {
        let r = s.rule;
        Self {
            id: s.id.as_uuid(),
            rule: RuleBody {
                role: r.role.as_str().to_owned(),
                item: r.item.as_str().to_owned(),
                view: r.view,
                read: r.read.as_str().to_owned(),
                create: r.create.as_str().to_owned(),
                update: r.update.as_str().to_owned(),
                delete: r.delete.as_str().to_owned(),
            },
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

/// The current tenant's rules.
#[utoipa::path(get, path = "/api/admin/rbac/rules", tag = "rbac", responses((status = 200, body = Vec<RuleOut>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_rules(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<Vec<RuleOut>>, ApiError> {
    Ok(Json(state.engine.list_rules(&grant).await?.into_iter().map(Into::into).collect()))
}

/// Add a rule, or replace the rule for the same role and item. A change that would take the
/// admin role's read or update of the rules away is refused (409).
#[utoipa::path(put, path = "/api/admin/rbac/rules", tag = "rbac", request_body = RuleBody,
    responses((status = 200, body = RuleOut), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn put_rule(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(body): ApiJson<RuleBody>,
) -> Result<Json<RuleOut>, ApiError> {
    let input = docwright_engine::admin::RuleInput {
        role: body.role,
        item: body.item,
        view: body.view,
        read: body.read,
        create: body.create,
        update: body.update,
        delete: body.delete,
    };
    Ok(Json(state.engine.put_rule(&grant, input).await?.into()))
}

/// Delete a rule of the current tenant.
#[utoipa::path(delete, path = "/api/admin/rbac/rules/{id}", tag = "rbac", params(("id" = Uuid, Path, description = "Rule id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn delete_rule(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_rule(&grant, RuleId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ItemOut {
    /// An exact item, or a family prefix ending in `.` whose members are named at run time.
    pub item: &'static str,
    pub description: &'static str,
    pub family: bool,
}

/// The items rules can name.
#[utoipa::path(get, path = "/api/admin/rbac/items", tag = "rbac", responses((status = 200, body = Vec<ItemOut>)))]
pub(crate) async fn list_items(Authorized(_grant): Authorized) -> Json<Vec<ItemOut>> {
    let exact = items::CATALOG.iter().map(|(item, description)| ItemOut { item, description, family: false });
    let families = items::FAMILIES.iter().map(|(item, description)| ItemOut { item, description, family: true });
    Json(exact.chain(families).collect())
}
