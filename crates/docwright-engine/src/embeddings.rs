//! Embeddings of extracted passages and vector retrieval (SPEC C3, `[embeddings]`).
//!
//! With a model configured, every file whose extraction is done gets a job of kind
//! [`JOB_KIND`] (one pending per file): it embeds the file's search pieces that have no vector
//! of the model yet, [`EmbeddingSettings::batch_size`] per gateway call, and stores the vectors
//! — until none is left, so a re-extraction finished meanwhile is covered too. The calls go
//! through the gateway like any other (permissions, quotas, fallback, reservation, exact
//! booking) as the file's owner, with ledger reference `file`. A question is embedded with the
//! same model and compared with the project's vectors by an exact cosine scan in this process
//! ([`Engine::vector_hits`]), at most `max_scan` of them: linear in the project's pieces, so
//! fine up to a few hundred thousand; past that an approximate index (pgvector's HNSW, or
//! sqlite-vec) is the next step.

use std::collections::HashMap;

use docwright_core::id::{FileId, PartId, TenantId, UserId};
use docwright_jobs::{JobContext, JobError};
use docwright_storage::files::FileRecord;
use docwright_storage::jobs::NewJob;
use docwright_storage::search::FileScope;
use serde_json::{Value, json};

use crate::gateway::{CallFor, EmbedCall, GatewayError};
use crate::{Engine, Error, Grant, Result};

/// The job that embeds one file's passages.
pub const JOB_KIND: &str = "embed.file";

/// `[embeddings]`.
#[derive(Debug, Clone, Default)]
pub struct EmbeddingSettings {
    /// The registry model that embeds; `None`: no vectors.
    pub model: Option<String>,
    pub batch_size: u32,
    pub max_scan: u32,
}

impl EmbeddingSettings {
    pub fn from_config(c: &docwright_config::EmbeddingsConfig) -> Self {
        let model = c.model.trim();
        Self {
            model: (!model.is_empty()).then(|| model.to_owned()),
            batch_size: c.batch_size.max(1),
            max_scan: c.max_scan.max(1),
        }
    }
}

/// A part found by meaning: its best piece's cosine similarity to the question.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorHit {
    pub file_id: FileId,
    pub part_id: PartId,
    pub similarity: f32,
}

impl Engine {
    /// With these `[embeddings]` settings (else none: no vectors).
    pub fn with_embeddings(mut self, settings: EmbeddingSettings) -> Self {
        self.embeddings = std::sync::Arc::new(settings);
        self
    }

    /// The embedding model, when vectors are on.
    pub fn embedding_model(&self) -> Option<&str> {
        self.embeddings.model.as_deref()
    }

    /// Queues the embedding of `file`'s passages, when vectors are on and its extraction is
    /// done. A failure to queue is logged, not returned: the file stays searchable by words.
    pub(crate) async fn queue_embedding(&self, file: &FileRecord) {
        if self.embeddings.model.is_none() || file.extraction_status != "done" {
            return;
        }
        let mut job = NewJob::new(JOB_KIND, json!({"file_id": file.id.to_string()}));
        job.tenant_id = Some(file.tenant_id);
        job.unique_key = Some(file.id.to_string());
        job.max_attempts = 5;
        if let Err(e) = self.queue.enqueue(&job).await {
            tracing::warn!(file = %file.id, error = %e, "the file's passages could not be queued for embedding");
        }
    }

    /// Queues the embedding of every extracted file that has pieces without a vector of the
    /// model (files extracted before vectors were on, or under another model), a page of
    /// files at a time. Run once at start; a failure is logged.
    pub async fn queue_missing_embeddings(&self) {
        let Some(model) = self.embeddings.model.clone() else { return };
        let mut after = None;
        let mut queued = 0u64;
        loop {
            let page = match self.db.files_missing_vectors(&model, after, 500).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "could not look for files to embed");
                    return;
                }
            };
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for file in &page {
                self.queue_embedding(file).await;
                queued += 1;
            }
        }
        if queued > 0 {
            tracing::info!(files = queued, model, "queued files extracted earlier for embedding");
        }
    }

    /// Embeds the passages of the job's file (the queue's handler of [`JOB_KIND`]).
    pub async fn run_embedding_job(&self, job: &JobContext) -> std::result::Result<Value, JobError> {
        let bad = || JobError::permanent("bad_payload", "the job names no file");
        let file_id = job.payload()["file_id"].as_str().and_then(|s| FileId::parse(s).ok()).ok_or_else(bad)?;
        let tenant = job.tenant().ok_or_else(bad)?;
        let Some(model) = self.embeddings.model.clone() else {
            return Ok(json!({"file_id": file_id.to_string(), "embedded": 0, "skipped": "embeddings are off"}));
        };
        let Some(file) = self.db.file(tenant, file_id).await.map_err(storage)? else {
            return Ok(json!({"file_id": file_id.to_string(), "embedded": 0, "skipped": "the file is gone"}));
        };
        let grant = match self.owner_grant(&file).await {
            Ok(g) => g,
            Err(e @ (Error::Forbidden(_) | Error::NotFound(_))) => {
                return Err(JobError::permanent("forbidden", format!("the file's owner may not use AI now: {e}")));
            }
            Err(e) => return Err(JobError::retryable("storage", e.to_string())),
        };
        let mut embedded = 0u64;
        loop {
            if job.token().is_cancelled() {
                return Err(JobError::Cancelled);
            }
            let pieces =
                self.db.pieces_to_embed(tenant, file_id, &model, self.embeddings.batch_size).await.map_err(storage)?;
            if pieces.is_empty() {
                break;
            }
            let call = EmbedCall {
                model: model.clone(),
                inputs: pieces.iter().map(|p| p.text.clone()).collect(),
                allowed_providers: None,
                process: "documents.embedding".to_owned(),
                reference: Some(CallFor::File(file_id)),
            };
            let done = self.ai_embed(&grant, &call).await.map_err(|e| match e {
                e @ GatewayError::InsufficientBalance { .. } => {
                    JobError::permanent("insufficient_balance", e.to_string())
                }
                e @ (GatewayError::NoCandidate(_) | GatewayError::UnknownModel(_)) => {
                    JobError::permanent("no_model_available", e.to_string())
                }
                GatewayError::RateLimited { retry_after, scope } => {
                    JobError::retryable("rate_limited", format!("the {scope:?} is at its AI request limit"))
                        .retry_after(retry_after)
                }
                GatewayError::Engine(e) if matches!(*e, Error::Forbidden(_)) => {
                    JobError::permanent("forbidden", e.to_string())
                }
                e => JobError::retryable("provider_unavailable", e.to_string()),
            })?;
            let vectors: Vec<(PartId, i64, Vec<f32>)> =
                pieces.into_iter().zip(done.vectors).map(|(p, v)| (p.part_id, p.piece, v)).collect();
            let stored = self.db.store_vectors(tenant, file_id, &model, &vectors).await.map_err(storage)?;
            embedded += stored;
            if stored == 0 {
                // Every piece of the batch went away meanwhile (re-extracted, deleted): the next
                // look finds the new ones, or none.
                if self.db.file(tenant, file_id).await.map_err(storage)?.is_none() {
                    break;
                }
            }
        }
        Ok(json!({"file_id": file_id.to_string(), "model": model, "embedded": embedded}))
    }

    /// The grant background indexing acts with: the file's owner in the file's tenant, with
    /// their role there as it is now.
    async fn owner_grant(&self, file: &FileRecord) -> Result<Grant> {
        let ctx = self.background_context(file.owner_id, file.tenant_id).await?;
        self.authorize(ctx, crate::files::FILE_READ).await
    }

    /// Hybrid retrieval over the files of a project or collection (`scope`; of `owner`'s files
    /// only, when given): the parts
    /// containing any of the question's words (full-text search), the parts nearest to it in
    /// meaning (vectors, when on: the question is embedded as `reference`, billed), each at
    /// most `window` long, and both fused by reciprocal rank (k = 60). Either search failing
    /// leaves the other's hits and names the failure in `problems`.
    pub async fn retrieve(
        &self,
        grant: &Grant,
        (tenant, scope, owner): (TenantId, impl Into<FileScope>, Option<UserId>),
        question: &str,
        window: u32,
        reference: CallFor,
        allowed_providers: Option<Vec<String>>,
    ) -> Retrieved {
        let scope: FileScope = scope.into();
        let mut out = Retrieved::default();
        let terms = docwright_storage::search::search_terms(question);
        match self.db.search_passages(tenant, &terms, scope, owner, window).await {
            Ok(hits) => out.by_words = hits.into_iter().map(|h| (h.file_id, h.part_id)).collect(),
            Err(e) => out.problems.push(format!("the full-text search failed: {e}")),
        }
        if let Some(model) = self.embeddings.model.clone() {
            out.vectors = true;
            let call = EmbedCall {
                model: model.clone(),
                inputs: vec![question.to_owned()],
                allowed_providers,
                process: "chat.retrieval".to_owned(),
                reference: Some(reference),
            };
            let found = match self.ai_embed(grant, &call).await {
                Ok(done) => {
                    out.cost = done.price;
                    match self.db.scope_vectors(tenant, scope, owner, &model, self.embeddings.max_scan).await {
                        Ok(stored) => Ok(done
                            .vectors
                            .first()
                            .map(|q| rank_by_similarity(q, stored, window as usize))
                            .unwrap_or_default()),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            match found {
                Ok(hits) => out.by_meaning = hits.into_iter().map(|h| (h.file_id, h.part_id)).collect(),
                Err(e) => out.problems.push(format!("the vector search failed: {e}")),
            }
        }
        out.fused =
            docwright_chat::fusion::fuse(&[out.by_words.clone(), out.by_meaning.clone()], docwright_chat::fusion::K)
                .into_iter()
                .map(|(hit, _)| hit)
                .collect();
        out
    }
}

/// What [`Engine::retrieve`] found: (file, part) lists, best first.
#[derive(Debug, Clone, Default)]
pub struct Retrieved {
    pub by_words: Vec<(FileId, PartId)>,
    pub by_meaning: Vec<(FileId, PartId)>,
    pub fused: Vec<(FileId, PartId)>,
    /// Whether vectors are on (`[embeddings] model`).
    pub vectors: bool,
    /// What failed: each search that did, in words.
    pub problems: Vec<String>,
    /// The price of embedding the question.
    pub cost: docwright_core::money::Money,
}

/// Parts by their best piece's cosine similarity to `query`, best first, at most `limit`.
fn rank_by_similarity(
    query: &[f32],
    stored: Vec<docwright_storage::vectors::PieceVector>,
    limit: usize,
) -> Vec<VectorHit> {
    let mut best: HashMap<PartId, VectorHit> = HashMap::new();
    for v in stored {
        if v.vector.len() != query.len() {
            continue;
        }
        let similarity = docwright_llm::embed::cosine(query, &v.vector);
        let hit = VectorHit { file_id: v.file_id, part_id: v.part_id, similarity };
        best.entry(v.part_id)
            .and_modify(|h| {
                if similarity > h.similarity {
                    *h = hit.clone();
                }
            })
            .or_insert(hit);
    }
    let mut hits: Vec<VectorHit> = best.into_values().collect();
    hits.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.part_id.to_string().cmp(&b.part_id.to_string())));
    hits.truncate(limit);
    hits
}

fn storage(e: docwright_storage::Error) -> JobError {
    JobError::retryable("storage", e.to_string())
}

/// The queue's handler of [`JOB_KIND`].
pub struct EmbedHandler(pub Engine);

impl docwright_jobs::Handler for EmbedHandler {
    async fn run(&self, job: JobContext) -> std::result::Result<Value, JobError> {
        self.0.run_embedding_job(&job).await
    }
}

#[cfg(test)]
mod tests {
    use docwright_storage::vectors::PieceVector;

    use super::*;

    #[test]
    fn parts_rank_by_their_best_piece_and_other_dimensions_are_skipped() {
        let (f, a, b) = (FileId::new(), PartId::new(), PartId::new());
        let v = |part, piece, vector: Vec<f32>| PieceVector { file_id: f, part_id: part, piece, vector };
        let stored = vec![
            v(a, 0, vec![0.0, 1.0]),
            v(a, 1, vec![1.0, 0.1]),
            v(b, 0, vec![0.7, 0.7]),
            v(b, 1, vec![1.0, 0.0, 0.0]),
        ];
        let hits = rank_by_similarity(&[1.0, 0.0], stored, 10);
        assert_eq!(hits.iter().map(|h| h.part_id).collect::<Vec<_>>(), vec![a, b]);
        assert!(hits[0].similarity > 0.99 && (hits[1].similarity - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-3);
        assert_eq!(rank_by_similarity(&[1.0, 0.0], vec![v(a, 0, vec![1.0, 0.0])], 0).len(), 0);
    }
}
