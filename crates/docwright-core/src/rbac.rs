//! Role-based access control (SPEC P5).
//!
//! A [`Rule`] says, for one role and one item pattern, whether the item is visible (`view`) and
//! at which [`AccessLevel`] the role may read, create, update and delete it. Items are dotted
//! names whose first segment is the [`Context`]: `data.system.User`, `resource.aicore.openai`,
//! `ui.feature.chat`. A pattern is either an exact item or a prefix ending in `.*`.
//!
//! The [`Policy`] evaluates the rules of one tenant: the most specific matching rule wins
//! (an exact item beats a longer prefix, which beats a shorter one); no matching rule means
//! `none`. `sysadmin` is platform-wide and always gets `all`; every other role is capped at
//! `tenant`, so no stored rule can ever let a tenant role see another tenant's data.
//!
//! For the `resource` and `ui` contexts the action that matters is [`Action::View`] (SPEC B5's
//! `use` of a provider): `view = true` grants it at `tenant` level.

use std::fmt;

use crate::ParseError;
use crate::role::Role;

/// How far a permission reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    /// Not at all.
    None,
    /// Only records the user owns (their own keys, their own settings).
    My,
    /// Every record of the current tenant.
    Tenant,
    /// Every record of every tenant (sysadmin only).
    All,
}

impl AccessLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::None => "none",
            AccessLevel::My => "my",
            AccessLevel::Tenant => "tenant",
            AccessLevel::All => "all",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "none" => Ok(AccessLevel::None),
            "my" => Ok(AccessLevel::My),
            "tenant" => Ok(AccessLevel::Tenant),
            "all" => Ok(AccessLevel::All),
            other => Err(ParseError::new(format!("unknown access level `{other}` (expected none, my, tenant or all)"))),
        }
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of thing a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// Records: users, keys, documents, automations.
    Data,
    /// Things one uses: AI providers, actions.
    Resource,
    /// Parts of the web UI.
    Ui,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Data => "data",
            Context::Resource => "resource",
            Context::Ui => "ui",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "data" => Ok(Context::Data),
            "resource" => Ok(Context::Resource),
            "ui" => Ok(Context::Ui),
            other => Err(ParseError::new(format!("unknown context `{other}` (expected data, resource or ui)"))),
        }
    }
}

/// What a request wants to do with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    View,
    Read,
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// An item pattern: `data.system.User` (exact) or `data.system.*` (prefix).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemPattern(String);

impl ItemPattern {
    /// Parses a pattern; its first segment must be a [`Context`], every segment must be
    /// non-empty ASCII letters, digits, `_` or `-`, and only the last may be `*`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let bad = |why: &str| ParseError::new(format!("item `{s}` is not valid: {why}"));
        if s.is_empty() || s.len() > 200 {
            return Err(bad("it must be 1 to 200 characters"));
        }
        let segments: Vec<&str> = s.split('.').collect();
        Context::parse(segments[0]).map_err(|_| bad("it must start with data., resource. or ui."))?;
        for (i, seg) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            if *seg == "*" {
                if !last || i == 0 {
                    return Err(bad("`*` may only be the last segment"));
                }
                continue;
            }
            if seg.is_empty() || !seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(bad("segments are letters, digits, `_` or `-`, separated by dots"));
            }
        }
        if segments.len() == 1 {
            return Err(bad("name an item below the context, e.g. `data.*`"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn context(&self) -> Context {
        // The first segment was checked by `parse`.
        match self.0.split('.').next() {
            Some("resource") => Context::Resource,
            Some("ui") => Context::Ui,
            _ => Context::Data,
        }
    }

    fn is_prefix(&self) -> bool {
        self.0.ends_with(".*")
    }

    /// How specifically this pattern matches `item`, or `None` when it does not match.
    /// Exact matches outrank every prefix; longer prefixes outrank shorter ones.
    fn specificity(&self, item: &str) -> Option<usize> {
        if self.is_prefix() {
            let prefix = &self.0[..self.0.len() - 1]; // keeps the trailing dot
            item.starts_with(prefix).then_some(prefix.len())
        } else {
            (self.0 == item).then_some(usize::MAX)
        }
    }
}

impl fmt::Display for ItemPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The permission a route or a use case needs: an exact item and an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission {
    pub item: &'static str,
    pub action: Action,
}

impl Permission {
    pub const fn new(item: &'static str, action: Action) -> Self {
        Self { item, action }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.item, self.action.as_str())
    }
}

/// One rule: for `role`, on items matching `item`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub role: Role,
    pub item: ItemPattern,
    pub view: bool,
    pub read: AccessLevel,
    pub create: AccessLevel,
    pub update: AccessLevel,
    pub delete: AccessLevel,
}

impl Rule {
    pub fn level(&self, action: Action) -> AccessLevel {
        match action {
            Action::View if self.view => AccessLevel::Tenant,
            Action::View => AccessLevel::None,
            Action::Read => self.read,
            Action::Create => self.create,
            Action::Update => self.update,
            Action::Delete => self.delete,
        }
    }
}

/// Rules of one tenant, ready to answer "may this role do this?".
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<Rule>,
}

impl Policy {
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The level `role` holds for `perm`.
    pub fn grant(&self, role: Role, perm: Permission) -> AccessLevel {
        self.grant_item(role, perm.item, perm.action)
    }

    /// As [`Policy::grant`] for an item named at run time (e.g. `resource.aicore.<provider>`).
    pub fn grant_item(&self, role: Role, item: &str, action: Action) -> AccessLevel {
        if role == Role::Sysadmin {
            return AccessLevel::All;
        }
        let best = self
            .rules
            .iter()
            .filter(|r| r.role == role)
            .filter_map(|r| r.item.specificity(item).map(|s| (s, r)))
            .max_by_key(|(s, _)| *s);
        match best {
            Some((_, rule)) => rule.level(action).min(AccessLevel::Tenant),
            None => AccessLevel::None,
        }
    }
}

/// Items the platform knows, with what they protect. Rules may name these, a prefix of them
/// (`data.system.*`), or an item below a family (`resource.aicore.<provider>`).
pub mod items {
    /// The closed namespace of platform records: only the exact items of [`CATALOG`].
    pub const SYSTEM_PREFIX: &str = "data.system.";
    pub const TENANT: &str = "data.system.Tenant";
    pub const USER: &str = "data.system.User";
    pub const STATIC_TOKEN: &str = "data.system.StaticToken";
    pub const API_KEY: &str = "data.system.ApiKey";
    pub const RBAC_RULE: &str = "data.system.RbacRule";
    pub const USER_SETTINGS: &str = "data.system.UserSettings";
    pub const AI_PROVIDER: &str = "data.system.AiProvider";
    pub const BILLING: &str = "data.system.Billing";
    pub const NOTICE: &str = "data.system.Notice";
    /// CRM sync sources (`/api/admin/sync/sources`, `/api/sync/{source}/...`, SPEC Y): their
    /// connection, sinks and synced documents; administration, like every `data.system.` item.
    pub const SYNC_SOURCE: &str = "data.system.SyncSource";
    /// Uploaded files, their content and extracted parts, and full-text search over them.
    pub const DOCUMENT_FILE: &str = "data.document.File";
    /// The projects tree (clients, projects, folders, documents placed in them) and the
    /// results produced about documents. The tree is shared by the tenant: it has no owners,
    /// so level `my` reaches none of it.
    pub const DOCUMENT_PROJECT: &str = "data.document.Project";
    /// Collections (`/api/collections`, SPEC Y3): named sets of the tenant's files, searchable
    /// and usable as the context of chats and workflows. Shared by the tenant like the projects
    /// tree: no owners, so level `my` reaches none of them.
    pub const DOCUMENT_COLLECTION: &str = "data.document.Collection";
    /// Jobs of the durable queue (SPEC S2): listed, retried and cancelled by administrators,
    /// each tenant's admins seeing the tenant's jobs, sysadmins every job.
    pub const JOB: &str = "data.system.Job";
    /// Asynchronous AI requests (`/api/ai/*`, SPEC W1); level `my`: the requests you made.
    pub const AI_REQUEST: &str = "data.ai.Request";
    /// Generation workflows (`/api/workflows`, SPEC W1-W4); level `my`: the workflows you ran.
    pub const WORKFLOW: &str = "data.ai.Workflow";
    /// Chats with documents (`/chats`, SPEC C1-C2); level `my`: your own chats.
    pub const CHAT: &str = "data.ai.Chat";
    /// Role prompts (`/prompts/roles`, SPEC C3): everyone reads them; a tenant's admins edit
    /// the tenant's own (the seeded ones are the installation's, edited by sysadmins).
    pub const ROLE_PROMPT: &str = "data.ai.RolePrompt";
    /// The prompt library (`/api/prompts/categories`, `/api/prompts/presets`, SPEC T1):
    /// categories and their preset system prompts. Everyone reads them and classifies; a
    /// tenant's admins manage the tenant's own (the seeded ones are the installation's, edited
    /// by sysadmins).
    pub const PROMPT_PRESET: &str = "data.ai.PromptPreset";
    /// Automation templates (`/api/automation-templates`, SPEC T2): workflow JSON with
    /// placeholders; level `my`: your own (the installation's starter set is read by all).
    pub const AUTOMATION_TEMPLATE: &str = "data.automation.AutomationTemplate";
    /// Automation definitions (`/api/automations`, SPEC T2-T4): scheduled runs that spend money
    /// like workflows; level `my`: your own.
    pub const AUTOMATION: &str = "data.automation.Automation";
    /// The family of actions automations and workflows use: `resource.action.<method>.<action>`.
    pub const ACTION_PREFIX: &str = "resource.action.";

    /// Exact items with a description, for the admin API and validation.
    pub const CATALOG: &[(&str, &str)] = &[
        (TENANT, "Tenants: read your own; only sysadmins create or list every tenant."),
        (USER, "Users and their role in the tenant."),
        (STATIC_TOKEN, "Static login tokens issued to users."),
        (API_KEY, "API keys (`dw_...`) for machine clients."),
        (RBAC_RULE, "The permission rules of the tenant."),
        (USER_SETTINGS, "A user's own settings (model profile, role prompt, language)."),
        (AI_PROVIDER, "The AI models and providers of the installation: list, health, key test."),
        (
            BILLING,
            "Balances, transactions and usage; top-ups (create) and billing settings (update) are for sysadmins.",
        ),
        (NOTICE, "Billing notices of the tenant (low-balance warnings, monthly reports) and their delivery."),
        (
            SYNC_SOURCE,
            "CRM sync sources: their EspoCRM connection, sinks and field map, the synced documents' states, and forced resyncs.",
        ),
        (
            DOCUMENT_FILE,
            "Uploaded files, their extracted content and full-text search over it; level `my`: the files you uploaded.",
        ),
        (
            DOCUMENT_PROJECT,
            "The projects tree: clients, projects, folders, documents placed in them, and results about documents.",
        ),
        (
            DOCUMENT_COLLECTION,
            "Collections: named sets of the tenant's files (members), searched and used as the context of chats and workflows.",
        ),
        (JOB, "Jobs of the background queue: list, retry, cancel (a tenant's admins see the tenant's jobs)."),
        (
            WORKFLOW,
            "Generation workflows: start (create), status, events, log and debug files (read), cancel (update); level `my`: your own.",
        ),
        (
            CHAT,
            "Chats with documents: create and send messages (create), history and events (read), delete; level `my`: your own.",
        ),
        (ROLE_PROMPT, "Role prompts of chats: read by everyone; created, edited and deleted by the tenant's admins."),
        (
            PROMPT_PRESET,
            "The prompt library: categories and preset system prompts, and classification of a request; read by everyone, managed by the tenant's admins.",
        ),
        (
            AUTOMATION_TEMPLATE,
            "Automation templates: workflow JSON with {{KEY:name}} placeholders; level `my`: your own (the starter set is read by all).",
        ),
        (
            AUTOMATION,
            "Automation definitions: scheduled or run-now workflows from a template with values; level `my`: your own.",
        ),
        (
            AI_REQUEST,
            "Asynchronous AI requests: submit (create), status and result (read), cancel (update); level `my`: your own.",
        ),
    ];

    /// Families whose members are named at run time (e.g. providers from configuration).
    pub const FAMILIES: &[(&str, &str)] = &[
        ("resource.aicore.", "Use of an AI provider: `resource.aicore.<provider name>`."),
        ("resource.action.", "Use of an action: `resource.action.<action id>`."),
        ("ui.", "Parts of the web UI."),
        ("data.", "Records of features to come (documents, chats, workflows, automations, billing)."),
    ];
}

/// The rules every tenant starts with. Admins may edit them per tenant afterwards.
pub fn bootstrap_rules() -> Vec<Rule> {
    use AccessLevel::{My, None as No, Tenant as T};
    let rule = |role, item: &str, view, read, create, update, delete| Rule {
        role,
        // The patterns below are literals checked by the unit test `bootstrap_rules_parse`.
        item: ItemPattern(item.to_owned()),
        view,
        read,
        create,
        update,
        delete,
    };
    let mut rules = Vec::new();
    for role in [Role::Admin, Role::User, Role::Viewer] {
        let (r, c, u, d) = match role {
            Role::Admin => (T, T, T, T),
            Role::User => (T, My, My, My),
            _ => (T, No, No, No),
        };
        // Records of features to come: admins manage the tenant's, users their own, viewers read.
        rules.push(rule(role, "data.*", true, r, c, u, d));
        // Using AI providers and actions costs money: not for viewers by default.
        let uses = role != Role::Viewer;
        rules.push(rule(role, "resource.*", uses, No, No, No, No));
        rules.push(rule(role, "ui.*", true, No, No, No, No));
        // Platform administration is for admins; everyone keeps their own settings and keys
        // and may read their own user record.
        let admin = role == Role::Admin;
        let sys = if admin { T } else { No };
        rules.push(rule(role, "data.system.*", admin, sys, sys, sys, sys));
        rules.push(rule(role, items::TENANT, true, T, No, if admin { T } else { No }, No));
        rules.push(rule(role, items::USER, true, if admin { T } else { My }, sys, sys, sys));
        let key = if admin { T } else { My };
        rules.push(rule(role, items::API_KEY, true, key, key, key, key));
        rules.push(rule(role, items::USER_SETTINGS, true, My, No, My, No));
        // Everyone sees their own balance and usage, admins the tenant's; money comes in and
        // billing models change only by sysadmins (who are above the rules).
        rules.push(rule(role, items::BILLING, true, if admin { T } else { My }, No, No, No));
        // The projects tree is shared by the tenant: users build and rearrange it, only admins
        // delete from it (deleting a client or project removes its whole tree), viewers read.
        let (pr, pc, pu, pd) = match role {
            Role::Admin => (T, T, T, T),
            Role::User => (T, T, T, No),
            _ => (T, No, No, No),
        };
        rules.push(rule(role, items::DOCUMENT_PROJECT, true, pr, pc, pu, pd));
        // Collections are shared the same way, with the same levels.
        rules.push(rule(role, items::DOCUMENT_COLLECTION, true, pr, pc, pu, pd));
        // Asynchronous AI requests spend money like any AI call: users submit and follow their
        // own, admins the tenant's; viewers none (they may not use AI providers either).
        let (ar, view) = match role {
            Role::Admin => (T, true),
            Role::User => (My, true),
            _ => (No, false),
        };
        rules.push(rule(role, items::AI_REQUEST, view, ar, ar, ar, ar));
        // Workflows spend money the same way: the same levels.
        rules.push(rule(role, items::WORKFLOW, view, ar, ar, ar, ar));
        // Chats call AI providers too: the same levels.
        rules.push(rule(role, items::CHAT, view, ar, ar, ar, ar));
        // Role prompts: everyone reads them, admins manage the tenant's.
        rules.push(rule(role, items::ROLE_PROMPT, true, T, sys, sys, sys));
        // The prompt library: the same (everyone reads and classifies, admins manage).
        rules.push(rule(role, items::PROMPT_PRESET, true, T, sys, sys, sys));
        // Automation templates (the seed's bootstrap): admins and users manage their own,
        // viewers read their own; everyone reads the installation's starter set.
        let own = if role == Role::Viewer { No } else { My };
        rules.push(rule(role, items::AUTOMATION_TEMPLATE, true, My, own, own, own));
        // Definitions run workflows, which spend money: the levels of workflows.
        rules.push(rule(role, items::AUTOMATION, view, ar, ar, ar, ar));
    }
    rules
}

/// Whether an item pattern names something the platform knows: an exact catalogue item, a
/// member of a family, or a prefix (`x.*`) that covers at least one of those.
pub fn is_known_item(pattern: &ItemPattern) -> bool {
    let s = pattern.as_str();
    if pattern.is_prefix() {
        let prefix = &s[..s.len() - 1];
        return items::CATALOG.iter().any(|(i, _)| i.starts_with(prefix))
            || items::FAMILIES.iter().any(|(f, _)| f.starts_with(prefix) || prefix.starts_with(f));
    }
    // The system namespace is closed: a typo there must not become a rule that guards nothing.
    if s.starts_with(items::SYSTEM_PREFIX) {
        return items::CATALOG.iter().any(|(i, _)| *i == s);
    }
    items::FAMILIES.iter().any(|(f, _)| s.starts_with(f) && s.len() > f.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(item: &'static str, action: Action) -> Permission {
        Permission::new(item, action)
    }

    #[test]
    fn bootstrap_rules_parse() {
        for r in bootstrap_rules() {
            assert_eq!(ItemPattern::parse(r.item.as_str()), Ok(r.item.clone()));
            assert!(is_known_item(&r.item), "{}", r.item);
        }
    }

    #[test]
    fn item_patterns_are_checked() {
        for ok in ["data.*", "data.system.User", "resource.aicore.openai", "ui.feature.chat-x"] {
            assert!(ItemPattern::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "data", "foo.bar", "data.*.User", "*", "data..x", "data.sys tem", "data.a*"] {
            assert!(ItemPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn most_specific_rule_wins() {
        let policy = Policy::new(bootstrap_rules());
        let check = |role, perm, want| assert_eq!(policy.grant(role, perm), want, "{role} {perm}");
        use AccessLevel::*;
        check(Role::User, p(items::API_KEY, Action::Create), My);
        check(Role::User, p(items::RBAC_RULE, Action::Read), None);
        check(Role::User, p(items::USER, Action::Read), My);
        check(Role::Admin, p(items::USER, Action::Create), Tenant);
        check(Role::Admin, p(items::TENANT, Action::Create), None);
        check(Role::Sysadmin, p(items::TENANT, Action::Create), All);
        check(Role::Viewer, p("resource.aicore.openai", Action::View), None);
        check(Role::User, p("resource.aicore.openai", Action::View), Tenant);
        check(Role::Viewer, p("data.chat.Chat", Action::Read), Tenant);
        check(Role::Viewer, p("data.chat.Chat", Action::Create), None);
        // Billing notices: the tenant's admins read them, through `data.system.*`.
        check(Role::Admin, p(items::NOTICE, Action::Read), Tenant);
        check(Role::User, p(items::NOTICE, Action::Read), None);
        check(Role::Viewer, p(items::NOTICE, Action::Read), None);
        // Files follow `data.*`; the projects tree has its own rule.
        check(Role::User, p(items::DOCUMENT_FILE, Action::Delete), My);
        check(Role::User, p(items::DOCUMENT_PROJECT, Action::Update), Tenant);
        check(Role::User, p(items::DOCUMENT_PROJECT, Action::Delete), None);
        check(Role::Admin, p(items::DOCUMENT_PROJECT, Action::Delete), Tenant);
        check(Role::Viewer, p(items::DOCUMENT_PROJECT, Action::Read), Tenant);
        check(Role::Viewer, p(items::DOCUMENT_PROJECT, Action::Create), None);
        check(Role::User, p(items::DOCUMENT_COLLECTION, Action::Update), Tenant);
        check(Role::User, p(items::DOCUMENT_COLLECTION, Action::Delete), None);
        check(Role::Admin, p(items::DOCUMENT_COLLECTION, Action::Delete), Tenant);
        check(Role::Viewer, p(items::DOCUMENT_COLLECTION, Action::Read), Tenant);
        check(Role::Viewer, p(items::DOCUMENT_COLLECTION, Action::Update), None);
        // Jobs are administration (`data.system.*`); AI requests are the caller's own for users.
        check(Role::Admin, p(items::JOB, Action::Update), Tenant);
        check(Role::User, p(items::JOB, Action::Read), None);
        check(Role::User, p(items::AI_REQUEST, Action::Create), My);
        check(Role::User, p(items::AI_REQUEST, Action::Read), My);
        check(Role::Admin, p(items::AI_REQUEST, Action::Read), Tenant);
        check(Role::Viewer, p(items::AI_REQUEST, Action::Read), None);
        check(Role::User, p(items::WORKFLOW, Action::Create), My);
        check(Role::Admin, p(items::WORKFLOW, Action::Update), Tenant);
        check(Role::Viewer, p(items::WORKFLOW, Action::Create), None);
    }

    #[test]
    fn the_prompt_library_is_read_by_everyone_and_written_by_admins() {
        let policy = Policy::new(bootstrap_rules());
        for role in [Role::Admin, Role::User, Role::Viewer] {
            assert_eq!(policy.grant(role, p(items::PROMPT_PRESET, Action::Read)), AccessLevel::Tenant, "{role}");
        }
        for action in [Action::Create, Action::Update, Action::Delete] {
            assert_eq!(policy.grant(Role::Admin, p(items::PROMPT_PRESET, action)), AccessLevel::Tenant);
            assert_eq!(policy.grant(Role::User, p(items::PROMPT_PRESET, action)), AccessLevel::None);
            assert_eq!(policy.grant(Role::Viewer, p(items::PROMPT_PRESET, action)), AccessLevel::None);
        }
    }

    #[test]
    fn tenant_roles_are_capped_below_all() {
        let rules = vec![Rule {
            role: Role::Admin,
            item: ItemPattern::parse("data.*").unwrap(),
            view: true,
            read: AccessLevel::All,
            create: AccessLevel::All,
            update: AccessLevel::All,
            delete: AccessLevel::All,
        }];
        let policy = Policy::new(rules);
        assert_eq!(policy.grant(Role::Admin, p(items::USER, Action::Read)), AccessLevel::Tenant);
        assert_eq!(policy.grant(Role::User, p(items::USER, Action::Read)), AccessLevel::None);
    }

    #[test]
    fn exact_beats_prefix_regardless_of_order() {
        let mk = |item: &str, read| Rule {
            role: Role::User,
            item: ItemPattern::parse(item).unwrap(),
            view: true,
            read,
            create: AccessLevel::None,
            update: AccessLevel::None,
            delete: AccessLevel::None,
        };
        let rules = vec![
            mk("data.system.User", AccessLevel::My),
            mk("data.*", AccessLevel::Tenant),
            mk("data.system.*", AccessLevel::None),
        ];
        for perm in [rules.clone(), rules.iter().rev().cloned().collect()] {
            let policy = Policy::new(perm);
            assert_eq!(policy.grant(Role::User, p(items::USER, Action::Read)), AccessLevel::My);
            assert_eq!(policy.grant(Role::User, p(items::API_KEY, Action::Read)), AccessLevel::None);
            assert_eq!(policy.grant(Role::User, p("data.x.Y", Action::Read)), AccessLevel::Tenant);
        }
    }

    #[test]
    fn unknown_items_are_recognised() {
        let known = |s| is_known_item(&ItemPattern::parse(s).unwrap());
        assert!(known("data.system.User"));
        assert!(known("data.system.*"));
        assert!(known("resource.aicore.gigachat"));
        assert!(known("data.documents.File"));
        assert!(!known("data.system.Usr"));
        assert!(!known("resource.billing.X"));
    }
}
