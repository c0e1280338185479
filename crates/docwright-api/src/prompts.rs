//! Role prompts (`/prompts/roles`, SPEC C3) and the prompt library (`/api/prompts/...`, SPEC T1):
//! categories, preset system prompts, and the classification of a request.

use serde::{Deserialize, Serialize};

/// A role prompt.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleOut {
    pub id: String,
    /// The name in your language (else English).
    pub name: String,
    /// Every name, by language (`en`, `de`, `fr`, `it`, `ru`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub names: serde_json::Map<String, serde_json::Value>,
    /// `installation` (seeded, shared by every tenant) or `tenant`.
    pub scope: String,
    /// The text that shapes answers; only on `GET /prompts/roles/{id}` and writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub updated_at: String,
}

// ---- the prompt library (`/api/prompts/...`, SPEC T1)

/// A whole number, also when written as one with a zero fraction (`3.0`), as JSON Schema's
/// `integer` allows; `null` is none.
fn whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error as _;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    n.as_i64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("invalid value: {n}, expected a whole number")))
}

/// A category of the prompt library.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptCategoryOut {
    pub id: String,
    /// The stable key requests name it by, e.g. `analysis`.
    pub key: String,
    /// The name in your language (else English).
    pub name: String,
    /// The description in your language (else English), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Every name, by language (`en`, `de`, `fr`, `it`, `ru`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub names: serde_json::Map<String, serde_json::Value>,
    /// Every description, by language.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub descriptions: serde_json::Map<String, serde_json::Value>,
    /// The words the offline classifier counts, by language.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub keywords: serde_json::Map<String, serde_json::Value>,
    /// Lists are ordered by it.
    pub position: i64,
    /// `installation` (seeded, shared by every tenant) or `tenant`.
    pub scope: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A category as an administrator writes it (`POST`); `PUT` takes the same without `key` and
/// `scope`, which are fixed at creation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromptCategoryIn {
    /// 1 to 64 lower-case letters, digits, `_` or `-`; unique in its scope.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::CategoryKey))]
    pub key: String,
    /// Names by language: at least one of `en`, `de`, `fr`, `it`, `ru`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::RoleNames))]
    pub names: serde_json::Map<String, serde_json::Value>,
    /// Descriptions by language (at most 2,000 characters each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::PromptDescriptions>))]
    pub descriptions: Option<serde_json::Map<String, serde_json::Value>>,
    /// Keywords by language for the offline classifier: at most 50 per language, each at most
    /// 60 characters; a keyword of 4 or more letters also matches words it begins (`analys`
    /// matches `analysis`), one of 6 or more words it is part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::PromptKeywords>))]
    pub keywords: Option<serde_json::Map<String, serde_json::Value>>,
    /// Place in lists (default: after the last).
    #[serde(default, deserialize_with = "whole", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = -1_000_000, maximum = 1_000_000))]
    pub position: Option<i64>,
    /// `tenant` (default: your tenant's) or `installation` (every tenant's; sysadmins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::PromptScope>))]
    pub scope: Option<String>,
}

/// A category's new names, descriptions, keywords and position (`PUT`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromptCategoryUpdateIn {
    /// Names by language: at least one of `en`, `de`, `fr`, `it`, `ru`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::RoleNames))]
    pub names: serde_json::Map<String, serde_json::Value>,
    /// Descriptions by language; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::PromptDescriptions>))]
    pub descriptions: Option<serde_json::Map<String, serde_json::Value>>,
    /// Keywords by language; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::PromptKeywords>))]
    pub keywords: Option<serde_json::Map<String, serde_json::Value>>,
    /// Place in lists (default: where it is).
    #[serde(default, deserialize_with = "whole", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = -1_000_000, maximum = 1_000_000))]
    pub position: Option<i64>,
}

/// A preset of the prompt library: a system prompt in a category.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptPresetOut {
    pub id: String,
    /// The key of its category.
    pub category: String,
    /// The name in your language (else English).
    pub name: String,
    /// Every name, by language.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub names: serde_json::Map<String, serde_json::Value>,
    /// The system prompt in your language (else English).
    pub prompt: String,
    /// The system prompt in every language it has; only on `GET /api/prompts/presets/{id}` and
    /// writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub prompts: Option<serde_json::Map<String, serde_json::Value>>,
    /// Presets of a category are ordered by it: the first is the category's default.
    pub position: i64,
    /// `installation` or `tenant`.
    pub scope: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A preset as an administrator writes it (`POST`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromptPresetIn {
    /// The key of a category the preset's scope sees.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::CategoryKey))]
    pub category: String,
    /// Names by language: at least one of `en`, `de`, `fr`, `it`, `ru`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::RoleNames))]
    pub names: serde_json::Map<String, serde_json::Value>,
    /// The system prompt by language: at least one, each at most 8,000 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::PromptTexts))]
    pub prompts: serde_json::Map<String, serde_json::Value>,
    /// Place in its category (default: after the last).
    #[serde(default, deserialize_with = "whole", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = -1_000_000, maximum = 1_000_000))]
    pub position: Option<i64>,
    /// `tenant` (default: your tenant's) or `installation` (every tenant's; sysadmins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::PromptScope>))]
    pub scope: Option<String>,
}

/// A preset's new category, names, prompts and position (`PUT`; its scope stays).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromptPresetUpdateIn {
    /// The key of a category the preset's scope sees.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::CategoryKey))]
    pub category: String,
    /// Names by language: at least one of `en`, `de`, `fr`, `it`, `ru`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::RoleNames))]
    pub names: serde_json::Map<String, serde_json::Value>,
    /// The system prompt by language: at least one, each at most 8,000 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::PromptTexts))]
    pub prompts: serde_json::Map<String, serde_json::Value>,
    /// Place in its category (default: where it is).
    #[serde(default, deserialize_with = "whole", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = -1_000_000, maximum = 1_000_000))]
    pub position: Option<i64>,
}

/// A free request to classify.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClassifyIn {
    /// The request, in any language (trimmed, 1 to 20,000 characters).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Query20000))]
    pub text: String,
}

/// A category and how sure the classifier is of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlternativeOut {
    /// A category key.
    pub category: String,
    /// 0 to 1.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub confidence: f64,
}

/// The category of a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassifyOut {
    /// The key of the category that fits best.
    pub category: String,
    /// 0 to 1; a request that matched nothing gets the `general` category (else the first)
    /// with a low confidence.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub confidence: f64,
    /// Up to three other plausible categories, most likely first.
    pub alternatives: Vec<AlternativeOut>,
    /// `ai` (a model decided) or `keywords` (the categories' keywords were counted: no model
    /// was usable, or its call failed).
    pub method: String,
}
