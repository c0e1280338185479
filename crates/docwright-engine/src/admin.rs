//! Administration: tenants, users and roles, static tokens, API keys, RBAC rules.
//!
//! Each function takes the [`Grant`] for its permission and scopes what it does by the grant's
//! level: `my` reaches the caller's own records, `tenant` the records of the context tenant,
//! `all` (sysadmin) any tenant. Records outside the reach are reported as not found.

use docwright_core::id::{ApiKeyId, RuleId, StaticTokenId, TenantId, UserId};
use docwright_core::name::{DisplayName, Email, KeyName, TenantName};
use docwright_core::rbac::{
    AccessLevel, Action, ItemPattern, Permission, Policy, Rule, bootstrap_rules, is_known_item, items,
};
use docwright_core::role::Role;
use docwright_core::settings::UserSettings;
use docwright_core::time::Timestamp;
use docwright_core::token::{OpaqueToken, TokenKind};
use docwright_storage::auth::{ApiKey, StaticToken};
use docwright_storage::rbac::StoredRule;
use docwright_storage::tenants::Tenant;
use docwright_storage::users::{Member, User};
use docwright_storage::{Page, PageRequest};

use crate::access::Grant;
use crate::{Engine, Error, Result};

/// The permissions of the admin use cases; the server registers routes with these.
pub mod perms {
    use super::*;
    pub const TENANT_CREATE: Permission = Permission::new(items::TENANT, Action::Create);
    pub const TENANT_READ: Permission = Permission::new(items::TENANT, Action::Read);
    pub const TENANT_UPDATE: Permission = Permission::new(items::TENANT, Action::Update);
    pub const USER_CREATE: Permission = Permission::new(items::USER, Action::Create);
    pub const USER_READ: Permission = Permission::new(items::USER, Action::Read);
    pub const USER_UPDATE: Permission = Permission::new(items::USER, Action::Update);
    pub const USER_DELETE: Permission = Permission::new(items::USER, Action::Delete);
    pub const STATIC_TOKEN_CREATE: Permission = Permission::new(items::STATIC_TOKEN, Action::Create);
    pub const STATIC_TOKEN_READ: Permission = Permission::new(items::STATIC_TOKEN, Action::Read);
    pub const STATIC_TOKEN_DELETE: Permission = Permission::new(items::STATIC_TOKEN, Action::Delete);
    pub const API_KEY_CREATE: Permission = Permission::new(items::API_KEY, Action::Create);
    pub const API_KEY_READ: Permission = Permission::new(items::API_KEY, Action::Read);
    pub const API_KEY_DELETE: Permission = Permission::new(items::API_KEY, Action::Delete);
    pub const RULE_READ: Permission = Permission::new(items::RBAC_RULE, Action::Read);
    pub const RULE_UPDATE: Permission = Permission::new(items::RBAC_RULE, Action::Update);
    pub const RULE_DELETE: Permission = Permission::new(items::RBAC_RULE, Action::Delete);
    pub const SETTINGS_READ: Permission = Permission::new(items::USER_SETTINGS, Action::Read);
    pub const SETTINGS_UPDATE: Permission = Permission::new(items::USER_SETTINGS, Action::Update);
}
use perms::*;

/// A user as the profile endpoint shows it.
pub struct Profile {
    pub user: User,
    /// Providers the user has stored an own key for (never the keys).
    pub provider_keys_set: Vec<String>,
    pub memberships: Vec<(Tenant, Role)>,
    pub current_tenant: TenantId,
    pub current_role: Role,
}

/// A newly issued secret, shown once.
pub struct Issued<T> {
    pub record: T,
    pub secret: OpaqueToken,
}

/// Input for a new user.
pub struct NewUser {
    pub display_name: String,
    pub email: Option<String>,
    pub role: String,
}

/// Input for a rule.
pub struct RuleInput {
    pub role: String,
    pub item: String,
    pub view: bool,
    pub read: String,
    pub create: String,
    pub update: String,
    pub delete: String,
}

/// Changes to settings; `None` leaves a value as it is.
#[derive(Default)]
pub struct SettingsPatch {
    pub model_profile: Option<String>,
    /// `Some(None)` clears the selection.
    pub selected_role_prompt_id: Option<Option<String>>,
    pub language: Option<String>,
    /// Provider → key to store (sealed), or `None` to delete the stored one.
    pub provider_keys: Option<std::collections::BTreeMap<String, Option<String>>>,
}

fn parse<T, E: std::fmt::Display>(field: &str, r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| Error::invalid(field, e))
}

impl Engine {
    // ---- profile ----------------------------------------------------------------------

    pub async fn profile(&self, grant: &Grant) -> Result<Profile> {
        grant.expect(SETTINGS_READ)?;
        let ctx = grant.ctx();
        let user = self.db.user(ctx.user()).await?.ok_or(Error::NotFound("user"))?;
        let memberships = self.db.memberships_of(ctx.user()).await?;
        let owner = docwright_storage::provider_keys::KeyOwner::User(ctx.user());
        let provider_keys_set = self.db.provider_key_list(owner).await?.into_iter().map(|(p, _)| p).collect();
        Ok(Profile { user, provider_keys_set, memberships, current_tenant: ctx.tenant, current_role: ctx.role })
    }

    /// Applies the patch; answers the settings and the providers the user has a key for.
    pub async fn update_settings(&self, grant: &Grant, patch: SettingsPatch) -> Result<(UserSettings, Vec<String>)> {
        grant.expect(SETTINGS_UPDATE)?;
        let user = self.db.user(grant.ctx().user()).await?.ok_or(Error::NotFound("user"))?;
        let mut s = user.settings;
        if let Some(p) = patch.model_profile {
            s.model_profile = parse("model_profile", docwright_core::settings::ModelProfile::parse(&p))?;
        }
        if let Some(r) = patch.selected_role_prompt_id {
            if r.as_ref().is_some_and(|id| id.trim().is_empty() || id.chars().count() > 200) {
                return Err(Error::invalid("selected_role_prompt_id", "must be 1 to 200 characters, or null"));
            }
            s.selected_role_prompt_id = r;
        }
        if let Some(l) = patch.language {
            s.language = parse("language", docwright_core::settings::Language::parse(&l))?;
        }
        // Every field is checked before anything is written.
        let keys = patch.provider_keys.unwrap_or_default();
        for (provider, key) in &keys {
            match key {
                Some(k) => {
                    self.check_key(provider, k)?;
                }
                None if !self.registry().has_provider(provider) => {
                    return Err(Error::invalid(
                        format!("provider_keys.{provider}"),
                        format!("no provider named `{provider}` is configured"),
                    ));
                }
                None => {}
            }
        }
        self.db.update_user_settings(user.id, &s).await?;
        let owner = docwright_storage::provider_keys::KeyOwner::User(user.id);
        for (provider, key) in keys {
            match key {
                Some(k) => self.store_key(owner, &provider, &k).await?,
                None => {
                    self.db.delete_provider_key(owner, &provider).await?;
                }
            }
        }
        self.cache.invalidate();
        let keys_set = self.db.provider_key_list(owner).await?.into_iter().map(|(p, _)| p).collect();
        Ok((s, keys_set))
    }

    // ---- tenants ----------------------------------------------------------------------

    pub async fn create_tenant(&self, grant: &Grant, name: &str) -> Result<Tenant> {
        grant.expect(TENANT_CREATE)?;
        if grant.level() < AccessLevel::All {
            return Err(Error::Forbidden("only a sysadmin creates tenants".to_owned()));
        }
        let tenant =
            Tenant { id: TenantId::new(), name: parse("name", TenantName::parse(name))?, created_at: Timestamp::now() };
        self.db.create_tenant(&tenant, &bootstrap_rules()).await.map_err(|e| match e {
            docwright_storage::Error::Conflict(_) => {
                Error::Conflict(format!("a tenant named `{}` exists", tenant.name.as_str()))
            }
            e => e.into(),
        })?;
        self.cache.invalidate();
        Ok(tenant)
    }

    /// Every tenant for a sysadmin; the context tenant for anyone else.
    pub async fn list_tenants(&self, grant: &Grant, page: PageRequest<'_>) -> Result<Page<Tenant>> {
        grant.expect(TENANT_READ)?;
        if grant.level() == AccessLevel::All {
            return Ok(self.db.list_tenants(page).await?);
        }
        let own = self.db.tenant(grant.ctx().tenant).await?.ok_or(Error::NotFound("tenant"))?;
        let after_own = page.after.is_some_and(|a| a >= own.id.to_string().as_str());
        Ok(Page { items: if after_own { vec![] } else { vec![own] }, has_more: false })
    }

    pub async fn get_tenant(&self, grant: &Grant, id: TenantId) -> Result<Tenant> {
        grant.expect(TENANT_READ)?;
        if grant.level() < AccessLevel::All && id != grant.ctx().tenant {
            return Err(Error::NotFound("tenant"));
        }
        self.db.tenant(id).await?.ok_or(Error::NotFound("tenant"))
    }

    // ---- users ------------------------------------------------------------------------

    /// Creates a user in the context tenant.
    pub async fn create_user(&self, grant: &Grant, input: NewUser) -> Result<Member> {
        grant.expect(USER_CREATE)?;
        require_tenant_wide(grant, "create users")?;
        let role = parse("role", Role::parse(&input.role))?;
        self.may_assign(grant, role)?;
        let user = User {
            id: UserId::new(),
            display_name: parse("display_name", DisplayName::parse(&input.display_name))?,
            email: input.email.as_deref().map(Email::parse).transpose().map_err(|e| Error::invalid("email", e))?,
            disabled: false,
            settings: UserSettings::default(),
            created_at: Timestamp::now(),
        };
        self.db.create_user(&user, grant.ctx().tenant, role).await.map_err(|e| match e {
            docwright_storage::Error::Conflict(m) => Error::Conflict(m + " already exists"),
            e => e.into(),
        })?;
        self.cache.invalidate();
        Ok(Member { user, role })
    }

    /// Members of the context tenant (only oneself at level `my`).
    pub async fn list_users(&self, grant: &Grant, page: PageRequest<'_>) -> Result<Page<Member>> {
        grant.expect(USER_READ)?;
        let ctx = grant.ctx();
        if !grant.tenant_wide() {
            let me = self.db.member(ctx.tenant, ctx.user()).await?;
            return Ok(Page { items: me.into_iter().filter(|_| page.after.is_none()).collect(), has_more: false });
        }
        Ok(self.db.list_members(ctx.tenant, page).await?)
    }

    pub async fn get_user(&self, grant: &Grant, id: UserId) -> Result<Member> {
        grant.expect(USER_READ)?;
        self.visible_member(grant, id).await
    }

    /// Sets `id`'s role in the context tenant. A sysadmin may also add a user of another tenant.
    pub async fn set_role(&self, grant: &Grant, id: UserId, role: &str) -> Result<Member> {
        grant.expect(USER_UPDATE)?;
        require_tenant_wide(grant, "change roles")?;
        let role = parse("role", Role::parse(role))?;
        self.may_assign(grant, role)?;
        let ctx = grant.ctx();
        let current = self.db.member(ctx.tenant, id).await?;
        let user = match current {
            Some(m) => {
                if m.role == Role::Sysadmin && ctx.role != Role::Sysadmin {
                    return Err(Error::Forbidden("only a sysadmin changes a sysadmin's role".to_owned()));
                }
                if m.role == Role::Sysadmin && role != Role::Sysadmin && self.is_last_sysadmin(id).await? {
                    return Err(Error::Conflict(
                        "this is the last sysadmin membership; appoint another sysadmin first".to_owned(),
                    ));
                }
                m.user
            }
            None if grant.level() == AccessLevel::All => self.db.user(id).await?.ok_or(Error::NotFound("user"))?,
            None => return Err(Error::NotFound("user")),
        };
        let promoted = role == Role::Sysadmin && !self.db.is_sysadmin(id).await?;
        self.db.set_membership(id, ctx.tenant, role).await?;
        if promoted {
            // Tenant admins may have issued (and so know) credentials for this user; they must
            // not become sysadmin credentials.
            let n = self.db.revoke_delegated_credentials(id, Timestamp::now()).await?;
            tracing::info!(user = %id, revoked = n, "promoted to sysadmin: credentials issued by others revoked");
        }
        self.cache.invalidate();
        Ok(Member { user, role })
    }

    /// Removes `id` from the context tenant; their API keys there are revoked. The user and
    /// their other memberships remain.
    pub async fn remove_user(&self, grant: &Grant, id: UserId) -> Result<()> {
        grant.expect(USER_DELETE)?;
        require_tenant_wide(grant, "remove users")?;
        let member = self.visible_member(grant, id).await?;
        if member.role == Role::Sysadmin {
            if grant.ctx().role != Role::Sysadmin {
                return Err(Error::Forbidden("only a sysadmin removes a sysadmin".to_owned()));
            }
            if self.is_last_sysadmin(id).await? {
                return Err(Error::Conflict(
                    "this is the last sysadmin membership; appoint another sysadmin first".to_owned(),
                ));
            }
        }
        self.db.remove_membership(grant.ctx().tenant, id, Timestamp::now()).await?;
        self.cache.invalidate();
        Ok(())
    }

    async fn is_last_sysadmin(&self, id: UserId) -> Result<bool> {
        // Count the user's sysadmin memberships across tenants; there must be another sysadmin.
        let mine = self.db.memberships_of(id).await?.iter().filter(|(_, r)| *r == Role::Sysadmin).count();
        Ok(mine <= 1 && self.db.count_sysadmin_memberships().await? <= 1)
    }

    fn may_assign(&self, grant: &Grant, role: Role) -> Result<()> {
        if role == Role::Sysadmin && grant.ctx().role != Role::Sysadmin {
            return Err(Error::Forbidden("only a sysadmin grants the sysadmin role".to_owned()));
        }
        Ok(())
    }

    async fn visible_member(&self, grant: &Grant, id: UserId) -> Result<Member> {
        let ctx = grant.ctx();
        if !grant.tenant_wide() && id != ctx.user() {
            return Err(Error::NotFound("user"));
        }
        self.db.member(ctx.tenant, id).await?.ok_or(Error::NotFound("user"))
    }

    // ---- static tokens ----------------------------------------------------------------

    pub async fn issue_static_token(&self, grant: &Grant, user: UserId, name: &str) -> Result<Issued<StaticToken>> {
        grant.expect(STATIC_TOKEN_CREATE)?;
        require_tenant_wide(grant, "issue login tokens")?;
        let target = self.visible_member(grant, user).await?;
        if target.role == Role::Sysadmin && grant.ctx().role != Role::Sysadmin {
            return Err(Error::Forbidden("only a sysadmin issues tokens for a sysadmin".to_owned()));
        }
        let secret = OpaqueToken::generate(TokenKind::Static);
        let record = StaticToken {
            id: StaticTokenId::new(),
            user_id: user,
            // A tenant admin's token logs in to this tenant only; a sysadmin's to all of the
            // user's tenants. Otherwise an admin could log in as a member who also administers
            // another tenant, and act there.
            tenant_id: (grant.level() < AccessLevel::All).then_some(grant.ctx().tenant),
            name: parse("name", KeyName::parse(name))?,
            created_by: Some(grant.ctx().user()),
            created_at: Timestamp::now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.db.insert_static_token(&record, &secret.hash()).await?;
        Ok(Issued { record, secret })
    }

    /// A user's static tokens: those bound to the current tenant (every one, for a sysadmin).
    pub async fn list_static_tokens(&self, grant: &Grant, user: UserId) -> Result<Vec<StaticToken>> {
        grant.expect(STATIC_TOKEN_READ)?;
        self.visible_member(grant, user).await?;
        let all = self.db.static_tokens_of(user).await?;
        Ok(all.into_iter().filter(|t| reaches_token(grant, t)).collect())
    }

    pub async fn revoke_static_token(&self, grant: &Grant, user: UserId, token: StaticTokenId) -> Result<()> {
        grant.expect(STATIC_TOKEN_DELETE)?;
        self.visible_member(grant, user).await?;
        let found = self.db.static_tokens_of(user).await?.into_iter().find(|t| t.id == token);
        if !found.is_some_and(|t| reaches_token(grant, &t)) {
            return Err(Error::NotFound("token"));
        }
        if !self.db.revoke_static_token(user, token, Timestamp::now()).await? {
            return Err(Error::NotFound("token"));
        }
        Ok(())
    }

    // ---- API keys ---------------------------------------------------------------------

    /// Issues a key for `owner` (the caller when `None`) in the context tenant.
    pub async fn issue_api_key(
        &self,
        grant: &Grant,
        owner: Option<UserId>,
        name: &str,
        expires_at: Option<&str>,
    ) -> Result<Issued<ApiKey>> {
        grant.expect(API_KEY_CREATE)?;
        let ctx = grant.ctx();
        let owner = match owner {
            Some(o) if o != ctx.user() => {
                require_tenant_wide(grant, "issue keys for other users")?;
                let member = self.visible_member(grant, o).await?;
                if member.role == Role::Sysadmin && ctx.role != Role::Sysadmin {
                    return Err(Error::Forbidden("only a sysadmin issues keys for a sysadmin".to_owned()));
                }
                member.user.id
            }
            _ => ctx.user(),
        };
        let now = Timestamp::now();
        let expires_at =
            expires_at.map(Timestamp::parse_rfc3339).transpose().map_err(|e| Error::invalid("expires_at", e))?;
        if expires_at.is_some_and(|e| e <= now) {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        let secret = OpaqueToken::generate(TokenKind::ApiKey);
        let record = ApiKey {
            id: ApiKeyId::new(),
            user_id: owner,
            tenant_id: ctx.tenant,
            name: parse("name", KeyName::parse(name))?,
            key_prefix: secret.display_prefix(),
            created_by: ctx.user(),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        self.db.insert_api_key(&record, &secret.hash()).await?;
        Ok(Issued { record, secret })
    }

    /// The caller's own keys (`mine`), or every key of the tenant.
    pub async fn list_api_keys(&self, grant: &Grant, mine: bool, page: PageRequest<'_>) -> Result<Page<ApiKey>> {
        grant.expect(API_KEY_READ)?;
        let ctx = grant.ctx();
        if !mine {
            require_tenant_wide(grant, "list the keys of other users")?;
        }
        let owner = if mine { Some(ctx.user()) } else { None };
        Ok(self.db.list_api_keys(ctx.tenant, owner, page).await?)
    }

    pub async fn revoke_api_key(&self, grant: &Grant, id: ApiKeyId) -> Result<()> {
        grant.expect(API_KEY_DELETE)?;
        let ctx = grant.ctx();
        let key = self.db.api_key(ctx.tenant, id).await?.ok_or(Error::NotFound("API key"))?;
        if key.user_id != ctx.user() && !grant.tenant_wide() {
            return Err(Error::NotFound("API key"));
        }
        if !self.db.revoke_api_key(ctx.tenant, id, Timestamp::now()).await? {
            return Err(Error::NotFound("API key"));
        }
        self.cache.invalidate();
        Ok(())
    }

    // ---- RBAC rules -------------------------------------------------------------------

    pub async fn list_rules(&self, grant: &Grant) -> Result<Vec<StoredRule>> {
        grant.expect(RULE_READ)?;
        require_tenant_wide(grant, "read rules")?;
        Ok(self.db.rules(grant.ctx().tenant).await?)
    }

    /// Adds or replaces the context tenant's rule for a role and item.
    pub async fn put_rule(&self, grant: &Grant, input: RuleInput) -> Result<StoredRule> {
        grant.expect(RULE_UPDATE)?;
        require_tenant_wide(grant, "edit rules")?;
        let role = parse("role", Role::parse(&input.role))?;
        if role == Role::Sysadmin {
            return Err(Error::invalid("role", "sysadmin is platform-wide and has no rules"));
        }
        let item = parse("item", ItemPattern::parse(&input.item))?;
        if !is_known_item(&item) {
            return Err(Error::invalid(
                "item",
                format!("`{item}` is not an item docwright knows (see GET /api/admin/rbac/items)"),
            ));
        }
        let level = |field: &str, v: &str| -> Result<AccessLevel> {
            let l = parse(field, AccessLevel::parse(v))?;
            if l == AccessLevel::All {
                return Err(Error::invalid(
                    field,
                    "`all` reaches other tenants and is reserved to sysadmins; use `tenant`",
                ));
            }
            Ok(l)
        };
        let rule = Rule {
            role,
            item,
            view: input.view,
            read: level("read", &input.read)?,
            create: level("create", &input.create)?,
            update: level("update", &input.update)?,
            delete: level("delete", &input.delete)?,
        };
        let tenant = grant.ctx().tenant;
        let mut after: Vec<Rule> = self
            .db
            .rules(tenant)
            .await?
            .into_iter()
            .map(|r| r.rule)
            .filter(|r| !(r.role == rule.role && r.item == rule.item))
            .collect();
        after.push(rule.clone());
        ensure_admins_keep_rules(&Policy::new(after))?;
        let stored = self.db.upsert_rule(tenant, &rule).await?;
        self.cache.invalidate();
        Ok(stored)
    }

    pub async fn delete_rule(&self, grant: &Grant, id: RuleId) -> Result<()> {
        grant.expect(RULE_DELETE)?;
        require_tenant_wide(grant, "delete rules")?;
        let tenant = grant.ctx().tenant;
        let rules = self.db.rules(tenant).await?;
        if !rules.iter().any(|r| r.id == id) {
            return Err(Error::NotFound("rule"));
        }
        ensure_admins_keep_rules(&Policy::new(rules.into_iter().filter(|r| r.id != id).map(|r| r.rule).collect()))?;
        self.db.delete_rule(tenant, id).await?;
        self.cache.invalidate();
        Ok(())
    }
}

/// Tenant admins reach the tokens bound to their tenant; sysadmins reach every token.
fn reaches_token(grant: &Grant, token: &StaticToken) -> bool {
    grant.level() == AccessLevel::All || token.tenant_id == Some(grant.ctx().tenant)
}

fn require_tenant_wide(grant: &Grant, what: &str) -> Result<()> {
    if grant.tenant_wide() {
        Ok(())
    } else {
        Err(Error::Forbidden(format!("your role may only manage its own records, not {what}")))
    }
}

/// A tenant's admins must keep the power to read and edit its rules, or nobody but a
/// sysadmin could undo a mistake.
fn ensure_admins_keep_rules(policy: &Policy) -> Result<()> {
    for perm in [RULE_READ, RULE_UPDATE] {
        if policy.grant(Role::Admin, perm) < AccessLevel::Tenant {
            return Err(Error::Conflict(format!(
                "this change would take `{}` on {} from the admin role and lock the tenant's admins out of its rules",
                perm.action.as_str(),
                perm.item
            )));
        }
    }
    Ok(())
}
