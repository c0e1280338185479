//! Full-text search over extracted text (SPEC D4): SQLite FTS5 (`file_part_pieces_fts`, ranked
//! by `bm25`, snippets by `snippet()`) or PostgreSQL (`file_part_pieces.text_tsv` with the
//! `simple` configuration, ranked by `ts_rank_cd`, snippets by `ts_headline`).
//!
//! The index covers bounded pieces of each part's text (at most
//! [`PIECE_CHARS`](crate::files::PIECE_CHARS) characters, see migration 0010), so the work of a
//! search grows with the matches, never with the square of a part's length: a hit is a piece,
//! a part's best piece stands for it, and its snippet is cut from that piece alone. Matching
//! reads only the index; ranking, which reads a piece's whole entry, is done for the first
//! [`RANKED_PIECES`] matching pieces of each part, so a word in every piece of a huge part
//! costs little more than a word in one. Every word must occur in one piece. On PostgreSQL the
//! statements run under `statement_timeout` ([`SEARCH_TIME_LIMIT`]); sqlx's `Any` driver
//! offers SQLite neither a progress handler nor an interrupt, so there the bound is the bounded
//! input, and the caller's wait is cut at the same limit.
//!
//! User text never reaches either query language as syntax: [`search_terms`] reduces it to
//! words, and each dialect gets them in a form that cannot be an operator — FTS5 phrases in
//! double quotes (quotes inside doubled), or a plain string for `plainto_tsquery`. Every term
//! must occur (AND). Hits are tenant-scoped, optionally limited to one owner's files, and
//! grouped per file: a file appears once, with its best part (its location and snippet) and
//! the number of its parts that match.

use docwright_core::id::{CollectionId, FileId, PartId, ProjectId, TenantId, UserId};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Backend, Db, Result, parse_col, trusted};

/// Longest a search may take (PostgreSQL cancels the statement; on both databases the caller
/// stops waiting and gets [`Error::TimedOut`](crate::Error::TimedOut)).
pub const SEARCH_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// At most this many terms are searched for; more are ignored.
pub const MAX_TERMS: usize = 32;
/// A longer term is cut to this many characters.
pub const MAX_TERM_CHARS: usize = 100;

/// Marks around matches in snippets as the database writes them: Unicode private-use
/// characters, which extracted text does not contain in practice, turned into
/// [`SnippetPiece`]s before anything leaves this module.
const MARK_START: char = '\u{E000}';
const MARK_END: char = '\u{E001}';

/// The words of a user's query: split on whitespace, ё folded to е, cut to [`MAX_TERM_CHARS`], keeping only
/// terms with a letter or digit (a lone `(` or `"` is no word), at most [`MAX_TERMS`]. Empty
/// when nothing searchable is left.
pub fn search_terms(q: &str) -> Vec<String> {
    q.split_whitespace()
        .map(|t| {
            t.chars()
                .filter(|c| !c.is_control() && *c != MARK_START && *c != MARK_END)
                .map(fold_yo)
                .take(MAX_TERM_CHARS)
        })
        .map(String::from_iter)
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .take(MAX_TERMS)
        .collect()
}

/// Russian ё as е, as both indexes hold the text (the migrations fold it the same way).
fn fold_yo(c: char) -> char {
    match c {
        'ё' => 'е',
        'Ё' => 'Е',
        other => other,
    }
}

/// The FTS5 query for `terms`: each a quoted phrase (an embedded `"` doubled), joined by
/// spaces, which FTS5 reads as AND. Operators (`OR`, `NOT`, `NEAR`, `*`, `^`, `:`, brackets)
/// inside quotes are plain text.
fn fts5_query(terms: &[String]) -> String {
    terms.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect::<Vec<_>>().join(" ")
}

/// One search: `terms` from [`search_terms`] (not empty).
#[derive(Debug, Clone)]
pub struct SearchQuery<'a> {
    pub terms: &'a [String],
    /// Only files uploaded by this user (an RBAC grant at level `my`).
    pub owner: Option<UserId>,
    pub limit: u32,
    pub offset: u32,
}

/// A file that matched, with its best-matching part.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub file_id: FileId,
    pub file_name: String,
    pub mime_type: String,
    /// The best-matching part and where it was found.
    pub part_id: PartId,
    /// The best-matching piece of that part (its snippet's source).
    pub piece: u32,
    pub seq: u32,
    pub page: Option<u32>,
    pub slide: Option<u32>,
    pub sheet: Option<String>,
    /// Higher is better; comparable only within one result list.
    pub score: f64,
    /// How many parts of the file match.
    pub matching_parts: u64,
    /// The best part's text around the matches.
    pub snippet: Vec<SnippetPiece>,
}

/// A run of snippet text, marked when it is a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetPiece {
    pub text: String,
    pub hit: bool,
}

/// One page of hits, best first.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub has_more: bool,
}

/// The files a search or retrieval is limited to: those placed in a project, or the members of
/// a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileScope {
    Project(ProjectId),
    Collection(CollectionId),
}

impl From<ProjectId> for FileScope {
    fn from(p: ProjectId) -> Self {
        FileScope::Project(p)
    }
}

impl From<CollectionId> for FileScope {
    fn from(c: CollectionId) -> Self {
        FileScope::Collection(c)
    }
}

impl FileScope {
    /// The scope's id, bound as a parameter.
    pub(crate) fn id(self) -> String {
        match self {
            FileScope::Project(p) => p.to_string(),
            FileScope::Collection(c) => c.to_string(),
        }
    }

    /// A condition that `file` (a column) is in the scope whose id is parameter `id`, of the
    /// tenant in parameter `tenant`.
    pub(crate) fn condition(self, tenant: &str, id: &str, file: &str) -> String {
        match self {
            FileScope::Project(_) => format!(
                "EXISTS (SELECT 1 FROM documents d WHERE d.tenant_id = {tenant} AND d.project_id = {id} AND d.file_id = {file})"
            ),
            FileScope::Collection(_) => format!(
                "EXISTS (SELECT 1 FROM collection_files cf WHERE cf.collection_id = {id} AND cf.file_id = {file} \
                 AND cf.tenant_id = {tenant})"
            ),
        }
    }
}

impl Db {
    /// Searches the extracted text of the tenant's files (see the module docs).
    pub async fn search(&self, tenant: TenantId, q: &SearchQuery<'_>) -> Result<SearchPage> {
        self.search_in(tenant, q, None).await
    }

    /// [`Db::search`] limited to the files of `scope` (a collection's members, a project's
    /// documents), when given.
    pub async fn search_in(
        &self,
        tenant: TenantId,
        q: &SearchQuery<'_>,
        scope: Option<FileScope>,
    ) -> Result<SearchPage> {
        if q.terms.is_empty() {
            return Ok(SearchPage { hits: Vec::new(), has_more: false });
        }
        match tokio::time::timeout(SEARCH_TIME_LIMIT, self.search_within_limit(tenant, q, scope)).await {
            Ok(result) => result,
            Err(_) => Err(crate::Error::TimedOut("search")),
        }
    }

    async fn search_within_limit(
        &self,
        tenant: TenantId,
        q: &SearchQuery<'_>,
        scope: Option<FileScope>,
    ) -> Result<SearchPage> {
        // The first matching pieces of each part (`firsts`, see [`first_pieces`]), ranked; the
        // best piece per part, the best part per file: higher scores first (bm25 is negated:
        // smaller is better). The owner is checked after the cut, which is per part and so the
        // same for every owner. On SQLite `bm25` works only in a scan of the full-text query, so
        // the query runs again with the cut as a filter on its rows (before their pieces are
        // read); the `+` keeps it a filter, not rowids FTS5 would be asked for one at a time
        // (each a new query, recounting bm25's statistics over every match).
        let (query_text, hits) = match self.backend() {
            Backend::Sqlite => (
                fts5_query(q.terms),
                "SELECT p.id AS part_id, p.file_id, p.seq, p.page, p.slide, p.sheet, pc.piece, \
                 -bm25(file_part_pieces_fts) AS score \
                 FROM file_part_pieces_fts JOIN file_part_pieces pc ON pc.rowid = file_part_pieces_fts.rowid \
                 JOIN file_parts p ON p.id = pc.part_id JOIN files f ON f.id = p.file_id \
                 WHERE file_part_pieces_fts MATCH $1 AND +file_part_pieces_fts.rowid IN (SELECT rid FROM firsts) \
                 AND ($3 = '' OR f.owner_id = $3)",
            ),
            Backend::Postgres => (
                q.terms.join(" "),
                "SELECT p.id AS part_id, p.file_id, p.seq, p.page, p.slide, p.sheet, x.piece, \
                 CAST(ts_rank_cd(pc.text_tsv, plainto_tsquery('simple', $1)) AS DOUBLE PRECISION) AS score \
                 FROM firsts x JOIN file_part_pieces pc ON pc.part_id = x.part_id AND pc.piece = x.piece \
                 JOIN file_parts p ON p.id = x.part_id JOIN files f ON f.id = p.file_id \
                 WHERE ($3 = '' OR f.owner_id = $3)",
            ),
        };
        // The scope, like the owner, is checked after the cut (which is per part).
        let hits = match scope {
            Some(scope) => format!("{hits} AND {}", scope.condition("$2", "$6", "p.file_id")),
            None => hits.to_owned(),
        };
        let firsts = match self.backend() {
            Backend::Sqlite => first_pieces(Backend::Sqlite, "$1", "$2"),
            Backend::Postgres => first_pieces(Backend::Postgres, "plainto_tsquery('simple', $1)", "$2"),
        };
        let sql = format!(
            "WITH {firsts}, hits AS ({hits}), \
             parts AS (SELECT h.*, ROW_NUMBER() OVER (PARTITION BY part_id ORDER BY score DESC, piece) AS pn FROM hits h), \
             best AS (SELECT x.*, ROW_NUMBER() OVER (PARTITION BY file_id ORDER BY score DESC, seq) AS rn, \
                      COUNT(*) OVER (PARTITION BY file_id) AS matching FROM parts x WHERE pn = 1) \
             SELECT b.part_id, b.file_id, b.seq, b.page, b.slide, b.sheet, b.piece, b.score, b.matching, \
             f.file_name, f.mime_type \
             FROM best b JOIN files f ON f.id = b.file_id WHERE b.rn = 1 \
             ORDER BY b.score DESC, b.file_id LIMIT $4 OFFSET $5"
        );
        let mut tx = self.limited_tx().await?;
        let mut query = sqlx::query(trusted(sql))
            .bind(query_text.clone())
            .bind(tenant.to_string())
            .bind(q.owner.map(|u| u.to_string()).unwrap_or_default())
            .bind(i64::from(q.limit) + 1)
            .bind(i64::from(q.offset));
        if let Some(scope) = scope {
            query = query.bind(scope.id());
        }
        let rows = query.fetch_all(&mut *tx).await.map_err(timed_out)?;
        let mut hits = rows.iter().map(hit_from_row).collect::<Result<Vec<_>>>()?;
        let has_more = hits.len() > q.limit as usize;
        hits.truncate(q.limit as usize);
        add_snippets(&mut tx, self.backend(), tenant, &query_text, &mut hits).await?;
        tx.commit().await?;
        Ok(SearchPage { hits, has_more })
    }
}

/// A passage that matched a retrieval: one part, with its best piece's score.
#[derive(Debug, Clone, PartialEq)]
pub struct PassageHit {
    pub file_id: FileId,
    pub part_id: PartId,
    /// Higher is better; comparable only within one result list.
    pub score: f64,
}

impl Db {
    /// Retrieval for a chat (SPEC C2): the parts of the files in `scope` (placed in a project,
    /// or members of a collection; a [`ProjectId`] or [`CollectionId`] will do) that contain
    /// *any* of `terms` (a question's words rarely all occur in one passage), best first, at
    /// most `limit`; of one owner's files when `owner` is given. The words reach the query
    /// languages as in [`Db::search`]: FTS5 phrases joined by `OR`, or one `plainto_tsquery`
    /// per word joined by the tsquery operator `||`.
    pub async fn search_passages(
        &self,
        tenant: TenantId,
        terms: &[String],
        scope: impl Into<FileScope>,
        owner: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<PassageHit>> {
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let files = scope.into();
        let search = async {
            // As in `search`: the first matching pieces of each part, ranked, scoped after the cut
            // (per part, so the same for every scope).
            let scope = format!("($2 = '' OR f.owner_id = $2) AND {}", files.condition("$1", "$3", "p.file_id"));
            let (firsts, hits) = match self.backend() {
                Backend::Sqlite => (
                    first_pieces(Backend::Sqlite, "$5", "$1"),
                    format!(
                        "SELECT p.id AS part_id, p.file_id, -bm25(file_part_pieces_fts) AS score \
                         FROM file_part_pieces_fts JOIN file_part_pieces pc ON pc.rowid = file_part_pieces_fts.rowid \
                         JOIN file_parts p ON p.id = pc.part_id JOIN files f ON f.id = p.file_id \
                         WHERE file_part_pieces_fts MATCH $5 AND +file_part_pieces_fts.rowid IN (SELECT rid FROM firsts) \
                         AND {scope}"
                    ),
                ),
                Backend::Postgres => {
                    let q = (0..terms.len())
                        .map(|i| format!("plainto_tsquery('simple', ${})", i + 5))
                        .collect::<Vec<_>>()
                        .join(" || ");
                    (
                        first_pieces(Backend::Postgres, &q, "$1"),
                        format!(
                            "SELECT p.id AS part_id, p.file_id, \
                             CAST(ts_rank_cd(pc.text_tsv, {q}) AS DOUBLE PRECISION) AS score \
                             FROM firsts x JOIN file_part_pieces pc ON pc.part_id = x.part_id AND pc.piece = x.piece \
                             JOIN file_parts p ON p.id = x.part_id JOIN files f ON f.id = p.file_id WHERE {scope}"
                        ),
                    )
                }
            };
            // A window, not GROUP BY: SQLite would flatten an aggregate over the CTE and then
            // refuse `bm25` outside the full-text query's own context.
            let sql = format!(
                "WITH {firsts}, hits AS ({hits}), \
                 parts AS (SELECT h.*, ROW_NUMBER() OVER (PARTITION BY part_id ORDER BY score DESC) AS pn FROM hits h) \
                 SELECT part_id, file_id, score FROM parts WHERE pn = 1 ORDER BY score DESC, part_id LIMIT $4"
            );
            let mut tx = self.limited_tx().await?;
            let mut query = sqlx::query(trusted(sql))
                .bind(tenant.to_string())
                .bind(owner.map(|u| u.to_string()).unwrap_or_default())
                .bind(files.id())
                .bind(i64::from(limit));
            query = match self.backend() {
                Backend::Sqlite => query.bind(
                    terms.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect::<Vec<_>>().join(" OR "),
                ),
                Backend::Postgres => terms.iter().fold(query, |q, t| q.bind(t.clone())),
            };
            let rows = query.fetch_all(&mut *tx).await.map_err(timed_out)?;
            tx.commit().await?;
            rows.iter()
                .map(|r| {
                    Ok(PassageHit {
                        file_id: parse_col(r, "file_id", FileId::parse)?,
                        part_id: parse_col(r, "part_id", PartId::parse)?,
                        score: r.try_get("score")?,
                    })
                })
                .collect()
        };
        match tokio::time::timeout(SEARCH_TIME_LIMIT, search).await {
            Ok(result) => result,
            Err(_) => Err(crate::Error::TimedOut("search")),
        }
    }
}

impl Db {
    /// A read transaction for searches (SET LOCAL: this transaction only). PostgreSQL cancels
    /// its statements at [`SEARCH_TIME_LIMIT`].
    async fn limited_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let mut tx = self.pool().begin().await?;
        if self.backend() == Backend::Postgres {
            let ms = SEARCH_TIME_LIMIT.as_millis();
            sqlx::query(trusted(format!("SET LOCAL statement_timeout = {ms}")))
                .execute(&mut *tx)
                .await
                .map_err(timed_out)?;
            // The planner costs a sequential scan without the reading of the pieces' stored
            // tsvectors (out of line), so on tables of some thousand pieces it reads every one
            // (200 ms for a 100 MB part, even for a word that is nowhere) instead of the GIN
            // index (under 1 ms). Searches always want the index.
            sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *tx).await.map_err(timed_out)?;
            // Estimates over a large table pass `jit_above_cost`, and compiling the statement
            // (some 60 ms measured) costs more than a search that reads the index runs.
            sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await.map_err(timed_out)?;
        }
        Ok(tx)
    }
}

/// Pieces ranked per part: the first this many that match (in text order). Ranking reads a
/// piece's whole index entry (`ts_rank_cd` its stored tsvector, `bm25` every position of
/// the match), so ranking every matching piece made a word found in each piece of a 100 MB
/// part (12,500 pieces) cost a second on PostgreSQL; the cut bounds it by the number of
/// matching parts. A part's best piece is the best of these.
const RANKED_PIECES: u32 = 8;

/// The CTEs `matched` and `firsts` for a search of `query` (an FTS5 query parameter on
/// SQLite, a tsquery expression on PostgreSQL) in the tenant `tenant` (a parameter): every
/// matching piece, found through the full-text index alone (PostgreSQL: MATERIALIZED keeps the
/// planner from starting at the tenant's parts and testing their pieces one by one), and of
/// those the first [`RANKED_PIECES`] of each part — `rid` (SQLite rowid) or `(part_id, piece)`
/// (PostgreSQL). No rank is computed here: matching reads only the index.
fn first_pieces(backend: Backend, query: &str, tenant: &str) -> String {
    let n = RANKED_PIECES;
    match backend {
        Backend::Sqlite => format!(
            "matched AS MATERIALIZED (SELECT pc.rowid AS rid, pc.part_id, pc.piece \
             FROM file_part_pieces_fts JOIN file_part_pieces pc ON pc.rowid = file_part_pieces_fts.rowid \
             WHERE file_part_pieces_fts MATCH {query} AND pc.tenant_id = {tenant}), \
             firsts AS MATERIALIZED (SELECT rid FROM (SELECT rid, \
             ROW_NUMBER() OVER (PARTITION BY part_id ORDER BY piece) AS k FROM matched) r WHERE k <= {n})"
        ),
        Backend::Postgres => format!(
            "matched AS MATERIALIZED (SELECT pc.part_id, pc.piece FROM file_part_pieces pc \
             WHERE pc.text_tsv @@ ({query}) AND pc.tenant_id = {tenant}), \
             firsts AS (SELECT part_id, piece FROM (SELECT m.part_id, m.piece, \
             ROW_NUMBER() OVER (PARTITION BY m.part_id ORDER BY m.piece) AS k FROM matched m) r WHERE k <= {n})"
        ),
    }
}

/// A statement PostgreSQL cancelled for its `statement_timeout` (SQLSTATE 57014) is a time-out.
fn timed_out(e: sqlx::Error) -> crate::Error {
    match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => crate::Error::TimedOut("search"),
        _ => crate::Error::Database(e),
    }
}

/// Fills in the snippets of the page's hits from their best pieces (only these: snippets are
/// the costly part, and a piece is bounded).
async fn add_snippets(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    tenant: TenantId,
    query_text: &str,
    hits: &mut [SearchHit],
) -> Result<()> {
    if hits.is_empty() {
        return Ok(());
    }
    // (part, piece) pairs as `(pc.part_id = $n AND pc.piece = $n+1) OR ...`.
    let pairs = |first: usize| {
        (0..hits.len())
            .map(|i| format!("(pc.part_id = ${} AND pc.piece = ${})", first + 2 * i, first + 2 * i + 1))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let query = match backend {
        Backend::Sqlite => {
            let sql = format!(
                "SELECT pc.part_id AS id, snippet(file_part_pieces_fts, 0, $2, $3, '…', 24) AS snippet \
                 FROM file_part_pieces_fts JOIN file_part_pieces pc ON pc.rowid = file_part_pieces_fts.rowid \
                 WHERE file_part_pieces_fts MATCH $1 AND pc.tenant_id = $4 AND ({})",
                pairs(5)
            );
            sqlx::query(trusted(sql))
                .bind(query_text.to_owned())
                .bind(MARK_START.to_string())
                .bind(MARK_END.to_string())
                .bind(tenant.to_string())
        }
        Backend::Postgres => {
            let sql = format!(
                "SELECT pc.part_id AS id, ts_headline('simple', translate(pc.text, 'ёЁ', 'еЕ'), plainto_tsquery('simple', $1), $2) AS snippet \
                 FROM file_part_pieces pc WHERE pc.tenant_id = $3 AND ({})",
                pairs(4)
            );
            let options = format!(
                "StartSel=\"{MARK_START}\", StopSel=\"{MARK_END}\", MaxWords=30, MinWords=12, MaxFragments=2, \
                 FragmentDelimiter=\" … \""
            );
            sqlx::query(trusted(sql)).bind(query_text.to_owned()).bind(options).bind(tenant.to_string())
        }
    };
    let mut query = query;
    for h in hits.iter() {
        query = query.bind(h.part_id.to_string()).bind(i64::from(h.piece));
    }
    for row in query.fetch_all(&mut **tx).await.map_err(timed_out)? {
        let id: String = row.try_get("id")?;
        let raw: String = row.try_get("snippet")?;
        if let Some(h) = hits.iter_mut().find(|h| h.part_id.to_string() == id) {
            h.snippet = pieces(&raw);
        }
    }
    Ok(())
}

/// Splits a snippet with match marks into pieces.
fn pieces(raw: &str) -> Vec<SnippetPiece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut hit = false;
    for c in raw.chars() {
        if c == MARK_START || c == MARK_END {
            if !text.is_empty() {
                out.push(SnippetPiece { text: std::mem::take(&mut text), hit });
            }
            hit = c == MARK_START;
        } else {
            text.push(c);
        }
    }
    if !text.is_empty() {
        out.push(SnippetPiece { text, hit });
    }
    out
}

fn hit_from_row(r: &AnyRow) -> Result<SearchHit> {
    let u32_of = |col: &str| -> Result<Option<u32>> {
        Ok(r.try_get::<Option<i64>, _>(col)?.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
    };
    Ok(SearchHit {
        file_id: parse_col(r, "file_id", FileId::parse)?,
        file_name: r.try_get("file_name")?,
        mime_type: r.try_get("mime_type")?,
        part_id: parse_col(r, "part_id", PartId::parse)?,
        piece: u32_of("piece")?.unwrap_or(0),
        seq: u32_of("seq")?.unwrap_or(0),
        page: u32_of("page")?,
        slide: u32_of("slide")?,
        sheet: r.try_get("sheet")?,
        score: r.try_get("score")?,
        matching_parts: u64::try_from(r.try_get::<i64, _>("matching")?).unwrap_or(0),
        snippet: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_becomes_quoted_terms() {
        let check = |q: &str, terms: &[&str], fts: &str| {
            let t = search_terms(q);
            assert_eq!(t, terms, "{q}");
            assert_eq!(fts5_query(&t), fts, "{q}");
        };
        check("foo\"bar OR (", &["foo\"bar", "OR"], r#""foo""bar" "OR""#);
        check("  Rechnung   счёт ЁЖ", &["Rechnung", "счет", "ЕЖ"], r#""Rechnung" "счет" "ЕЖ""#);
        check("NEAR(a b) -x *", &["NEAR(a", "b)", "-x"], r#""NEAR(a" "b)" "-x""#);
        check("\" ( ) * ^ :", &[], "");
        check("", &[], "");
        assert_eq!(search_terms(&"w ".repeat(100)).len(), MAX_TERMS);
        assert_eq!(search_terms(&"x".repeat(500))[0].chars().count(), MAX_TERM_CHARS);
    }

    #[test]
    fn marks_become_pieces() {
        let raw = format!("a {MARK_START}b{MARK_END} c {MARK_START}d{MARK_END}");
        let p = |t: &str, hit| SnippetPiece { text: t.into(), hit };
        assert_eq!(pieces(&raw), vec![p("a ", false), p("b", true), p(" c ", false), p("d", true)]);
        assert_eq!(pieces("plain"), vec![p("plain", false)]);
    }
}
