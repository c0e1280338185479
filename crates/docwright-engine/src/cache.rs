//! Short-lived memory of what every request looks up — who a credential is, the tenant and
//! role it acts as, a tenant's rules, the provider key a call uses — so that the hot path
//! (the AI front door above all, SPEC N1) does not query the database each time.
//!
//! Invariants: an entry lives at most `auth.cache_ttl_secs`; every change this replica makes to
//! users, memberships, credentials, rules or keys clears the whole cache at once (a
//! generation counter keeps a lookup that raced the change from storing its stale answer), so
//! on this replica a change takes effect immediately and on others within the TTL. A TTL of 0
//! turns the cache off.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use docwright_core::id::{TenantId, UserId};
use docwright_core::rbac::Policy;
use docwright_core::role::Role;
use docwright_core::settings::ModelProfile;
use docwright_llm::ApiKey;
use docwright_storage::billing::BillingSettings;

use crate::identity::Principal;

/// Entries per map beyond which the map is emptied rather than grown (a bound on memory when
/// many distinct credentials arrive within one TTL).
const MAX_ENTRIES: usize = 50_000;

/// One map of the cache.
#[derive(Debug)]
pub(crate) struct Memo<K, V> {
    map: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self { map: RwLock::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        // A poisoned lock means a panic mid-insert elsewhere; the map itself is still sound.
        let map = self.map.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key).filter(|(until, _)| Instant::now() < *until).map(|(_, v)| v.clone())
    }

    fn put(&self, key: K, value: V, until: Instant, generation: u64, current: &AtomicU64) {
        let mut map = self.map.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Checked under the lock: a clear that raced this lookup has already bumped the counter.
        if current.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (until, value));
    }

    fn clear(&self) {
        self.map.write().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

/// (user, tenant the credential is bound to, tenant asked for): what fixes a request's
/// (tenant, role).
pub(crate) type ContextKey = (UserId, Option<TenantId>, Option<TenantId>);

/// What a request resolves before its use case runs.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    ttl: Duration,
    generation: AtomicU64,
    /// By credential: `k:<api key hash>` or `s:<session id>`.
    pub(crate) principals: Memo<String, Principal>,
    pub(crate) contexts: Memo<ContextKey, (TenantId, Role)>,
    pub(crate) policies: Memo<TenantId, Arc<Policy>>,
    /// (user, tenant, provider) → the key a call uses (BYOK, tenant, or none stored).
    pub(crate) keys: Memo<(UserId, TenantId, String), Option<ApiKey>>,
    pub(crate) profiles: Memo<UserId, ModelProfile>,
    pub(crate) billing: Memo<TenantId, Arc<BillingSettings>>,
}

/// A lookup in progress: the generation it started in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl Cache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { ttl, ..Self::default() }
    }

    /// The cached value, or a ticket to store the value the caller is about to look up.
    pub(crate) fn get<K: Hash + Eq, V: Clone>(&self, memo: &Memo<K, V>, key: &K) -> Result<V, Ticket> {
        let ticket = Ticket(self.generation.load(Ordering::Acquire));
        if self.ttl.is_zero() {
            return Err(ticket);
        }
        memo.get(key).ok_or(ticket)
    }

    pub(crate) fn put<K: Hash + Eq, V: Clone>(&self, memo: &Memo<K, V>, ticket: Ticket, key: K, value: V) {
        if !self.ttl.is_zero() {
            memo.put(key, value, Instant::now() + self.ttl, ticket.0, &self.generation);
        }
    }

    /// Forgets everything: called after every change to users, memberships, credentials,
    /// rules or keys.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.principals.clear();
        self.contexts.clear();
        self.policies.clear();
        self.keys.clear();
        self.profiles.clear();
        self.billing.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_that_raced_a_change_is_not_stored() {
        let cache = Cache::new(Duration::from_secs(60));
        let user = UserId::new();
        let stale = cache.get(&cache.profiles, &user).expect_err("miss");
        cache.invalidate();
        cache.put(&cache.profiles, stale, user, ModelProfile::Complex);
        assert!(cache.get(&cache.profiles, &user).is_err(), "stale answer stored after the change");
        let fresh = cache.get(&cache.profiles, &user).expect_err("miss");
        cache.put(&cache.profiles, fresh, user, ModelProfile::Complex);
        assert_eq!(cache.get(&cache.profiles, &user).ok(), Some(ModelProfile::Complex));
    }

    #[test]
    fn entries_expire_and_a_zero_ttl_caches_nothing() {
        let cache = Cache::new(Duration::from_millis(1));
        let user = UserId::new();
        let t = cache.get(&cache.profiles, &user).expect_err("miss");
        cache.put(&cache.profiles, t, user, ModelProfile::Simple);
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&cache.profiles, &user).is_err());
        let off = Cache::new(Duration::ZERO);
        let t = off.get(&off.profiles, &user).expect_err("miss");
        off.put(&off.profiles, t, user, ModelProfile::Simple);
        assert!(off.get(&off.profiles, &user).is_err());
    }
}
