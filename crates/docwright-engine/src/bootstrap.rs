//! First start: tenant `ROOT`, an admin (role `sysadmin`, platform-wide) and a static login
//! token. Runs at every start and creates nothing when `ROOT` exists, so a second start — or a
//! second replica starting at the same moment — changes nothing.
//! Also at every start: the prompt library's starter set, when the installation has none.

use docwright_core::id::{StaticTokenId, TenantId, UserId};
use docwright_core::name::{DisplayName, KeyName, TenantName};
use docwright_core::rbac::bootstrap_rules;
use docwright_core::role::Role;
use docwright_core::settings::UserSettings;
use docwright_core::time::Timestamp;
use docwright_core::token::{OpaqueToken, TokenKind};
use docwright_storage::auth::StaticToken;
use docwright_storage::tenants::Tenant;
use docwright_storage::users::User;
use docwright_storage::{Db, Error as StorageError};

use crate::{Error, Result};

/// Name of the bootstrap tenant.
pub const ROOT_TENANT: &str = "ROOT";

/// What the bootstrap did.
#[derive(Debug)]
pub enum Outcome {
    /// `ROOT` existed already; nothing was created.
    AlreadyBootstrapped,
    /// `ROOT`, its admin and a static token were created. `generated_token` holds the token
    /// when docwright generated it (to be shown once); `None` when it came from configuration.
    Created { admin: UserId, generated_token: Option<OpaqueToken> },
}

/// Creates the bootstrap tenant, admin and token unless they exist.
pub async fn run(
    db: &Db,
    admin_name: &str,
    configured_token: Option<&str>,
    billing: &crate::billing::BillingSettingsConfig,
) -> Result<Outcome> {
    // The prompt library's starter set, whenever the installation has none (every start).
    if crate::prompt_library::seed(db).await? {
        tracing::info!("bootstrap: stored the prompt library's starter set");
    }
    if db.tenant_by_name(ROOT_TENANT).await?.is_some() {
        return Ok(Outcome::AlreadyBootstrapped);
    }
    let now = Timestamp::now();
    let tenant = Tenant {
        id: TenantId::new(),
        name: TenantName::parse(ROOT_TENANT).map_err(|e| Error::Internal(e.to_string()))?,
        created_at: now,
    };
    match db.create_tenant(&tenant, &bootstrap_rules()).await {
        Ok(()) => {}
        // Another replica won the race; it creates the admin.
        Err(StorageError::Conflict(_)) => return Ok(Outcome::AlreadyBootstrapped),
        Err(e) => return Err(e.into()),
    }
    // ROOT bills per user, each starting with the configured credit (SPEC B2).
    let settings =
        crate::billing::default_settings(tenant.id, docwright_core::billing::BillingModel::PrepayUser, billing);
    db.put_billing_settings(&settings).await?;
    let admin = User {
        id: UserId::new(),
        display_name: DisplayName::parse(admin_name).map_err(|e| Error::invalid("bootstrap.admin_name", e))?,
        email: None,
        disabled: false,
        settings: UserSettings::default(),
        created_at: now,
    };
    db.create_user(&admin, tenant.id, Role::Sysadmin).await?;
    let (token, generated) = match configured_token {
        Some(t) => (OpaqueToken::from_presented(t.trim()), false),
        None => (OpaqueToken::generate(TokenKind::Static), true),
    };
    let record = StaticToken {
        id: StaticTokenId::new(),
        user_id: admin.id,
        tenant_id: None,
        name: KeyName::parse("bootstrap").map_err(|e| Error::Internal(e.to_string()))?,
        created_by: None,
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    db.insert_static_token(&record, &token.hash()).await?;
    Ok(Outcome::Created { admin: admin.id, generated_token: generated.then_some(token) })
}

/// The HS256 key for access tokens: the configured one, or one generated at the first start
/// and kept in the database so that every replica on it signs and verifies alike.
pub async fn jwt_secret(db: &Db, configured: Option<&str>) -> Result<Vec<u8>> {
    if let Some(s) = configured {
        return Ok(s.as_bytes().to_vec());
    }
    let candidate = OpaqueToken::generate(TokenKind::Static);
    let stored = db.instance_value_or_insert("auth.jwt_secret", candidate.expose()).await?;
    Ok(stored.into_bytes())
}
