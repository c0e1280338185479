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
        (name = "ai", description = "Asynchronous AI requests (GigaOffice style): submit, status, result, cancel"),
        (name = "chats", description = "Chats with documents: answers streamed as events with citations, role prompts"),
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
