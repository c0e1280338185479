//! The tenant context of a request and the RBAC decision (SPEC P3, P5).

use std::sync::Arc;

use docwright_core::id::{TenantId, UserId};
use docwright_core::rbac::{AccessLevel, Permission, Policy, Rule};
use docwright_core::role::Role;

use crate::identity::{Credential, Principal};
use crate::{Engine, Error, Result};

/// Who acts, in which tenant, with which role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctx {
    pub principal: Principal,
    pub tenant: TenantId,
    /// `Sysadmin` when the user holds it anywhere (it is platform-wide); else the role in `tenant`.
    pub role: Role,
}

impl Ctx {
    pub fn user(&self) -> UserId {
        self.principal.user
    }
}

/// Proof that `ctx` may do `perm`, and how far (`level`). Only [`Engine::authorize`] creates
/// one; use cases that touch protected data take it as their first argument.
#[derive(Debug, Clone)]
pub struct Grant {
    ctx: Ctx,
    perm: Permission,
    level: AccessLevel,
}

impl Grant {
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    pub fn level(&self) -> AccessLevel {
        self.level
    }

    pub fn permission(&self) -> Permission {
        self.perm
    }

    /// Guards a use case against being wired to a route with another permission.
    pub(crate) fn expect(&self, perm: Permission) -> Result<()> {
        if self.perm == perm {
            Ok(())
        } else {
            Err(Error::Internal(format!("use case for {perm} called with a grant for {}", self.perm)))
        }
    }

    /// Whether the grant reaches every record of the tenant (not only the caller's own).
    pub(crate) fn tenant_wide(&self) -> bool {
        self.level >= AccessLevel::Tenant
    }
}

impl Engine {
    /// Resolves the tenant a request acts in: `requested` (header `X-Tenant-Id`) or the
    /// user's first tenant. API keys act only in their own tenant.
    pub async fn context(&self, principal: Principal, requested: Option<TenantId>) -> Result<Ctx> {
        // A credential bound to one tenant (API key; session from a tenant admin's token) acts
        // only there.
        let bound = match &principal.credential {
            Credential::ApiKey { tenant, .. } => Some(*tenant),
            Credential::Session { tenant, .. } => *tenant,
        };
        let key = (principal.user, bound, requested);
        let ticket = match self.cache.get(&self.cache.contexts, &key) {
            Ok((tenant, role)) => return Ok(Ctx { principal, tenant, role }),
            Err(ticket) => ticket,
        };
        let (tenant, role) = self.resolve_context(&principal, bound, requested).await?;
        self.cache.put(&self.cache.contexts, ticket, key, (tenant, role));
        Ok(Ctx { principal, tenant, role })
    }

    async fn resolve_context(
        &self,
        principal: &Principal,
        bound: Option<TenantId>,
        requested: Option<TenantId>,
    ) -> Result<(TenantId, Role)> {
        let sysadmin = self.db.is_sysadmin(principal.user).await?;
        let tenant = match (bound, requested) {
            (Some(b), Some(r)) if r != b => {
                return Err(Error::Forbidden("this credential is bound to another tenant".to_owned()));
            }
            (Some(b), _) => b,
            (None, Some(r)) => r,
            (None, None) => match self.db.memberships_of(principal.user).await?.first() {
                Some((t, _)) => t.id,
                None => return Err(Error::Forbidden("you are not a member of any tenant".to_owned())),
            },
        };
        let role = match self.db.membership(principal.user, tenant).await? {
            _ if sysadmin => {
                if self.db.tenant(tenant).await?.is_none() {
                    return Err(Error::NotFound("tenant"));
                }
                Role::Sysadmin
            }
            Some(role) => role,
            None => return Err(Error::Forbidden("you are not a member of this tenant".to_owned())),
        };
        Ok((tenant, role))
    }

    /// The context of work done later on behalf of `user` (a queued workflow, a chat turn), from
    /// the credential columns [`credential_columns`] made: their role in `tenant` as it is now.
    pub(crate) async fn stored_context(
        &self,
        user: UserId,
        tenant: TenantId,
        (kind, id, bound): (&str, &str, Option<TenantId>),
    ) -> Result<Ctx> {
        let broken = |e: docwright_core::ParseError| Error::Internal(format!("stored credential: {e}"));
        let credential = Credential::restore(kind, id, bound, tenant).map_err(broken)?;
        self.context(Principal { user, credential }, Some(tenant)).await
    }

    /// The context of work the installation does by itself for `user` in `tenant` (indexing a
    /// file they uploaded): their role there as it is now, bound to the tenant. It carries no
    /// credential of theirs: the nil session id, which no token names.
    pub(crate) async fn background_context(&self, user: UserId, tenant: TenantId) -> Result<Ctx> {
        let credential =
            Credential::Session { id: docwright_core::id::SessionId::from(uuid::Uuid::nil()), tenant: Some(tenant) };
        self.context(Principal { user, credential }, Some(tenant)).await
    }

    /// The RBAC decision: a [`Grant`] when the context's role holds `perm` in its tenant.
    pub async fn authorize(&self, ctx: Ctx, perm: Permission) -> Result<Grant> {
        let level = self.policy(ctx.tenant).await?.grant(ctx.role, perm);
        if level == AccessLevel::None {
            return Err(Error::Forbidden(format!("role {} may not {} {}", ctx.role, perm.action.as_str(), perm.item)));
        }
        Ok(Grant { ctx, perm, level })
    }

    /// The rules in force in `tenant`.
    pub async fn policy(&self, tenant: TenantId) -> Result<Arc<Policy>> {
        let ticket = match self.cache.get(&self.cache.policies, &tenant) {
            Ok(policy) => return Ok(policy),
            Err(ticket) => ticket,
        };
        let rules: Vec<Rule> = self.db.rules(tenant).await?.into_iter().map(|r| r.rule).collect();
        let policy = Arc::new(Policy::new(rules));
        self.cache.put(&self.cache.policies, ticket, tenant, policy.clone());
        Ok(policy)
    }
}

/// How a credential is stored with work done later on its holder's behalf: its kind
/// (`session` or `api_key`), its id and the tenant it is bound to.
pub(crate) fn credential_columns(c: &Credential) -> (&'static str, String, Option<TenantId>) {
    c.stored()
}
