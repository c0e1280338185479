//! Identifiers: UUIDv7 (time-ordered, so they double as a stable pagination cursor), one
//! newtype per entity so an id of one kind cannot be passed where another is expected.

use std::fmt;
use std::str::FromStr;

use crate::ParseError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            pub fn parse(s: &str) -> Result<Self, ParseError> {
                uuid::Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| ParseError::new(format!("`{s}` is not a valid id (expected a UUID)")))
            }

            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(u: uuid::Uuid) -> Self {
                Self(u)
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A tenant (the seeds' *Mandant*).
    TenantId
);
uuid_id!(
    /// A user; users belong to tenants through memberships.
    UserId
);
uuid_id!(
    /// A static login token, exchanged for access and refresh tokens.
    StaticTokenId
);
uuid_id!(
    /// An API key (`dw_...`).
    ApiKeyId
);
uuid_id!(
    /// A login session: one family of rotated refresh tokens and the access tokens issued from it.
    SessionId
);
uuid_id!(
    /// One refresh token of a session family.
    RefreshTokenId
);
uuid_id!(
    /// A stored RBAC rule.
    RuleId
);
uuid_id!(
    /// A notice (low-balance warning, monthly report) in the e-mail outbox.
    NoticeId
);
uuid_id!(
    /// An uploaded file's record (SPEC D1); its content is a blob shared by equal uploads.
    FileId
);
uuid_id!(
    /// One content part extracted from a file (SPEC D2, W3).
    PartId
);
uuid_id!(
    /// A client: the top of the projects tree (SPEC D4).
    ClientId
);
uuid_id!(
    /// A project of a client (SPEC D4).
    ProjectId
);
uuid_id!(
    /// A folder in a project; folders nest (SPEC D4).
    FolderId
);
uuid_id!(
    /// A document: a file placed in a project's tree (SPEC D4).
    DocumentId
);
uuid_id!(
    /// Something produced about a document: an extraction summary, a generation result (SPEC D4).
    ResultId
);
uuid_id!(
    /// A collection: a named, tenant-scoped set of files, searchable and usable as the context
    /// of chats and workflows (SPEC Y3).
    CollectionId
);
uuid_id!(
    /// A job of the durable queue (SPEC S2).
    JobId
);
uuid_id!(
    /// An asynchronous AI request (`POST /api/ai/process`, SPEC W1).
    AiRequestId
);
uuid_id!(
    /// A generation workflow (`POST /api/workflows`, SPEC W1-W4).
    WorkflowId
);
uuid_id!(
    /// A chat with documents (SPEC C1).
    ChatId
);
uuid_id!(
    /// A message of a chat: the user's question or the assistant's answer (SPEC C2).
    ChatMessageId
);
uuid_id!(
    /// One turn of a chat: a question, the job that answers it and its events (SPEC C2).
    ChatTurnId
);
uuid_id!(
    /// A role prompt (SPEC C3).
    RolePromptId
);
uuid_id!(
    /// A category of the prompt library (SPEC T1).
    PromptCategoryId
);
uuid_id!(
    /// A preset of the prompt library: a system prompt in a category (SPEC T1).
    PromptPresetId
);
uuid_id!(
    /// An automation template (SPEC T2).
    AutomationTemplateId
);
uuid_id!(
    /// An automation definition: a template's copy with values and a schedule (SPEC T2, T4).
    AutomationId
);
uuid_id!(
    /// One entry of an automation's execution log (SPEC T4).
    AutomationRunId
);
uuid_id!(
    /// A CRM sync source of a tenant (SPEC Y1-Y2): an EspoCRM connection and its sinks.
    SyncSourceId
);
uuid_id!(
    /// One stored webhook or reconcile event of a sync source (SPEC Y1).
    SyncEventId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = TenantId::new();
        assert_eq!(TenantId::parse(&id.to_string()), Ok(id));
        assert!(TenantId::parse("not-a-uuid").is_err());
        assert!(UserId::parse("").is_err());
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = UserId::new();
        let b = UserId::new();
        assert!(a < b || a.as_uuid().get_timestamp() == b.as_uuid().get_timestamp());
    }
}
