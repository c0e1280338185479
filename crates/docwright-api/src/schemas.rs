//! Schemas of the OpenAPI document for values the server checks beyond their JSON type
//! (SPEC P6): names that are trimmed and bounded, codes, amounts, months, cursors. Each is a
//! type of its own that only describes (`#[schema(value_type = ...)]` on the field, `inline`
//! on query parameters), so the document allows exactly what the server accepts.
//!
//! Patterns are written for both regular expression dialects that read them: ECMA-262 (the
//! one JSON Schema names) and Python's `re` (what test generators use): classes, `{m,n}`,
//! `\xHH` and `\uHHHH` escapes, no look-around and no Unicode properties.

use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};

/// Characters `str::trim` removes (Unicode `White_Space`), as a class body.
const WHITESPACE: &str = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters (`char::is_control`, Unicode `Cc`), as a class body.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";
/// A UUID in its hyphenated form.
const UUID: &str = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}";
/// Control characters other than tab, line feed and carriage return, as a class body.
const CONTROL_BUT_LINES: &str = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f";

/// Which control characters a text may hold (after trimming).
#[derive(Clone, Copy)]
pub enum Controls {
    /// None at all.
    None,
    /// Tabs and line breaks only.
    Lines,
    /// Any.
    Any,
}

/// The pattern of a text that is trimmed (Unicode whitespace at both ends does not count),
/// then holds 1 to `max` characters (0 when `may_be_empty`; any number without `max`), with
/// `controls` inside.
pub fn text_pattern(max: Option<usize>, controls: Controls, may_be_empty: bool) -> String {
    let ws = format!("[{WHITESPACE}]*");
    // The first and last character of the trimmed text: neither whitespace nor (unless any
    // may appear) a control character.
    let edge = match controls {
        Controls::Any => format!("[^{WHITESPACE}]"),
        Controls::None | Controls::Lines => format!(r"[^{WHITESPACE}\x00-\x20\x7f-\x9f]"),
    };
    let inner = match controls {
        Controls::None => format!("[^{CONTROL}]"),
        Controls::Lines => format!("[^{CONTROL_BUT_LINES}]"),
        Controls::Any => r"[\s\S]".to_owned(),
    };
    let body = match max {
        Some(0 | 1) => edge,
        Some(max) => format!("{edge}(?:{inner}{{0,{}}}{edge})?", max - 2),
        None => format!("{edge}(?:{inner}*{edge})?"),
    };
    let body = if may_be_empty { format!("(?:{body})?") } else { body };
    format!("^{ws}{body}{ws}$")
}

fn string(pattern: String, description: &str) -> Object {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).description(Some(description)).build()
}

/// Declares a type that stands for a checked value in the document.
macro_rules! documented {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T(Schema::from($schema))
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

fn name(max: usize) -> Object {
    string(
        text_pattern(Some(max), Controls::None, false),
        &format!("Trimmed, then 1 to {max} characters without control characters."),
    )
}

fn text(max: usize) -> Object {
    string(
        text_pattern(Some(max), Controls::Lines, false),
        &format!("Trimmed, then 1 to {max} characters; tabs and line breaks are the only control characters."),
    )
}

documented!(
    /// A name of at most 100 characters (tenants, tokens, keys, role names).
    Name100 => name(100)
);
documented!(
    /// A name of at most 200 characters (people, clients, projects, folders, titles).
    Name200 => name(200)
);
documented!(
    /// A text of at most 2,000 characters.
    Text2000 => text(2000)
);
documented!(
    /// A text of at most 8,000 characters.
    Text8000 => text(8000)
);
documented!(
    /// A text of at most 32,000 characters.
    Text32000 => text(32_000)
);
documented!(
    /// A description: trimmed, at most 4,000 characters; empty (or only spaces) means none.
    Description4000 => string(
        text_pattern(Some(4000), Controls::Any, true),
        "Trimmed, then at most 4,000 characters; empty means none.",
    )
);
documented!(
    /// A text that is not only whitespace.
    NotBlank => string(text_pattern(None, Controls::Any, false), "Not empty and not only whitespace.")
);
documented!(
    /// The id of a role prompt, as kept in the settings.
    RoleId => {
        let mut o = string(text_pattern(None, Controls::Any, false), "A role prompt's id (GET /prompts/roles), at most 200 characters.");
        o.max_length = Some(200);
        o
    }
);
documented!(
    /// A line of an address: not blank, at most 200 characters.
    Line200 => {
        let mut o = string(text_pattern(None, Controls::Any, false), "Not blank, at most 200 characters.");
        o.max_length = Some(200);
        o
    }
);
fn provider_key() -> Object {
    let mut o = string(
        text_pattern(None, Controls::None, false),
        "A provider's key: trimmed, then 1 to 4,096 characters without control characters.",
    );
    o.max_length = Some(4096);
    o
}

documented!(
    /// A provider's API key.
    ProviderKey => provider_key()
);
documented!(
    /// A workflow's prompt.
    Prompt100000 => string(
        text_pattern(Some(100_000), Controls::Any, false),
        "Trimmed, then 1 to 100,000 characters.",
    )
);
documented!(
    /// The query of an AI request.
    Query32000 => string(text_pattern(Some(32_000), Controls::Any, false), "Trimmed, then 1 to 32,000 characters.")
);
documented!(
    /// A title that may be left empty.
    OptionalTitle200 => string(
        text_pattern(Some(200), Controls::None, true),
        "Trimmed, then at most 200 characters without control characters; empty means none.",
    )
);
documented!(
    /// Words to search for.
    SearchWords => string(r"[^\W_]".to_owned(), "At least one word with a letter or a digit.")
);
documented!(
    /// The id of a chat event.
    ChatEventId => string(
        format!(r"^[{WHITESPACE}]*{UUID}:[0-9]{{1,19}}[{WHITESPACE}]*$"),
        "`<turn id>:<number>`, as the events' `id`.",
    )
);
documented!(
    /// A range of spreadsheet cells.
    CellRange => {
        // Columns A to XFD, rows 1 to 1,048,576, as a sheet has them.
        let column = "(?:[A-Za-z]{1,2}|[A-Ea-e][A-Za-z]{2}|[Ff][A-Wa-w][A-Za-z]|[Ff][Xx][A-Da-d])";
        let row = "(?:[1-9][0-9]{0,5}|10[0-3][0-9]{4}|104[0-7][0-9]{3}|1048[0-4][0-9]{2}|10485[0-6][0-9]|104857[0-6])";
        let cell = format!(r"\$?{column}\$?{row}");
        string(
            format!("^ *{cell}(?::{cell})? *$"),
            "A cell or a range such as A1:D10, without a sheet; its first cell is the top-left one.",
        )
    }
);
documented!(
    /// A table of spreadsheet cells.
    Table => {
        use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
        let cell = OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String).max_length(Some(2000)))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build();
        let row = ArrayBuilder::new().items(RefOr::T(Schema::OneOf(cell))).max_items(Some(100)).build();
        ArrayBuilder::new()
            .items(RefOr::T(Schema::Array(row)))
            .min_items(Some(1))
            .max_items(Some(1000))
            .description(Some("Rows of cells: at most 1,000 rows of 100 cells, 10,000 cells in all."))
            .build()
    }
);
documented!(
    /// One event of a `text/event-stream` answer, as a client reads it.
    SseEvent => {
        let mut o = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("One Server-Sent Event: its id (to resume after), its name and its data, a JSON text."))
            .property("id", ObjectBuilder::new().schema_type(Type::String))
            .property("event", ObjectBuilder::new().schema_type(Type::String))
            .property("data", ObjectBuilder::new().schema_type(Type::String).content_media_type("application/json"))
            .required("id")
            .required("event")
            .required("data")
            .build();
        o.additional_properties = None;
        o
    }
);
fn distinct_ids(max: usize, what: &str) -> utoipa::openapi::schema::Array {
    let id = ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(id)
        .max_items(Some(max))
        .unique_items(true)
        .description(Some(format!("At most {max} {what}, each once.")))
        .build()
}

documented!(
    /// The files attached to a chat message.
    Attachments => distinct_ids(20, "files")
);
documented!(
    /// The files a workflow works on.
    WorkflowFiles => distinct_ids(200, "files")
);
documented!(
    /// A time in RFC 3339.
    DateTime => ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some("RFC 3339, e.g. 2026-01-31T12:00:00Z."))
        .build()
);
documented!(
    /// A calendar month.
    Month => string(r"^[0-9]{4}-(?:0[1-9]|1[0-2])$".to_owned(), "YYYY-MM (UTC), e.g. 2026-11.")
);
documented!(
    /// An e-mail address.
    Email => {
        let part = format!("[^{WHITESPACE}@.{CONTROL}]+");
        let mut o = string(
            format!("^[{WHITESPACE}]*[^{WHITESPACE}@{CONTROL}]+@{part}(?:\\.{part})+[{WHITESPACE}]*$"),
            "An e-mail address: one `@`, a dotted domain, no spaces or control characters, at most 254 characters.",
        );
        o.max_length = Some(254);
        o
    }
);
documented!(
    /// A currency code.
    Currency => string("^[A-Z]{3}$".to_owned(), "ISO 4217, three capital letters, e.g. CHF.")
);
documented!(
    /// An amount of money.
    Amount => string(r"^-?[0-9]{1,12}(?:\.[0-9]{1,6})?$".to_owned(), "A decimal with at most 6 decimal places, e.g. 12.50.")
);
documented!(
    /// An amount of money that is not negative.
    NonNegativeAmount => string(r"^[0-9]{1,12}(?:\.[0-9]{1,6})?$".to_owned(), "A decimal of at least 0 with at most 6 decimal places, e.g. 12.50.")
);
documented!(
    /// An amount of money above zero.
    PositiveAmount => string(
        r"^(?:[1-9][0-9]{0,11}(?:\.[0-9]{1,6})?|0\.(?:[1-9][0-9]{0,5}|0[1-9][0-9]{0,4}|00[1-9][0-9]{0,3}|000[1-9][0-9]{0,2}|0000[1-9][0-9]?|00000[1-9]))$"
            .to_owned(),
        "A decimal above 0 with at most 6 decimal places, e.g. 12.50.",
    )
);
documented!(
    /// A page cursor.
    Cursor => string(cursor_pattern(), "`next_cursor` of the previous page.")
);

/// Declares a type that stands for one of a few words in the document.
macro_rules! one_of {
    ($(#[$doc:meta])* $name:ident => [$($word:literal),+ $(,)?]) => {
        documented!($(#[$doc])* $name => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([$($word),+]))
            .build());
    };
}

one_of!(
    /// A role in a tenant.
    RoleName => ["sysadmin", "admin", "user", "viewer"]
);
one_of!(
    /// A role that permission rules are written for (a sysadmin has none).
    RuleRole => ["admin", "user", "viewer"]
);
one_of!(
    /// How far a rule reaches (`all`, across tenants, is the sysadmins').
    RuleLevel => ["none", "my", "tenant"]
);
one_of!(
    /// Which models `auto` prefers.
    ModelProfileName => ["simple", "complex"]
);
one_of!(
    /// What happens to an automation's slots missed while no scheduler ran.
    MissedPolicyName => ["skip", "run_once"]
);
one_of!(
    /// A language the product speaks.
    LanguageCode => ["en", "de", "fr", "it", "ru"]
);
one_of!(
    /// The format of a workflow's document.
    OutputFormat => ["docx", "pdf", "xlsx", "csv", "pptx", "html", "md", "json", "txt"]
);
one_of!(
    /// How a tenant pays.
    BillingModelName => ["prepay_tenant", "prepay_user", "credit_postpay", "unlimited"]
);
one_of!(
    /// The step of a usage chart.
    ChartPeriod => ["day", "month", "year"]
);
one_of!(
    /// The state of a job.
    JobStateName => ["available", "running", "retryable", "completed", "cancelled", "discarded"]
);

documented!(
    /// A role prompt's names by language.
    RoleNames => {
        let mut o = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("At least one of the languages; each name trimmed, 1 to 100 characters."))
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)))
            .build();
        for lang in ["en", "de", "fr", "it", "ru"] {
            o.properties.insert(lang.to_owned(), RefOr::T(Schema::Object(name(100))));
        }
        o.min_properties = Some(1);
        o
    }
);

/// An object with a value of `item`'s schema for some of the product's languages.
fn by_language(item: Schema, description: &str, at_least_one: bool) -> Object {
    let mut o = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)))
        .build();
    for lang in ["en", "de", "fr", "it", "ru"] {
        o.properties.insert(lang.to_owned(), RefOr::T(item.clone()));
    }
    if at_least_one {
        o.min_properties = Some(1);
    }
    o
}

documented!(
    /// The key of a prompt library category.
    CategoryKey => string("^[a-z0-9_-]{1,64}$".to_owned(), "1 to 64 lower-case letters, digits, `_` or `-`, e.g. analysis.")
);
one_of!(
    /// Where a prompt library row goes.
    PromptScope => ["tenant", "installation"]
);
documented!(
    /// A prompt category's descriptions by language.
    PromptDescriptions => by_language(
        Schema::Object(text(2000)),
        "Descriptions by language; each trimmed, 1 to 2,000 characters.",
        false,
    )
);
documented!(
    /// A prompt category's keywords by language.
    PromptKeywords => {
        let words = utoipa::openapi::schema::ArrayBuilder::new()
            .items(RefOr::T(Schema::Object(name(60))))
            .max_items(Some(50))
            .build();
        by_language(Schema::Array(words), "At most 50 keywords per language, each trimmed, 1 to 60 characters.", false)
    }
);
documented!(
    /// A preset's system prompt by language.
    PromptTexts => by_language(
        Schema::Object(text(8000)),
        "At least one of the languages; each trimmed, 1 to 8,000 characters.",
        true,
    )
);
documented!(
    /// A request to classify.
    Query20000 => string(text_pattern(Some(20_000), Controls::Any, false), "Trimmed, then 1 to 20,000 characters.")
);

/// The name of a configured AI provider. The running server's document lists its providers
/// (see [`components`]).
pub struct ProviderName;

impl utoipa::PartialSchema for ProviderName {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The name of a configured provider (GET /api/admin/ai/providers)."))
                .build(),
        ))
    }
}

impl utoipa::ToSchema for ProviderName {}

/// Your own provider keys by provider (see [`components`]).
pub struct ProviderKeys;

impl utoipa::PartialSchema for ProviderKeys {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(ObjectBuilder::new().schema_type(Type::Object).build()))
    }
}

impl utoipa::ToSchema for ProviderKeys {}

/// An item a permission rule names (see [`components`]).
pub struct RbacItem;

impl utoipa::PartialSchema for RbacItem {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(ObjectBuilder::new().schema_type(Type::String).build()))
    }
}

impl utoipa::ToSchema for RbacItem {}

/// Component schemas written as JSON: what utoipa's model cannot say (`not`, `propertyNames`)
/// and what only a running server knows (its `providers`). They replace the placeholders of
/// the same names.
pub fn components(providers: Option<&[&str]>) -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let mut provider = json!({
        "type": "string",
        "description": "The name of a configured provider (GET /api/admin/ai/providers).",
    });
    if let Some(names) = providers.filter(|p| !p.is_empty()) {
        provider["enum"] = json!(names);
    }
    let key = serde_json::to_value(provider_key()).unwrap_or_default();
    let provider_keys = json!({
        "type": "object",
        "description": "`{\"openai\": \"sk-...\"}` stores your key for a provider (encrypted, never shown again), \
                        `{\"openai\": null}` deletes it. A key is at most 4,096 bytes, without control characters.",
        "propertyNames": {"$ref": "#/components/schemas/ProviderName"},
        "additionalProperties": {"oneOf": [key, {"type": "null"}]},
    });
    let mut all = vec![("ProviderName", provider), ("ProviderKeys", provider_keys), ("RbacItem", rbac_item())];
    all.extend(front_door());
    all
}

/// Stands for a component written as JSON in [`front_door`].
macro_rules! placeholder {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T(Schema::Object(ObjectBuilder::new().build()))
            }
        }

        impl utoipa::ToSchema for $name {}
    )*};
}

placeholder!(
    /// A Chat Completions message (`system`, `developer`, `user`, `assistant` or `tool`).
    ChatMessage,
    /// A Chat Completions tool: `{type: "function", function: {name, description, parameters}}`.
    ChatTool,
    /// `auto`, `none`, `required` or `{type: "function", function: {name}}`.
    ChatToolChoice,
    /// `response_format`: `text`, `json_object` or `json_schema`.
    ResponseFormat,
    /// Embeddings `input`: a text or a list of texts.
    EmbeddingInput,
    /// Responses `input`: a text or a list of items.
    ResponseInput,
    /// A Responses tool: `{type: "function", name, description, parameters}`.
    ResponseTool,
    /// `auto`, `none`, `required` or `{type: "function", name}`.
    ResponseToolChoice,
    /// Responses `text`: `{format: {type: text | json_object | json_schema, schema}}`.
    ResponseText,
    /// A field that is refused whenever it is given: only `null` (or leaving it out) is taken.
    OnlyNull,
);

/// The OpenAI-compatible front door's request shapes (`/v1/chat/completions`,
/// `/v1/embeddings`, `/v1/responses`), as exactly as `routes/openai.rs` and
/// `routes/responses.rs` parse them.
fn front_door() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let data_url = json!({"type": "string",
        "pattern": "^data:[^;,]*;base64,(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
        "description": "A data: URL with base64 content; docwright fetches no URLs."});
    let function_name = json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"});
    // An object schema: `type` absent (an object is meant) or `object`.
    let parameters = json!({"oneOf": [
        {"type": "object", "properties": {"type": {"const": "object"}}, "description": "A JSON Schema of an object."},
        {"type": "null"}]});
    let text_part = json!({"type": "object", "required": ["type"],
        "properties": {"type": {"const": "text"}, "text": {"type": "string"}}});
    let image_part = json!({"type": "object", "required": ["type", "image_url"],
        "properties": {"type": {"const": "image_url"},
                       "image_url": {"type": "object", "required": ["url"], "properties": {"url": data_url}}}});
    let content =
        json!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"oneOf": [text_part, image_part]}}]});
    let chat_message = json!({"oneOf": [
        {"type": "object", "required": ["role", "content"],
         "properties": {"role": {"enum": ["system", "developer", "user"]}, "content": content}},
        {"type": "object", "required": ["role"],
         "properties": {"role": {"const": "assistant"},
                        "content": {"oneOf": [content, {"type": "null"}]},
                        "tool_calls": {"type": "array", "items": {"type": "object", "required": ["id", "function"],
                            "properties": {"id": {"type": "string"}, "type": {"const": "function"},
                                           "function": {"type": "object", "required": ["name"],
                                               "properties": {"name": {"type": "string"}, "arguments": {"type": "string"}}}}}}}},
        {"type": "object", "required": ["role", "tool_call_id", "content"],
         "properties": {"role": {"const": "tool"}, "tool_call_id": {"type": "string", "minLength": 1},
                        "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": text_part}]}}},
    ]});
    let chat_tool = json!({"type": "object", "required": ["type", "function"],
        "properties": {"type": {"const": "function"},
                       "function": {"type": "object", "required": ["name"],
                           "properties": {"name": function_name, "description": {"type": "string"}, "parameters": parameters}}},
        "description": "Names are unique among a request's tools."});
    let choice_words = json!({"enum": ["auto", "none", "required"]});
    let chat_tool_choice = json!({"oneOf": [choice_words,
        {"type": "object", "required": ["type", "function"],
         "properties": {"type": {"const": "function"},
                        "function": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}],
        "description": "`required` and a function need tools; a function must be one of them."});
    let json_schema = json!({"type": "object", "description": "A JSON Schema."});
    let response_format = json!({"oneOf": [
        {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["text", "json_object"]}}},
        {"type": "object", "required": ["type"], "properties": {"type": {"const": "json_schema"},
            "json_schema": {"type": "object", "properties": {"schema": json_schema}}}}]});
    let non_blank = json!({"type": "string", "pattern": text_pattern(None, Controls::Any, false)});
    let embedding_input = json!({"oneOf": [non_blank,
        {"type": "array", "minItems": 1, "maxItems": 2048, "items": non_blank}],
        "description": "A text or 1 to 2,048 texts, none blank (token arrays are not taken)."});
    let input_text = json!({"type": "object", "required": ["type"],
        "properties": {"type": {"enum": ["input_text", "output_text"]}, "text": {"type": "string"}}});
    let refusal = json!({"type": "object", "required": ["type"],
        "properties": {"type": {"const": "refusal"}, "refusal": {"type": "string"}}});
    let input_image = json!({"type": "object", "required": ["type", "image_url"],
        "properties": {"type": {"const": "input_image"}, "image_url": data_url}});
    let item = |role: Value, parts: Value| {
        json!({"type": "object", "required": ["role", "content"],
               "properties": {"type": {"const": "message"}, "role": role,
                              "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": parts}]}}})
    };
    use serde_json::Value;
    let response_input = json!({"oneOf": [
        {"type": "string"},
        {"type": "array", "minItems": 1, "items": {"oneOf": [
            item(json!({"const": "user"}), json!({"oneOf": [input_text, refusal, input_image]})),
            item(json!({"enum": ["system", "developer", "assistant"]}), json!({"oneOf": [input_text, refusal]})),
            {"type": "object", "required": ["type", "call_id", "name"],
             "properties": {"type": {"const": "function_call"}, "call_id": {"type": "string"},
                            "name": {"type": "string"}, "arguments": {"type": "string"}}},
            {"type": "object", "required": ["type", "call_id", "output"],
             "properties": {"type": {"const": "function_call_output"}, "call_id": {"type": "string", "minLength": 1},
                            "output": {"oneOf": [{"type": "string"}, {"type": "array", "items": input_text}]}}},
            {"type": "object", "required": ["type"], "properties": {"type": {"const": "reasoning"}}},
        ]}}],
        "description": "A text (one user message) or the conversation's items; at least one not a system message."});
    let response_tool = json!({"type": "object", "required": ["type", "name"],
        "properties": {"type": {"const": "function"}, "name": function_name, "description": {"type": "string"},
                       "parameters": parameters},
        "description": "Names are unique among a request's tools."});
    let response_tool_choice = json!({"oneOf": [choice_words,
        {"type": "object", "required": ["type", "name"],
         "properties": {"type": {"const": "function"}, "name": {"type": "string"}}}],
        "description": "`required` and a function need tools; a function must be one of them."});
    let response_text = json!({"type": "object", "properties": {"format": {"oneOf": [
        {"type": "null"},
        {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["text", "json_object"]}}},
        {"type": "object", "required": ["type"], "properties": {"type": {"const": "json_schema"}, "schema": json_schema}}]}}});
    vec![
        ("ChatMessage", chat_message),
        ("ChatTool", chat_tool),
        ("ChatToolChoice", chat_tool_choice),
        ("ResponseFormat", response_format),
        ("EmbeddingInput", embedding_input),
        ("ResponseInput", response_input),
        ("ResponseTool", response_tool),
        ("ResponseToolChoice", response_tool_choice),
        ("ResponseText", response_text),
        ("OnlyNull", json!({"type": "null"})),
    ]
}

/// Keywords added to derived component schemas, for rules between their fields.
pub fn amendments() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    vec![(
        "SettingsBody",
        json!({
            "if": {"properties": {"billing_model": {"const": "credit_postpay"}}, "required": ["billing_model"]},
            "then": {"required": ["billing_address"], "properties": {"billing_address": {"type": "object"}}},
        }),
    )]
}

/// Exactly the items `docwright_core::rbac::is_known_item` takes: the catalog's items,
/// members of the open families (not of the closed system namespace), and prefixes (`.*`) of
/// either.
fn rbac_item() -> serde_json::Value {
    use docwright_core::rbac::items::{CATALOG, FAMILIES, SYSTEM_PREFIX};
    use serde_json::json;
    const SEGMENT: &str = "[A-Za-z0-9_-]+";
    let escape = |s: &str| s.replace('.', r"\.");
    let mut prefixes: Vec<String> = Vec::new();
    for item in CATALOG.iter().map(|(i, _)| *i).chain(FAMILIES.iter().map(|(f, _)| f.trim_end_matches('.'))) {
        let segments: Vec<&str> = item.split('.').collect();
        for n in 1..segments.len() {
            prefixes.push(format!("{}.*", segments[..n].join(".")));
        }
    }
    prefixes.sort();
    prefixes.dedup();
    let families: Vec<String> = FAMILIES.iter().map(|(f, _)| escape(f)).collect();
    let members = format!("^(?:{}){SEGMENT}(?:\\.{SEGMENT})*$", families.join("|"));
    let family_prefixes = format!("^(?:{})(?:{SEGMENT}\\.)*\\*$", families.join("|"));
    json!({
        "type": "string",
        "maxLength": 200,
        "description": "An item (GET /api/admin/rbac/items): exact, a member of a family, or a prefix ending in `.*`.",
        "anyOf": [
            {"enum": CATALOG.iter().map(|(i, _)| *i).collect::<Vec<_>>()},
            {"allOf": [{"pattern": members}, {"not": {"pattern": format!("^{}", escape(SYSTEM_PREFIX))}}]},
            {"enum": prefixes},
            {"pattern": family_prefixes},
        ],
    })
}

/// The cursors the server's pagination makes: base64url (no padding) of a UUID
/// in its hyphenated lower-case form, and nothing else.
pub fn cursor_pattern() -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    // The characters of a hyphenated UUID, position by position.
    let classes: Vec<&[u8]> =
        (0..36).map(|i| if [8, 13, 18, 23].contains(&i) { b"-".as_slice() } else { HEX }).collect();
    let mut out = String::from("^");
    for group in classes.chunks(3) {
        out.push_str(&base64_group(group[0], group[1], group[2]));
    }
    out.push('$');
    out
}

/// A regular expression for the four base64url characters of three bytes drawn from `a`,
/// `b` and `c`. The first two characters depend on `a` and the high half of `b`, the last
/// two on the low half of `b` and on `c`: the alternation runs over the high halves of `b`.
fn base64_group(a: &[u8], b: &[u8], c: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let class = |mut values: Vec<u8>| {
        values.sort_unstable();
        values.dedup();
        let chars: String = values
            .iter()
            .map(|&v| match ALPHABET[usize::from(v)] {
                b'-' => r"\-".to_owned(),
                ch => char::from(ch).to_string(),
            })
            .collect();
        if values.len() == 1 { chars } else { format!("[{chars}]") }
    };
    let mut highs: Vec<u8> = b.iter().map(|x| x >> 4).collect();
    highs.sort_unstable();
    highs.dedup();
    let mut alternatives = Vec::new();
    for high in highs {
        // First character: the top six bits of `a`; second: its low two bits and `high`.
        let mut firsts: Vec<u8> = a.iter().map(|x| x >> 2).collect();
        firsts.sort_unstable();
        firsts.dedup();
        let head: Vec<String> = firsts
            .iter()
            .map(|&first| {
                let seconds = a.iter().filter(|x| *x >> 2 == first).map(|x| ((x & 3) << 4) | high).collect();
                format!("{}{}", class(vec![first]), class(seconds))
            })
            .collect();
        // Third character: the low four bits of `b` and the top two of `c`; fourth: the rest of `c`.
        let mut tops: Vec<u8> = c.iter().map(|x| x >> 6).collect();
        tops.sort_unstable();
        tops.dedup();
        let tail: Vec<String> = tops
            .iter()
            .map(|&top| {
                let thirds = b.iter().filter(|x| *x >> 4 == high).map(|x| ((x & 15) << 2) | top).collect();
                let fourths = c.iter().filter(|x| *x >> 6 == top).map(|x| x & 63).collect();
                format!("{}{}", class(thirds), class(fourths))
            })
            .collect();
        alternatives.push(format!("(?:{})(?:{})", head.join("|"), tail.join("|")));
    }
    format!("(?:{})", alternatives.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_patterns_bound_the_trimmed_text() {
        let ws = format!("[{WHITESPACE}]*");
        let edge = format!(r"[^{WHITESPACE}\x00-\x20\x7f-\x9f]");
        assert_eq!(
            text_pattern(Some(5), Controls::None, false),
            format!(r"^{ws}{edge}(?:[^\x00-\x1f\x7f-\x9f]{{0,3}}{edge})?{ws}$")
        );
        assert_eq!(text_pattern(Some(1), Controls::Lines, true), format!("^{ws}(?:{edge})?{ws}$"));
        assert_eq!(
            text_pattern(None, Controls::Any, false),
            format!(r"^{ws}[^{WHITESPACE}](?:[\s\S]*[^{WHITESPACE}])?{ws}$")
        );
    }

    #[test]
    fn cursor_groups_spell_the_base64_of_their_bytes() {
        // "---" is "LS0t" and "abc" is "YWJj": one byte each, one string each.
        assert_eq!(base64_group(b"-", b"-", b"-"), "(?:(?:LS)(?:0t))");
        assert_eq!(base64_group(b"a", b"b", b"c"), "(?:(?:YW)(?:Jj))");
        // Two choices for the middle byte with different high halves: one alternative each.
        assert_eq!(base64_group(b"a", b"1b", b"c"), "(?:(?:YT)(?:Fj)|(?:YW)(?:Jj))");
        let p = cursor_pattern();
        assert!(p.starts_with("^(?:") && p.ends_with(")$"), "{p}");
        assert_eq!(p.matches("(?:(?:").count(), 12, "twelve groups of three bytes: {p}");
    }
}
