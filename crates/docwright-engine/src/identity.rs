//! Authentication (SPEC P4).
//!
//! - A static token is exchanged for a short-lived access token (an HS256 JWT naming the user
//!   and the session) and an opaque refresh token (stored hashed).
//! - A refresh token is used once: each refresh returns a new pair. Presenting a used refresh
//!   token again means a copy leaked, so the whole session (its "family") is revoked.
//! - Access tokens stop working at once when their session is revoked (logout, reuse, revoked
//!   static token): authentication checks the session, not only the signature.
//! - API keys (`dw_...`) authenticate directly and are bound to one tenant.

use docwright_core::id::{ApiKeyId, SessionId, TenantId, UserId};
use docwright_core::time::Timestamp;
use docwright_core::token::{OpaqueToken, TokenHash, TokenKind};
use docwright_storage::auth::{NewSession, Rotation};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{Engine, Error, Result};

/// Keys for signing and verifying access tokens.
#[derive(Clone)]
pub(crate) struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl JwtKeys {
    pub(crate) fn new(secret: &[u8]) -> Self {
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret) }
    }
}

const ISSUER: &str = "docwright";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
}

/// What `/auth/exchange` and `/auth/refresh` return.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: OpaqueToken,
    pub expires_in: i64,
}

/// Who is calling, after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: UserId,
    pub credential: Credential,
}

/// The credential a request was authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An access token of this session; `tenant` binds it to one tenant when the static token
    /// that opened it was issued by a tenant admin.
    Session { id: SessionId, tenant: Option<TenantId> },
    /// An API key, which acts only in its own tenant.
    ApiKey { id: ApiKeyId, tenant: TenantId },
}

impl Credential {
    /// The credential as work done later on its owner's behalf stores it (an AI request, a
    /// workflow): kind (`session` or `api_key`), id, and the tenant it is bound to.
    pub(crate) fn stored(&self) -> (&'static str, String, Option<TenantId>) {
        match self {
            Credential::Session { id, tenant } => ("session", id.to_string(), *tenant),
            Credential::ApiKey { id, tenant } => ("api_key", id.to_string(), Some(*tenant)),
        }
    }

    /// The credential [`Credential::stored`] stored, for work of tenant `work_tenant` (an API
    /// key acts only there).
    pub(crate) fn restore(
        kind: &str,
        id: &str,
        tenant: Option<TenantId>,
        work_tenant: TenantId,
    ) -> std::result::Result<Credential, docwright_core::ParseError> {
        Ok(match kind {
            "api_key" => Credential::ApiKey { id: ApiKeyId::parse(id)?, tenant: tenant.unwrap_or(work_tenant) },
            _ => Credential::Session { id: SessionId::parse(id)?, tenant },
        })
    }
}

fn unauthenticated(code: &'static str, message: &str) -> Error {
    Error::Unauthenticated { code, message: message.to_owned() }
}

impl Engine {
    /// `POST /auth/exchange`: a static token for a new session.
    pub async fn exchange(&self, static_token: &str) -> Result<TokenPair> {
        let presented = OpaqueToken::from_presented(static_token.trim());
        let record = self
            .db
            .static_token_by_hash(&presented.hash())
            .await?
            .ok_or_else(|| unauthenticated("invalid_token", "the static token is not valid"))?;
        if record.revoked_at.is_some() {
            return Err(unauthenticated("invalid_token", "the static token has been revoked"));
        }
        self.ensure_active(record.user_id).await?;
        let now = Timestamp::now();
        self.db.touch_static_token(record.id, now).await?;
        let session = SessionId::new();
        let refresh = OpaqueToken::generate(TokenKind::Refresh);
        let open = NewSession {
            id: session,
            user: record.user_id,
            static_token: Some(record.id),
            tenant: record.tenant_id,
            created_at: now,
        };
        self.db.create_session(&open, &refresh.hash(), now.plus_secs(self.auth.refresh_ttl_secs)).await?;
        tracing::info!(user = %record.user_id, %session, "session opened");
        self.pair(record.user_id, session, refresh, now)
    }

    /// The local operator (`docwright generate`): a session of ROOT's first active sysadmin,
    /// opened without a token because whoever runs the binary on its data directory already
    /// holds everything the database does. Never reachable over HTTP. The session is revoked
    /// by [`Engine::close_operator_session`] when the command ends.
    pub async fn operator_principal(&self) -> Result<Principal> {
        let root = self
            .db
            .tenant_by_name(crate::bootstrap::ROOT_TENANT)
            .await?
            .ok_or_else(|| Error::Internal("the ROOT tenant does not exist yet".to_owned()))?;
        let mut after: Option<String> = None;
        let admin = loop {
            let page = self
                .db
                .list_members(root.id, docwright_storage::PageRequest { after: after.as_deref(), limit: 200 })
                .await?;
            if let Some(m) =
                page.items.iter().find(|m| m.role == docwright_core::role::Role::Sysadmin && !m.user.disabled)
            {
                break m.user.id;
            }
            match (page.has_more, page.items.last()) {
                (true, Some(last)) => after = Some(last.user.id.to_string()),
                _ => return Err(Error::Internal("ROOT has no active sysadmin".to_owned())),
            }
        };
        let now = Timestamp::now();
        let session = SessionId::new();
        let open = NewSession { id: session, user: admin, static_token: None, tenant: None, created_at: now };
        let refresh = OpaqueToken::generate(TokenKind::Refresh);
        self.db.create_session(&open, &refresh.hash(), now.plus_secs(self.auth.refresh_ttl_secs)).await?;
        tracing::info!(user = %admin, %session, "operator session opened");
        Ok(Principal { user: admin, credential: Credential::Session { id: session, tenant: None } })
    }

    /// Ends a session [`Engine::operator_principal`] opened.
    pub async fn close_operator_session(&self, principal: &Principal) -> Result<()> {
        if let Credential::Session { id, .. } = principal.credential {
            self.db.revoke_session(id, "operator_done", Timestamp::now()).await?;
            self.cache.invalidate();
        }
        Ok(())
    }

    /// `POST /auth/refresh`: rotate a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        let presented = TokenHash::of(refresh_token.trim());
        let next = OpaqueToken::generate(TokenKind::Refresh);
        let now = Timestamp::now();
        let expires = now.plus_secs(self.auth.refresh_ttl_secs);
        match self.db.rotate_refresh_token(&presented, &next.hash(), now, expires).await? {
            Rotation::Rotated { session, user } => {
                self.ensure_active(user).await?;
                self.pair(user, session, next, now)
            }
            Rotation::Reused { session } => {
                self.cache.invalidate();
                tracing::warn!(%session, "refresh token reused: session revoked");
                Err(unauthenticated(
                    "refresh_token_reused",
                    "this refresh token was already used; the session has been revoked, log in again",
                ))
            }
            Rotation::Expired => Err(unauthenticated("token_expired", "the refresh token has expired")),
            Rotation::Revoked => Err(unauthenticated("session_revoked", "the session has been revoked")),
            Rotation::Unknown => Err(unauthenticated("invalid_token", "the refresh token is not valid")),
        }
    }

    /// `POST /auth/logout`: revoke the session of a refresh token, or the caller's session.
    /// Returns whether a session was revoked.
    pub async fn logout(&self, refresh_token: Option<&str>, principal: Option<&Principal>) -> Result<bool> {
        let now = Timestamp::now();
        let revoked = if let Some(rt) = refresh_token {
            self.db.revoke_session_of_refresh(&TokenHash::of(rt.trim()), now).await?
        } else {
            match principal.map(|p| &p.credential) {
                Some(Credential::Session { id, .. }) => self.db.revoke_session(*id, "logout", now).await?,
                _ => {
                    return Err(Error::invalid(
                        "refresh_token",
                        "give the refresh token, or call with an access token",
                    ));
                }
            }
        };
        self.cache.invalidate();
        Ok(revoked)
    }

    /// Authenticates `Authorization: Bearer <credential>`: an access token or an API key.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal> {
        let bearer = bearer.trim();
        if bearer.starts_with(TokenKind::ApiKey.prefix()) {
            return self.authenticate_api_key(bearer).await;
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        let data =
            jsonwebtoken::decode::<Claims>(bearer, &self.jwt.decoding, &validation).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    unauthenticated("token_expired", "the access token has expired; refresh it")
                }
                _ => unauthenticated("invalid_token", "the access token is not valid"),
            })?;
        let user = UserId::parse(&data.claims.sub)
            .map_err(|_| unauthenticated("invalid_token", "the access token is not valid"))?;
        let session = SessionId::parse(&data.claims.sid)
            .map_err(|_| unauthenticated("invalid_token", "the access token is not valid"))?;
        let cache_key = format!("s:{session}");
        let ticket = match self.cache.get(&self.cache.principals, &cache_key) {
            Ok(p) if p.user == user => return Ok(p),
            Ok(_) => return Err(unauthenticated("invalid_token", "the access token is not valid")),
            Err(ticket) => ticket,
        };
        let stored = self.db.session(session).await?;
        let tenant = match stored {
            Some(s) if s.user_id == user && s.revoked_at.is_none() => s.tenant_id,
            Some(s) if s.revoked_at.is_some() => {
                return Err(unauthenticated("session_revoked", "the session has been revoked"));
            }
            _ => return Err(unauthenticated("invalid_token", "the access token is not valid")),
        };
        self.ensure_active(user).await?;
        let principal = Principal { user, credential: Credential::Session { id: session, tenant } };
        self.cache.put(&self.cache.principals, ticket, cache_key, principal.clone());
        Ok(principal)
    }

    async fn authenticate_api_key(&self, key: &str) -> Result<Principal> {
        let hash = TokenHash::of(key);
        let cache_key = format!("k:{}", hash.as_str());
        let ticket = match self.cache.get(&self.cache.principals, &cache_key) {
            Ok(p) => return Ok(p),
            Err(ticket) => ticket,
        };
        let record = self
            .db
            .api_key_by_hash(&hash)
            .await?
            .ok_or_else(|| unauthenticated("invalid_api_key", "the API key is not valid"))?;
        let now = Timestamp::now();
        if record.revoked_at.is_some() {
            return Err(unauthenticated("invalid_api_key", "the API key has been revoked"));
        }
        if record.expires_at.is_some_and(|e| e <= now) {
            return Err(unauthenticated("token_expired", "the API key has expired"));
        }
        self.ensure_active(record.user_id).await?;
        // Record use at most once a minute: a write per request would serialise SQLite.
        if record.last_used_at.is_none_or(|t| now.millis() - t.millis() > 60_000) {
            self.db.touch_api_key(record.id, now).await?;
        }
        let principal = Principal {
            user: record.user_id,
            credential: Credential::ApiKey { id: record.id, tenant: record.tenant_id },
        };
        // A key that expires within the cache's lifetime is not remembered past its expiry.
        if record.expires_at.is_none_or(|e| e.millis() - now.millis() > self.auth.cache_ttl.as_millis() as i64) {
            self.cache.put(&self.cache.principals, ticket, cache_key, principal.clone());
        }
        Ok(principal)
    }

    async fn ensure_active(&self, user: UserId) -> Result<()> {
        match self.db.user(user).await? {
            Some(u) if !u.disabled => Ok(()),
            Some(_) => Err(unauthenticated("user_disabled", "this user is disabled")),
            None => Err(unauthenticated("invalid_token", "the user of this credential no longer exists")),
        }
    }

    fn pair(&self, user: UserId, session: SessionId, refresh: OpaqueToken, now: Timestamp) -> Result<TokenPair> {
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: user.to_string(),
            sid: session.to_string(),
            iat: now.unix_secs(),
            exp: now.unix_secs() + self.auth.access_ttl_secs,
        };
        let access_token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.jwt.encoding)
            .map_err(|e| Error::Internal(format!("signing an access token: {e}")))?;
        Ok(TokenPair { access_token, refresh_token: refresh, expires_in: self.auth.access_ttl_secs })
    }
}

impl Engine {
    /// One step of housekeeping: purges refresh tokens that expired more than a day ago (a
    /// day is kept so that a late reuse is still recognised as reuse). Returns how many.
    pub async fn housekeeping_step(&self) -> Result<u64> {
        let cutoff = Timestamp::now().plus_secs(-24 * 3600);
        Ok(self.db.purge_refresh_tokens_expired_before(cutoff).await?)
    }
}
