//! Storage tests: every test runs on SQLite and on PostgreSQL, each with a fresh database.

// Test code fails loudly on purpose; helpers are shared between the modules of one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use docwright_core::id::{ApiKeyId, SessionId, StaticTokenId, TenantId, UserId};
use docwright_core::name::{DisplayName, KeyName, TenantName};
use docwright_core::rbac::{AccessLevel, ItemPattern, Rule, bootstrap_rules};
use docwright_core::role::Role;
use docwright_core::settings::{Language, ModelProfile, UserSettings};
use docwright_core::time::Timestamp;
use docwright_core::token::{OpaqueToken, TokenHash, TokenKind};
use docwright_storage::auth::{ApiKey, NewSession, Rotation, StaticToken};
use docwright_storage::tenants::Tenant;
use docwright_storage::testing::TestDb;
use docwright_storage::users::User;
use docwright_storage::{Backend, Db, Error, PageRequest};

/// One `#[tokio::test]` per backend for each listed test function `async fn(Db)`.
macro_rules! both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() { crate::run(docwright_storage::Backend::Sqlite, super::$name).await }
            #[tokio::test]
            async fn postgres() { crate::run(docwright_storage::Backend::Postgres, super::$name).await }
        }
    )*};
}

async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(tdb) = TestDb::fresh(backend).await else { return };
    let db = Db::connect(tdb.url(), 5).await.expect("connect");
    db.migrate().await.expect("migrate");
    test(db.clone()).await;
    db.close().await;
}

mod collections;
mod files;
mod jobs;
mod notices;
mod projects;
mod vectors;
mod workflows;

both_databases!(
    migrations_are_idempotent,
    tenants_and_members,
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    api_keys_are_scoped_and_paged,
    rules_upsert_and_delete,
    instance_values_are_written_once,
    reservations_hold_settle_release_and_expire,
);

pub fn tenant(name: &str) -> Tenant {
    Tenant { id: TenantId::new(), name: TenantName::parse(name).unwrap(), created_at: Timestamp::now() }
}

fn user(name: &str) -> User {
    User {
        id: UserId::new(),
        display_name: DisplayName::parse(name).unwrap(),
        email: None,
        disabled: false,
        settings: UserSettings::default(),
        created_at: Timestamp::now(),
    }
}

async fn migrations_are_idempotent(db: Db) {
    db.migrate().await.unwrap();
    db.ping().await.unwrap();
    assert_eq!(db.count_tenants().await.unwrap(), 0);
}

async fn tenants_and_members(db: Db) {
    let t = tenant("Acme");
    db.create_tenant(&t, &bootstrap_rules()).await.unwrap();
    assert!(matches!(db.create_tenant(&tenant("Acme"), &[]).await, Err(Error::Conflict(_))));
    assert_eq!(db.tenant(t.id).await.unwrap(), Some(t.clone()));
    assert_eq!(db.tenant_by_name("Acme").await.unwrap().map(|x| x.id), Some(t.id));

    let u = user("Ann");
    db.create_user(&u, t.id, Role::Admin).await.unwrap();
    assert_eq!(db.membership(u.id, t.id).await.unwrap(), Some(Role::Admin));
    assert!(!db.is_sysadmin(u.id).await.unwrap());

    let other = tenant("Other");
    db.create_tenant(&other, &[]).await.unwrap();
    assert_eq!(db.membership(u.id, other.id).await.unwrap(), None);
    assert!(db.member(other.id, u.id).await.unwrap().is_none(), "not visible from another tenant");
    db.set_membership(u.id, other.id, Role::Viewer).await.unwrap();
    db.set_membership(u.id, other.id, Role::User).await.unwrap();
    let ms = db.memberships_of(u.id).await.unwrap();
    assert_eq!(
        ms.iter().map(|(t, r)| (t.id, *r)).collect::<Vec<_>>(),
        vec![(t.id, Role::Admin), (other.id, Role::User)]
    );

    let s = UserSettings {
        model_profile: ModelProfile::Complex,
        selected_role_prompt_id: Some("engineer".into()),
        language: Language::De,
    };
    assert!(db.update_user_settings(u.id, &s).await.unwrap());
    assert_eq!(db.user(u.id).await.unwrap().unwrap().settings, s);

    for i in 0..4 {
        db.create_user(&user(&format!("u{i}")), t.id, Role::User).await.unwrap();
    }
    let p1 = db.list_members(t.id, PageRequest { after: None, limit: 3 }).await.unwrap();
    assert_eq!(p1.items.len(), 3);
    assert!(p1.has_more);
    let last = p1.items.last().unwrap().user.id.to_string();
    let p2 = db.list_members(t.id, PageRequest { after: Some(&last), limit: 3 }).await.unwrap();
    assert_eq!(p2.items.len(), 2);
    assert!(!p2.has_more);
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(db: Db) {
    let t = tenant("T");
    db.create_tenant(&t, &[]).await.unwrap();
    let u = user("U");
    db.create_user(&u, t.id, Role::User).await.unwrap();
    let st = StaticToken {
        id: StaticTokenId::new(),
        user_id: u.id,
        tenant_id: Some(t.id),
        name: KeyName::parse("login").unwrap(),
        created_by: None,
        created_at: Timestamp::now(),
        last_used_at: None,
        revoked_at: None,
    };
    let secret = OpaqueToken::generate(TokenKind::Static);
    db.insert_static_token(&st, &secret.hash()).await.unwrap();
    assert_eq!(db.static_token_by_hash(&secret.hash()).await.unwrap().map(|x| x.id), Some(st.id));

    let now = Timestamp::now();
    let later = now.plus_secs(3600);
    let session = SessionId::new();
    let r1 = TokenHash::of("r1");
    let open = |id, token| NewSession { id, user: u.id, static_token: token, tenant: Some(t.id), created_at: now };
    db.create_session(&open(session, Some(st.id)), &r1, later).await.unwrap();
    assert_eq!(db.session(session).await.unwrap().unwrap().tenant_id, Some(t.id));
    let r2 = TokenHash::of("r2");
    assert_eq!(db.rotate_refresh_token(&r1, &r2, now, later).await.unwrap(), Rotation::Rotated { session, user: u.id });
    // The old one again: reuse. The family is revoked, so the new one is dead too.
    assert_eq!(
        db.rotate_refresh_token(&r1, &TokenHash::of("r3"), now, later).await.unwrap(),
        Rotation::Reused { session }
    );
    assert!(db.session(session).await.unwrap().unwrap().revoked_at.is_some());
    assert_eq!(db.rotate_refresh_token(&r2, &TokenHash::of("r4"), now, later).await.unwrap(), Rotation::Revoked);
    assert_eq!(
        db.rotate_refresh_token(&TokenHash::of("nope"), &TokenHash::of("r5"), now, later).await.unwrap(),
        Rotation::Unknown
    );

    // Expiry.
    let s2 = SessionId::new();
    let e1 = TokenHash::of("e1");
    db.create_session(&open(s2, None), &e1, now.plus_secs(1)).await.unwrap();
    assert_eq!(
        db.rotate_refresh_token(&e1, &TokenHash::of("e2"), now.plus_secs(2), later).await.unwrap(),
        Rotation::Expired
    );

    // Revoking the static token ends the sessions opened with it.
    let s3 = SessionId::new();
    db.create_session(&open(s3, Some(st.id)), &TokenHash::of("x1"), later).await.unwrap();
    assert!(db.revoke_static_token(u.id, st.id, now).await.unwrap());
    assert!(db.session(s3).await.unwrap().unwrap().revoked_at.is_some());
    assert!(!db.revoke_static_token(u.id, st.id, now).await.unwrap(), "already revoked");
}

async fn api_keys_are_scoped_and_paged(db: Db) {
    let (a, b) = (tenant("A"), tenant("B"));
    db.create_tenant(&a, &[]).await.unwrap();
    db.create_tenant(&b, &[]).await.unwrap();
    let (u1, u2) = (user("1"), user("2"));
    db.create_user(&u1, a.id, Role::User).await.unwrap();
    db.create_user(&u2, a.id, Role::User).await.unwrap();
    let mk = |owner: UserId, tenant: TenantId| ApiKey {
        id: ApiKeyId::new(),
        user_id: owner,
        tenant_id: tenant,
        name: KeyName::parse("k").unwrap(),
        key_prefix: "dw_abcdef".into(),
        created_by: owner,
        created_at: Timestamp::now(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    let k1 = mk(u1.id, a.id);
    let secret = OpaqueToken::generate(TokenKind::ApiKey);
    db.insert_api_key(&k1, &secret.hash()).await.unwrap();
    db.insert_api_key(&mk(u2.id, a.id), &TokenHash::of("other")).await.unwrap();
    assert_eq!(db.api_key_by_hash(&secret.hash()).await.unwrap(), Some(k1.clone()));
    let all = |owner| db.list_api_keys(a.id, owner, PageRequest { after: None, limit: 10 });
    assert_eq!(all(None).await.unwrap().items.len(), 2);
    assert_eq!(all(Some(u1.id)).await.unwrap().items, vec![k1.clone()]);
    assert!(db.api_key(b.id, k1.id).await.unwrap().is_none(), "invisible from tenant B");
    assert!(!db.revoke_api_key(b.id, k1.id, Timestamp::now()).await.unwrap(), "B cannot revoke A's key");
    assert!(db.revoke_api_key(a.id, k1.id, Timestamp::now()).await.unwrap());
    assert!(db.api_key(a.id, k1.id).await.unwrap().unwrap().revoked_at.is_some());
}

async fn rules_upsert_and_delete(db: Db) {
    let t = tenant("R");
    db.create_tenant(&t, &bootstrap_rules()).await.unwrap();
    let n = db.rules(t.id).await.unwrap().len();
    assert_eq!(n, bootstrap_rules().len());
    let rule = Rule {
        role: Role::Viewer,
        item: ItemPattern::parse("resource.aicore.openai").unwrap(),
        view: true,
        read: AccessLevel::None,
        create: AccessLevel::None,
        update: AccessLevel::None,
        delete: AccessLevel::None,
    };
    let stored = db.upsert_rule(t.id, &rule).await.unwrap();
    assert_eq!(stored.rule, rule);
    let again = db.upsert_rule(t.id, &Rule { view: false, ..rule.clone() }).await.unwrap();
    assert_eq!(again.id, stored.id, "same role and item: replaced, not added");
    assert!(!again.rule.view);
    assert_eq!(db.rules(t.id).await.unwrap().len(), n + 1);
    let other = tenant("Other");
    db.create_tenant(&other, &[]).await.unwrap();
    assert!(!db.delete_rule(other.id, stored.id).await.unwrap(), "not another tenant's rule");
    assert!(db.delete_rule(t.id, stored.id).await.unwrap());
    assert_eq!(db.rules(t.id).await.unwrap().len(), n);
}

async fn instance_values_are_written_once(db: Db) {
    assert_eq!(db.instance_value_or_insert("k", "first").await.unwrap(), "first");
    assert_eq!(db.instance_value_or_insert("k", "second").await.unwrap(), "first");
}

/// The ledger's primitives: a start credit booked once, holds that cannot pass the floor,
/// settlement at the actual price, release, and expiry of forgotten holds; the sums agree
/// after each step.
async fn reservations_hold_settle_release_and_expire(db: Db) {
    use docwright_core::billing::TxKind;
    use docwright_core::money::Money;
    use docwright_storage::billing::{Hold, NewEntry};
    let t = tenant("Ledger");
    db.create_tenant(&t, &[]).await.unwrap();
    let chf = |m: i64| Money::from_micros(m * 10_000); // hundredths
    let a = db.ensure_account(t.id, None, chf(100), "start credit").await.unwrap();
    let again = db.ensure_account(t.id, None, chf(100), "start credit").await.unwrap();
    assert_eq!((a.id.clone(), again.balance), (again.id.clone(), chf(100)), "the start credit is booked once");
    let later = Timestamp::now().plus_secs(600);
    db.heartbeat("me", Timestamp::now()).await.unwrap();
    let Hold::Held(r1) = db.reserve(&a.id, chf(60), Some(Money::ZERO), "me", later).await.unwrap() else { panic!() };
    // 100 - 60 leaves 40: a hold of 50 does not fit the floor of zero.
    assert_eq!(
        db.reserve(&a.id, chf(50), Some(Money::ZERO), "me", later).await.unwrap(),
        Hold::Insufficient { balance: chf(100), reserved: chf(60) }
    );
    let charge = NewEntry {
        kind: TxKind::Debit,
        amount: Money::from_micros(-chf(45).micros()),
        user_id: None,
        description: "call".into(),
        reference_type: "system".into(),
        reference_id: "stat".into(),
        feature: "api".into(),
        provider: "p".into(),
        model: "m".into(),
    };
    db.settle(Some(&r1), &a.id, t.id, Some(&charge)).await.unwrap();
    let now = db.account(t.id, None).await.unwrap().unwrap();
    assert_eq!((now.balance, now.reserved), (chf(55), Money::ZERO));
    // Settling twice books nothing twice on the reservation side.
    let Hold::Held(r2) = db.reserve(&a.id, chf(50), Some(Money::ZERO), "me", later).await.unwrap() else { panic!() };
    db.settle(Some(&r2), &a.id, t.id, None).await.unwrap();
    db.settle(Some(&r2), &a.id, t.id, None).await.unwrap();
    assert_eq!(db.account(t.id, None).await.unwrap().unwrap().reserved, Money::ZERO);
    // A hold past its expiry is released by the reconciliation; a live one is kept.
    let past = Timestamp::now().plus_secs(-1);
    let Hold::Held(_) = db.reserve(&a.id, chf(10), Some(Money::ZERO), "me", past).await.unwrap() else { panic!() };
    let Hold::Held(_) = db.reserve(&a.id, chf(20), Some(Money::ZERO), "me", later).await.unwrap() else { panic!() };
    let released = db.release_stale_reservations(Timestamp::now(), Timestamp::now().plus_secs(-30)).await.unwrap();
    assert_eq!(released, 1);
    assert_eq!(db.account(t.id, None).await.unwrap().unwrap().reserved, chf(20));
    assert_eq!(db.reservation_count(&a.id).await.unwrap(), 1);
    // ... and a dead process's holds go too.
    let released = db.release_stale_reservations(Timestamp::now(), Timestamp::now().plus_secs(30)).await.unwrap();
    assert_eq!(released, 1);
    assert!(db.ledger_mismatches(Some(t.id)).await.unwrap().is_empty());
    assert_eq!(db.credits_of(&a.id).await.unwrap(), (chf(100), 1));
    assert_eq!(db.tenant_balance_before(t.id, Timestamp::now().plus_secs(1)).await.unwrap(), chf(55));
    let rows = db.ledger(t.id, None, Timestamp::from_millis(0), Timestamp::now().plus_secs(1), 100).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.new.kind).collect::<Vec<_>>(), [TxKind::Credit, TxKind::Debit]);
}
