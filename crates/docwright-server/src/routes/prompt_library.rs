//! The prompt library (SPEC T1): `GET /api/prompts/categories`, `GET /api/prompts/presets
//! ?category=`, `GET /api/prompts/presets/{id}`, `POST /api/prompts/classify`, and for the
//! tenant's admins `POST /api/prompts/categories`, `PUT|DELETE /api/prompts/categories/{id}`,
//! `POST /api/prompts/presets`, `PUT|DELETE /api/prompts/presets/{id}`. The installation's
//! seeded rows are shared by every tenant and edited by sysadmins only. Lists are plain
//! arrays, as `/prompts/roles`: a library is small and bounded.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use docwright_core::id::{PromptCategoryId, PromptPresetId};
use docwright_engine::prompt_library::{CategoryInput, CategoryView, PresetInput, PresetView, Scope};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::state::AppState;

pub(super) use docwright_api::prompts::{
    AlternativeOut, ClassifyIn, ClassifyOut, PromptCategoryIn, PromptCategoryOut, PromptCategoryUpdateIn,
    PromptPresetIn, PromptPresetOut, PromptPresetUpdateIn,
};

fn scope_name(tenant: Option<docwright_core::id::TenantId>) -> String {
    if tenant.is_some() { "tenant" } else { "installation" }.to_owned()
}

fn texts_out(pairs: Vec<(String, String)>) -> Map<String, Value> {
    pairs.into_iter().map(|(l, t)| (l, Value::String(t))).collect()
}

fn category_out(v: CategoryView) -> PromptCategoryOut {
    let c = v.category;
    PromptCategoryOut {
        id: c.id.to_string(),
        key: c.key,
        name: v.name,
        description: v.description,
        names: texts_out(c.names),
        descriptions: texts_out(c.descriptions),
        keywords: c
            .keywords
            .into_iter()
            .map(|(l, words)| (l, Value::Array(words.into_iter().map(Value::String).collect())))
            .collect(),
        position: c.position,
        scope: scope_name(c.tenant_id),
        updated_at: c.updated_at.to_rfc3339(),
    }
}

fn preset_out(v: PresetView, with_prompts: bool) -> PromptPresetOut {
    let p = v.preset;
    PromptPresetOut {
        id: p.id.to_string(),
        category: p.category,
        name: v.name,
        names: texts_out(p.names),
        prompt: v.prompt,
        prompts: with_prompts.then(|| texts_out(p.prompts)),
        position: p.position,
        scope: scope_name(p.tenant_id),
        updated_at: p.updated_at.to_rfc3339(),
    }
}

/// Texts by language from a JSON object, each a string.
fn texts_in(field: &str, map: Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    map.into_iter()
        .map(|(lang, v)| match v {
            Value::String(s) => Ok((lang, s)),
            _ => Err(ApiError::validation(format!("{field}.{lang}"), format!("{field}.{lang} must be a string"))),
        })
        .collect()
}

fn keywords_in(map: Map<String, Value>) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    map.into_iter()
        .map(|(lang, v)| {
            let field = format!("keywords.{lang}");
            let Value::Array(words) = v else {
                return Err(ApiError::validation(&field, format!("{field} must be an array of strings")));
            };
            let words = words
                .into_iter()
                .enumerate()
                .map(|(i, w)| match w {
                    Value::String(s) => Ok(s),
                    _ => Err(ApiError::validation(format!("{field}[{i}]"), format!("{field}[{i}] must be a string"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((lang, words))
        })
        .collect()
}

fn scope_in(scope: Option<&str>) -> Result<Scope, ApiError> {
    match scope {
        None | Some("tenant") => Ok(Scope::Tenant),
        Some("installation") => Ok(Scope::Installation),
        Some(_) => Err(ApiError::validation("scope", "scope is `tenant` or `installation`")),
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct PresetsQuery {
    /// Only the presets of this category (a category key); an unknown key has none.
    #[param(value_type = Option<crate::schemas::CategoryKey>, inline)]
    category: Option<String>,
}

/// The categories of the prompt library, in order, named in your language: the
/// installation's and your tenant's own (which stands for an installation category of its key).
#[utoipa::path(get, path = "/api/prompts/categories", tag = "prompts",
    responses((status = 200, body = Vec<PromptCategoryOut>)))]
pub(crate) async fn list_categories(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<Vec<PromptCategoryOut>>, ApiError> {
    Ok(Json(state.engine.prompt_categories(&grant).await?.into_iter().map(category_out).collect()))
}

/// Add a category to your tenant's library (admins), or with `scope: installation` to every
/// tenant's (sysadmins). A key the scope has already is a conflict.
#[utoipa::path(post, path = "/api/prompts/categories", tag = "prompts", request_body = PromptCategoryIn,
    responses((status = 201, body = PromptCategoryOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The key exists in the scope, or the scope holds 100 categories", body = ErrorBody)))]
pub(crate) async fn create_category(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<PromptCategoryIn>,
) -> Result<(StatusCode, Json<PromptCategoryOut>), ApiError> {
    let scope = scope_in(req.scope.as_deref())?;
    let input = CategoryInput {
        key: req.key,
        names: texts_in("names", req.names)?,
        descriptions: texts_in("descriptions", req.descriptions.unwrap_or_default())?,
        keywords: keywords_in(req.keywords.unwrap_or_default())?,
        position: req.position,
    };
    let view = state.engine.create_prompt_category(&grant, input, scope).await?;
    Ok((StatusCode::CREATED, Json(category_out(view))))
}

/// Replace a category's names, descriptions, keywords and position (your tenant's; the
/// installation's: sysadmins). Its key stays.
#[utoipa::path(put, path = "/api/prompts/categories/{id}", tag = "prompts", request_body = PromptCategoryUpdateIn,
    params(("id" = Uuid, Path, description = "Category id")),
    responses((status = 200, body = PromptCategoryOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn update_category(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<PromptCategoryUpdateIn>,
) -> Result<Json<PromptCategoryOut>, ApiError> {
    let input = CategoryInput {
        key: String::new(),
        names: texts_in("names", req.names)?,
        descriptions: texts_in("descriptions", req.descriptions.unwrap_or_default())?,
        keywords: keywords_in(req.keywords.unwrap_or_default())?,
        position: req.position,
    };
    let view = state.engine.update_prompt_category(&grant, PromptCategoryId::from(id), input).await?;
    Ok(Json(category_out(view)))
}

/// Delete a category (your tenant's; the installation's: sysadmins) that no preset of its
/// scope is in (409 otherwise).
#[utoipa::path(delete, path = "/api/prompts/categories/{id}", tag = "prompts",
    params(("id" = Uuid, Path, description = "Category id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Presets are still in it", body = ErrorBody)))]
pub(crate) async fn delete_category(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_prompt_category(&grant, PromptCategoryId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The presets of the prompt library, of one category or all, in order, each with its system
/// prompt in your language. The first preset of a category is what `category` alone stands for
/// in `POST /api/ai/process`.
#[utoipa::path(get, path = "/api/prompts/presets", tag = "prompts", params(PresetsQuery),
    responses((status = 200, body = Vec<PromptPresetOut>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_presets(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PresetsQuery>,
) -> Result<Json<Vec<PromptPresetOut>>, ApiError> {
    let presets = state.engine.prompt_presets(&grant, q.category.as_deref()).await?;
    Ok(Json(presets.into_iter().map(|v| preset_out(v, false)).collect()))
}

/// A preset with its system prompt in every language it has.
#[utoipa::path(get, path = "/api/prompts/presets/{id}", tag = "prompts",
    params(("id" = Uuid, Path, description = "Preset id")),
    responses((status = 200, body = PromptPresetOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_preset(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<PromptPresetOut>, ApiError> {
    Ok(Json(preset_out(state.engine.prompt_preset(&grant, PromptPresetId::from(id)).await?, true)))
}

fn preset_input(req: PromptPresetUpdateIn) -> Result<PresetInput, ApiError> {
    Ok(PresetInput {
        category: req.category,
        names: texts_in("names", req.names)?,
        prompts: texts_in("prompts", req.prompts)?,
        position: req.position,
    })
}

/// Add a preset to your tenant's library (admins), or with `scope: installation` to every
/// tenant's (sysadmins), in a category that scope sees.
#[utoipa::path(post, path = "/api/prompts/presets", tag = "prompts", request_body = PromptPresetIn,
    responses((status = 201, body = PromptPresetOut),
        (status = 400, description = "A field is invalid, or `category` names no category here", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, description = "The scope holds 500 presets", body = ErrorBody)))]
pub(crate) async fn create_preset(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<PromptPresetIn>,
) -> Result<(StatusCode, Json<PromptPresetOut>), ApiError> {
    let scope = scope_in(req.scope.as_deref())?;
    let input =
        PromptPresetUpdateIn { category: req.category, names: req.names, prompts: req.prompts, position: req.position };
    let view = state.engine.create_prompt_preset(&grant, preset_input(input)?, scope).await?;
    Ok((StatusCode::CREATED, Json(preset_out(view, true))))
}

/// Replace a preset's category, names, prompts and position (your tenant's; the
/// installation's: sysadmins).
#[utoipa::path(put, path = "/api/prompts/presets/{id}", tag = "prompts", request_body = PromptPresetUpdateIn,
    params(("id" = Uuid, Path, description = "Preset id")),
    responses((status = 200, body = PromptPresetOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn update_preset(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<PromptPresetUpdateIn>,
) -> Result<Json<PromptPresetOut>, ApiError> {
    let view = state.engine.update_prompt_preset(&grant, PromptPresetId::from(id), preset_input(req)?).await?;
    Ok(Json(preset_out(view, true)))
}

/// Delete a preset (your tenant's; the installation's: sysadmins).
#[utoipa::path(delete, path = "/api/prompts/presets/{id}", tag = "prompts",
    params(("id" = Uuid, Path, description = "Preset id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_preset(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_prompt_preset(&grant, PromptPresetId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The category of a free request, with a confidence and up to three alternatives. A model
/// decides (`method: ai`, one cheap call, billed like any) when you may use AI and a provider
/// other than `dryrun` is configured; otherwise, or when that call fails, the categories'
/// keywords are counted (`method: keywords`).
#[utoipa::path(post, path = "/api/prompts/classify", tag = "prompts", request_body = ClassifyIn,
    responses((status = 200, body = ClassifyOut), (status = 400, body = ErrorBody),
        (status = 409, description = "The library has no categories", body = ErrorBody)))]
pub(crate) async fn classify(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<ClassifyIn>,
) -> Result<Json<ClassifyOut>, ApiError> {
    let c = state.engine.classify(&grant, &req.text).await?;
    Ok(Json(ClassifyOut {
        category: c.category,
        confidence: c.confidence,
        alternatives: c
            .alternatives
            .into_iter()
            .map(|(category, confidence)| AlternativeOut { category, confidence })
            .collect(),
        method: c.method.as_str().to_owned(),
    }))
}
