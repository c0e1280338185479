-- The prompt library (SPEC T1): categories of requests and preset system prompts in them.
--
-- tenant_id NULL: the installation's own (seeded at start from the files embedded in the
-- binary when the installation has none, read by every tenant, edited by sysadmins); else a
-- tenant's. A category's key (`analysis`) is unique per scope; a tenant's category with the key
-- of an installation's one stands for it in that tenant. Presets name their category by key.
-- JSON columns, each an object by language (en, de, fr, it, ru): names, descriptions (text),
-- keywords (arrays of words the offline classifier counts), prompts (the system prompt text).
CREATE TABLE prompt_categories (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    category_key TEXT NOT NULL,
    names        TEXT NOT NULL,
    descriptions TEXT NOT NULL,
    keywords     TEXT NOT NULL,
    sort_order   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX prompt_categories_installation_key ON prompt_categories (category_key) WHERE tenant_id IS NULL;
CREATE UNIQUE INDEX prompt_categories_tenant_key ON prompt_categories (tenant_id, category_key) WHERE tenant_id IS NOT NULL;

CREATE TABLE prompt_presets (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    category_key TEXT NOT NULL,
    names        TEXT NOT NULL,
    prompts      TEXT NOT NULL,
    sort_order   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX prompt_presets_by_tenant ON prompt_presets (tenant_id, category_key);

-- An AI request made with a category or preset: the preset it named and the system prompt it
-- resolved to when submitted (its job uses that text, whatever happens to the preset later).
ALTER TABLE ai_requests ADD COLUMN preset_id TEXT;
ALTER TABLE ai_requests ADD COLUMN system_prompt TEXT;

-- Tenants made before this migration got their rules from an older `bootstrap_rules`: give
-- those that still have the bootstrap `data.*` rule of a role the prompt library's rule (as
-- `docwright_core::rbac::bootstrap_rules` now writes it: everyone reads, admins manage).
INSERT INTO rbac_rules (id, tenant_id, role, item, can_view, read_level, create_level, update_level, delete_level, updated_at)
SELECT lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-' || substr(h, 21, 12)),
       r.tenant_id, r.role, 'data.ai.PromptPreset', 1, 'tenant', v.w, v.w, v.w, CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM (SELECT hex(randomblob(16)) AS h, tenant_id, role FROM rbac_rules WHERE item = 'data.*') r
JOIN (SELECT 'admin' AS role, 'tenant' AS w
      UNION ALL SELECT 'user', 'none'
      UNION ALL SELECT 'viewer', 'none') v ON v.role = r.role
WHERE true
ON CONFLICT (tenant_id, role, item) DO NOTHING;
