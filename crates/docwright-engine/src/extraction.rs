//! Extraction of uploaded files (SPEC D2) and their thumbnails (D3), as durable background jobs.
//!
//! Every upload starts `pending`. A worker (an owned background task; `extraction.workers` of
//! them per server) claims the oldest pending file (`running`, with this process's id), hands
//! it to `docwright-extract` — in a child process with memory and CPU limits (`Runner::Process`,
//! the default: a parser that panics, loops or allocates without bound ends only that process)
//! or on a blocking thread (`Runner::Thread`, time-bounded only) — and stores what came back in
//! one transaction: the parts (image bytes and the thumbnail as blobs of the tenant), `done` or
//! `failed` with a stable code and a reason. E-mail attachments become files of their own
//! (`parent_file_id`), queued like uploads. A claimer that dies is noticed by the billing
//! reconciler's heartbeats and its file goes back to `pending` (`failed`/`worker_lost` after
//! `max_attempts`). A re-run sets a file `pending` again. A file never extracted before whose
//! bytes and type another file of the tenant already had extracted takes that extraction over
//! (parts, warnings, preview, attachments) instead of running the parsers and OCR again; an
//! explicit re-run always reads the file itself.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use docwright_core::id::{FileId, PartId, TenantId};
use docwright_core::rbac::{Action, Permission};
use docwright_core::time::Timestamp;
use docwright_extract::Ocr;
pub use docwright_extract::OcrStatus;
use docwright_extract::worker::{Failure, Job, OcrJob, Outcome, ThumbJob};
use docwright_storage::files::{ExtractionEnd, FileRecord, PartRecord, Rerun, StoredRun};

use crate::blobs::{BlobReader, BlobStore as _, BlobUpload as _, LocalBlobs, Written, store_error};
use crate::files::{FILE_ITEM, FILE_READ};
use crate::{Engine, Error, Grant, Result};

/// Asking for a file's extraction to run again.
pub const FILE_UPDATE: Permission = Permission::new(FILE_ITEM, Action::Update);

/// Where the parsers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// `<program> extract-worker <job.json>`: a child process per file.
    Process { program: PathBuf },
    /// A blocking thread of this process.
    Thread,
}

/// `[extraction]`, resolved.
#[derive(Debug, Clone)]
pub struct ExtractionSettings {
    pub runner: Runner,
    pub workers: u32,
    pub timeout: Duration,
    pub max_memory_bytes: u64,
    pub max_pages: u32,
    pub max_inflated_bytes: u64,
    pub max_xml_depth: u32,
    pub max_attempts: u32,
    pub poll_interval: Duration,
    /// `None`: OCR off.
    pub ocr: Option<Ocr>,
    pub thumbnail_width: u32,
    pub thumbnail_height: u32,
    /// LibreOffice for office previews.
    pub office_converter: Option<PathBuf>,
}

impl ExtractionSettings {
    /// From `[extraction]`; `None` when extraction is off. `this_program` is the worker for
    /// `process` isolation unless `worker_program` names another.
    pub fn from_config(x: &docwright_config::ExtractionConfig, this_program: PathBuf) -> Option<Self> {
        if !x.enabled {
            return None;
        }
        let runner = match x.isolation {
            docwright_config::Isolation::Thread => Runner::Thread,
            docwright_config::Isolation::Process if x.worker_program.as_os_str().is_empty() => {
                Runner::Process { program: this_program }
            }
            docwright_config::Isolation::Process => Runner::Process { program: x.worker_program.clone() },
        };
        Some(Self {
            runner,
            workers: x.workers,
            timeout: Duration::from_secs(x.timeout_secs),
            max_memory_bytes: x.max_memory_mib.saturating_mul(1 << 20),
            max_pages: x.max_pages,
            max_inflated_bytes: x.max_inflated_mib.saturating_mul(1 << 20),
            max_xml_depth: x.max_xml_depth,
            max_attempts: x.max_attempts,
            poll_interval: Duration::from_millis(x.poll_interval_ms),
            ocr: x.ocr.then(|| Ocr {
                program: x.tesseract.clone(),
                languages: x.ocr_languages.clone(),
                timeout: Duration::from_secs(x.ocr_timeout_secs),
            }),
            thumbnail_width: x.thumbnail_width,
            thumbnail_height: x.thumbnail_height,
            office_converter: match x.office_converter.as_str() {
                "off" | "" => None,
                "auto" => docwright_extract::find_office_converter(),
                path => Some(PathBuf::from(path)),
            },
        })
    }
}

impl Default for ExtractionSettings {
    fn default() -> Self {
        Self {
            runner: Runner::Thread,
            workers: 1,
            timeout: Duration::from_secs(120),
            max_memory_bytes: 2048 << 20,
            max_pages: 5000,
            max_inflated_bytes: 1 << 30,
            max_xml_depth: 256,
            max_attempts: 3,
            poll_interval: Duration::from_secs(2),
            ocr: None,
            thumbnail_width: 200,
            thumbnail_height: 280,
            office_converter: None,
        }
    }
}

/// The engine's extraction state: settings (none = off), the wake-up of idle workers, and the
/// OCR status found at start.
#[derive(Debug, Default)]
pub struct Extraction {
    settings: Option<ExtractionSettings>,
    wake: tokio::sync::Notify,
    ocr_status: OnceLock<OcrStatus>,
}

impl Extraction {
    /// Tells one idle worker that a file is waiting.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

/// A file with its content parts and nested files.
#[derive(Debug, Clone)]
pub struct FileParts {
    pub file: FileRecord,
    pub parts: Vec<PartRecord>,
    pub attachments: Vec<FileRecord>,
}

/// Extra wall-clock time a worker process gets over the job's own deadline (start-up, writing
/// the result) before it is killed.
const PROCESS_GRACE: Duration = Duration::from_secs(5);
/// Standard error kept from a failed worker.
const STDERR_KEEP: usize = 16 * 1024;

impl Engine {
    /// With background extraction on these settings.
    pub fn with_extraction(mut self, settings: ExtractionSettings) -> Self {
        self.extraction = std::sync::Arc::new(Extraction {
            settings: Some(settings),
            wake: tokio::sync::Notify::new(),
            ocr_status: OnceLock::new(),
        });
        self
    }

    /// The extraction settings, when extraction is on.
    pub fn extraction_settings(&self) -> Option<&ExtractionSettings> {
        self.extraction.settings.as_ref()
    }

    /// Whether OCR can run (checked once, by [`Engine::check_ocr`]).
    pub fn ocr_status(&self) -> OcrStatus {
        match self.extraction.settings.as_ref().and_then(|s| s.ocr.as_ref()) {
            None => OcrStatus::Disabled,
            Some(_) => self
                .extraction
                .ocr_status
                .get()
                .cloned()
                .unwrap_or(OcrStatus::Unavailable { reason: "not checked yet".to_owned() }),
        }
    }

    /// Runs the OCR program once to learn whether it works and which languages it lacks; logs
    /// a warning when it does not (the server runs on; images get no OCR text).
    pub async fn check_ocr(&self) -> OcrStatus {
        let Some(ocr) = self.extraction.settings.as_ref().and_then(|s| s.ocr.clone()) else {
            return OcrStatus::Disabled;
        };
        let status = tokio::task::spawn_blocking(move || ocr.status())
            .await
            .unwrap_or_else(|e| OcrStatus::Unavailable { reason: format!("the check crashed: {e}") });
        match &status {
            OcrStatus::Unavailable { reason } => tracing::warn!(%reason, "OCR is unavailable"),
            OcrStatus::Available { version, missing } if !missing.is_empty() => {
                tracing::warn!(%version, ?missing, "OCR lacks configured languages")
            }
            OcrStatus::Available { version, .. } => tracing::info!(%version, "OCR is available"),
            OcrStatus::Disabled => {}
        }
        let _ = self.extraction.ocr_status.set(status.clone());
        status
    }

    /// Asks for a file's extraction (and thumbnail) to run again; a run in progress is
    /// superseded. Users at level `my` re-run only their own files.
    pub async fn rerun_extraction(&self, grant: &Grant, id: FileId) -> Result<FileRecord> {
        grant.expect(FILE_UPDATE)?;
        let file = self.visible_file(grant, id).await?;
        match self.db.rerun_extraction(file.tenant_id, id).await? {
            Rerun::Queued => {
                self.extraction.wake();
                self.visible_file(grant, id).await
            }
            Rerun::NotFound => Err(Error::NotFound("file")),
        }
    }

    /// The content parts of a file, in document order, and the files found inside it (an
    /// e-mail's attachments).
    pub async fn file_parts(&self, grant: &Grant, id: FileId) -> Result<FileParts> {
        grant.expect(FILE_READ)?;
        let file = self.visible_file(grant, id).await?;
        let parts = self.db.file_parts(file.tenant_id, id).await?;
        let attachments = self.db.child_files(file.tenant_id, id).await?;
        Ok(FileParts { file, parts, attachments })
    }

    /// A file whose parts are about to be read, with the files found inside it: the first step
    /// of [`Engine::parts_after`]'s paging.
    pub async fn file_with_attachments(&self, grant: &Grant, id: FileId) -> Result<(FileRecord, Vec<FileRecord>)> {
        grant.expect(FILE_READ)?;
        let file = self.visible_file(grant, id).await?;
        let attachments = self.db.child_files(file.tenant_id, id).await?;
        Ok((file, attachments))
    }

    /// At most `limit` parts of `file` (as [`Engine::file_with_attachments`] gave it) in
    /// document order, after the part `after` (from the start when `None`). An `after` that is
    /// no part of the file is an invalid cursor.
    pub async fn parts_after(
        &self,
        grant: &Grant,
        file: &FileRecord,
        after: Option<PartId>,
        limit: u32,
    ) -> Result<docwright_storage::Page<PartRecord>> {
        grant.expect(FILE_READ)?;
        crate::files::check_visible(grant, file)?;
        let after_seq = match after {
            None => None,
            Some(part) => match self.db.file_part(file.tenant_id, file.id, part).await? {
                Some(p) => Some(p.seq),
                None => return Err(Error::invalid("cursor", "the cursor names no part of this file")),
            },
        };
        Ok(self.db.file_parts_page(file.tenant_id, file.id, after_seq, limit).await?)
    }

    /// The bytes of an image part: its record and a reader of the whole blob.
    pub async fn part_content(&self, grant: &Grant, id: FileId, part: PartId) -> Result<(PartRecord, BlobReader)> {
        grant.expect(FILE_READ)?;
        let file = self.visible_file(grant, id).await?;
        let part = self.db.file_part(file.tenant_id, id, part).await?.ok_or(Error::NotFound("part"))?;
        let (Some(sha), Some(size)) = (part.data_sha256.as_deref(), part.data_size) else {
            return Err(Error::NotFound("part content"));
        };
        let reader = self.read_blob(file.tenant_id, sha, 0..size).await?;
        Ok((part, reader))
    }

    /// The PNG preview of a file, once made: its size and a reader.
    pub async fn file_thumbnail(&self, grant: &Grant, id: FileId) -> Result<(u64, BlobReader)> {
        grant.expect(FILE_READ)?;
        let file = self.visible_file(grant, id).await?;
        let Some(sha) = file.extraction.thumbnail_sha256.as_deref() else {
            return Err(Error::NotFound("thumbnail"));
        };
        let blobs = &self.file_settings()?.blobs;
        let path = blobs.path(file.tenant_id, sha).map_err(store_error)?;
        let size = tokio::fs::metadata(&path).await.map_err(|e| Error::Internal(format!("thumbnail blob: {e}")))?.len();
        Ok((size, self.read_blob(file.tenant_id, sha, 0..size).await?))
    }

    /// An extraction worker, to run as an owned background task until `stop` resolves: takes
    /// pending files one at a time, sleeping until woken or `poll_interval` when there is none.
    pub fn extraction_worker<S>(&self, stop: S) -> impl Future<Output = ()> + Send + use<S>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let engine = self.clone();
        async move {
            let Some(poll) = engine.extraction.settings.as_ref().map(|s| s.poll_interval) else { return };
            tokio::pin!(stop);
            loop {
                // At shutdown the file being read is dropped (its worker process is killed) and
                // handed back, so the next start takes it up again.
                let ran = tokio::select! {
                    () = &mut stop => break,
                    ran = engine.extract_next() => ran,
                };
                let idle = match ran {
                    Ok(Some(_)) => false,
                    Ok(None) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, "extraction worker: will retry");
                        true
                    }
                };
                if idle {
                    tokio::select! {
                        () = &mut stop => break,
                        () = engine.extraction.wake.notified() => {}
                        () = tokio::time::sleep(poll) => {}
                    }
                }
            }
            match engine.db.release_extractions(&engine.instance).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(files = n, "handed unfinished extractions back for the next start"),
                Err(e) => tracing::warn!(error = %e, "could not hand unfinished extractions back"),
            }
        }
    }

    /// Claims the oldest pending file, extracts it and stores the outcome. `None` when no file
    /// was pending (or extraction is off). The returned record is the file as stored afterwards.
    pub async fn extract_next(&self) -> Result<Option<FileRecord>> {
        let Some(settings) = self.extraction.settings.clone() else { return Ok(None) };
        let Some(file) = self.db.claim_extraction(&self.instance, Timestamp::now()).await? else { return Ok(None) };
        if file.extraction.finished_at.is_none() {
            match self.reuse_extraction(&file).await {
                Ok(true) => return self.extracted(file.tenant_id, file.id).await,
                Ok(false) => {}
                // The file is claimed: read it for real rather than leave it running.
                Err(e) => tracing::warn!(file = %file.id, error = %e, "an earlier extraction could not be taken over"),
            }
        }
        let started = std::time::Instant::now();
        let (outcome, work) = self.run_extraction(&settings, &file).await;
        let stored = match self.store_outcome(&settings, &file, outcome, work.as_ref().map(|w| w.path())).await {
            Ok(stored) => stored,
            Err(e) => Stored::failed("store_failed", e.to_string()),
        };
        let Stored { end, thumbnail, blobs, streamed } = stored;
        self.observer.extraction(
            match &end {
                End::Done { .. } => "done",
                End::Failed { code, .. } => code.as_str(),
            },
            started.elapsed(),
        );
        match &end {
            End::Done { parts, .. } => tracing::info!(
                file = %file.id, parts, ms = started.elapsed().as_millis() as u64, "extracted"
            ),
            End::Failed { code, message } => tracing::info!(
                file = %file.id, %code, %message, ms = started.elapsed().as_millis() as u64, "extraction failed"
            ),
        }
        let (tenant, now) = (file.tenant_id, Timestamp::now());
        let kept = match &end {
            // The parts went in batch by batch under the claim; this ends the run.
            End::Done { warnings, units, .. } if streamed => {
                let run = StoredRun { warnings, units: *units, thumbnail_sha256: thumbnail.as_deref() };
                self.db.finish_stored_extraction(tenant, file.id, &self.instance, &run, now).await?
            }
            // The claim was lost while parts were stored: nothing more is written.
            End::Done { .. } => false,
            End::Failed { code, message } => {
                let failed = ExtractionEnd::Failed { code: code.clone(), message: message.clone() };
                self.db.finish_extraction(tenant, file.id, &self.instance, &failed, thumbnail.as_deref(), now).await?
            }
        };
        if kept {
            for blob in &blobs {
                self.keep_written_blob(tenant, blob).await?;
            }
        } else {
            // Deleted meanwhile, or handed to another process: drop the blobs only we named.
            for sha in blobs.iter().map(|b| b.sha256.as_str()) {
                if let Err(e) = self.release_blob(tenant, sha).await {
                    tracing::warn!(%tenant, sha, error = %e, "an extraction's blob could not be removed");
                }
            }
        }
        drop(work);
        self.extracted(tenant, file.id).await
    }

    /// The file as stored after its extraction ended, its passages queued for embedding.
    async fn extracted(&self, tenant: TenantId, file: FileId) -> Result<Option<FileRecord>> {
        let stored = self.db.file(tenant, file).await?;
        if let Some(f) = &stored {
            self.queue_embedding(f).await;
        }
        Ok(stored)
    }

    /// Makes sure a blob this run wrote is still in place now that its record names it.
    async fn keep_written_blob(&self, tenant: TenantId, blob: &WrittenBlob) -> Result<()> {
        let blobs = &self.file_settings()?.blobs;
        if blobs.exists(tenant, &blob.sha256).await.map_err(store_error)? {
            return Ok(());
        }
        let bytes = match &blob.source {
            BlobSource::Bytes(bytes) => bytes.clone(),
            BlobSource::File(path) => {
                tokio::fs::read(path).await.map_err(|e| Error::Internal(format!("extraction data: {e}")))?
            }
        };
        self.keep_blob(tenant, &blob.sha256, &bytes).await
    }

    /// A file never extracted before whose bytes another file of the tenant already had
    /// extracted (the same attachment mailed twice, a document synced again) takes that
    /// extraction's parts, preview and attachments instead of running the parsers and OCR again.
    /// An explicit re-run always runs. Answers whether the extraction was taken over.
    async fn reuse_extraction(&self, file: &FileRecord) -> Result<bool> {
        let Some(donor) = self.db.extraction_donor(file).await? else { return Ok(false) };
        // The name decides the reader only for generic containers; it must decide the same.
        let reader = |f: &FileRecord| docwright_extract::Format::detect(&f.mime_type, &f.file_name);
        if reader(&donor) != reader(file) {
            return Ok(false);
        }
        let tenant = file.tenant_id;
        // The donor's parts, a page at a time, under this run's claim.
        let mut named: Vec<String> = donor.extraction.thumbnail_sha256.iter().cloned().collect();
        let mut after = None;
        let mut first = true;
        loop {
            let page = self.db.file_parts_page(tenant, donor.id, after, PART_BATCH as u32).await?;
            after = page.items.last().map(|p| p.seq);
            named.extend(page.items.iter().filter_map(|p| p.data_sha256.clone()));
            let parts: Vec<PartRecord> =
                page.items.into_iter().map(|p| PartRecord { id: PartId::new(), file_id: file.id, ..p }).collect();
            if !self.db.store_parts(tenant, file.id, &self.instance, first, &parts, Timestamp::now()).await? {
                return Ok(true);
            }
            first = false;
            if !page.has_more {
                break;
            }
        }
        let run = StoredRun {
            warnings: &donor.extraction.warnings,
            units: donor.extraction.units,
            thumbnail_sha256: donor.extraction.thumbnail_sha256.as_deref(),
        };
        if !self.db.finish_stored_extraction(tenant, file.id, &self.instance, &run, Timestamp::now()).await? {
            return Ok(true);
        }
        for child in self.db.child_files(tenant, donor.id).await? {
            let copy = FileRecord {
                id: FileId::new(),
                owner_id: file.owner_id,
                created_at: Timestamp::now(),
                extraction_status: "pending".to_owned(),
                extraction: Default::default(),
                parent_file_id: Some(file.id),
                ..child
            };
            self.db.insert_file(&copy).await?;
            if !self.file_settings()?.blobs.exists(tenant, &copy.sha256).await.unwrap_or(false) {
                // The donor's attachment was deleted meanwhile, bytes and all: no copy then.
                self.db.delete_file(tenant, copy.id).await?;
                continue;
            }
            self.extraction.wake();
        }
        // The donor may have been deleted meanwhile, its blobs released before this file's
        // parts named them: then this file is extracted for real after all.
        let settings = self.file_settings()?;
        for sha256 in &named {
            if !settings.blobs.exists(tenant, sha256).await.map_err(store_error)? {
                self.db.rerun_extraction(tenant, file.id).await?;
                self.extraction.wake();
                return Ok(true);
            }
        }
        tracing::info!(file = %file.id, from = %donor.id, "extraction taken over from a file with the same content");
        Ok(true)
    }

    /// Runs the job; the outcome (its parts still in the work directory's parts file) and the
    /// work directory, removed when dropped.
    async fn run_extraction(
        &self,
        settings: &ExtractionSettings,
        file: &FileRecord,
    ) -> (Outcome, Option<tempfile::TempDir>) {
        let fail = |code: &str, message: String| {
            let f = Failure::new(code, message);
            (Outcome { extraction: Some(Err(f.clone())), thumbnail: Some(Err(f)) }, None)
        };
        let blobs = match self.file_settings() {
            Ok(f) => f.blobs.clone(),
            Err(e) => return fail("store_failed", e.to_string()),
        };
        let input = match blobs.path(file.tenant_id, &file.sha256) {
            Ok(p) => p,
            Err(e) => return fail("store_failed", e.to_string()),
        };
        let work = match tokio::fs::create_dir_all(blobs.tmp_dir())
            .await
            .and_then(|()| tempfile::Builder::new().prefix("extract-").tempdir_in(blobs.tmp_dir()))
        {
            Ok(dir) => dir,
            Err(e) => return fail("store_failed", format!("cannot make a work directory: {e}")),
        };
        let job = job_for(settings, file, input, work.path());
        let outcome = match &settings.runner {
            Runner::Thread => {
                let dir = work.path().to_path_buf();
                let run = tokio::task::spawn_blocking(move || {
                    job.run_to_dir(Some(crate::preview::office_pdf)).and_then(|()| Outcome::read(&dir))
                });
                match tokio::time::timeout(settings.timeout + PROCESS_GRACE, run).await {
                    Ok(Ok(Ok(outcome))) => outcome,
                    Ok(Ok(Err(e))) => return fail("parser_crashed", format!("the outcome could not be kept: {e}")),
                    Ok(Err(e)) => return fail("parser_crashed", format!("the parser thread ended: {e}")),
                    Err(_) => return fail("timed_out", "extraction did not finish within its time limit".into()),
                }
            }
            Runner::Process { program } => match run_process(program, &job, settings.timeout + PROCESS_GRACE).await {
                Ok(outcome) => outcome,
                Err(failure) => Outcome { extraction: Some(Err(failure.clone())), thumbnail: Some(Err(failure)) },
            },
        };
        (outcome, Some(work))
    }

    /// Turns an outcome into what the database keeps: the thumbnail and attachments go to the
    /// blob store, and the parts, read back from the work directory in batches, go to the
    /// database batch by batch under this process's claim (image bytes to the blob store
    /// first). Memory holds one batch, never the file's parts.
    async fn store_outcome(
        &self,
        settings: &ExtractionSettings,
        file: &FileRecord,
        outcome: Outcome,
        work: Option<&Path>,
    ) -> Result<Stored> {
        let blobs = self.file_settings()?.blobs.clone();
        let tenant = file.tenant_id;
        let mut stored = Stored::failed("not_run", "extraction was not asked for".into());
        let thumbnail_png = match outcome.thumbnail {
            Some(Ok(png)) if !png.is_empty() => Some(png),
            Some(Err(f)) if f.code != "unsupported_type" => {
                tracing::debug!(file = %file.id, code = %f.code, "no thumbnail; a generic icon stands in");
                let icon = docwright_extract::generic_icon(
                    &file.mime_type,
                    &file.file_name,
                    settings.thumbnail_width,
                    settings.thumbnail_height,
                );
                Some(icon)
            }
            _ => None,
        };
        if let Some(png) = thumbnail_png {
            let sha256 = put_blob(&blobs, tenant, &png).await?.sha256;
            stored.thumbnail = Some(sha256.clone());
            stored.blobs.push(WrittenBlob { sha256, source: BlobSource::Bytes(png) });
        }
        let extraction = match outcome.extraction {
            None => return Ok(stored),
            Some(Err(f)) => {
                stored.end = End::Failed { code: f.code, message: f.message };
                return Ok(stored);
            }
            Some(Ok(extraction)) => extraction,
        };
        for attachment in &extraction.attachments {
            self.store_attachment(&blobs, file, attachment).await?;
        }
        let Some(work) = work else {
            return Err(Error::Internal("an extraction without its work directory".into()));
        };
        // Parts are read on a blocking thread and handed over a batch at a time.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<docwright_extract::Part>>>(1);
        let dir = work.to_path_buf();
        let reader = tokio::task::spawn_blocking(move || {
            let parts = match docwright_extract::worker::read_parts(&dir) {
                Ok(parts) => parts,
                Err(e) => return drop(tx.blocking_send(Err(e))),
            };
            let mut batch = Vec::new();
            let mut bytes = 0usize;
            for part in parts {
                let part = match part {
                    Ok(part) => part,
                    Err(e) => return drop(tx.blocking_send(Err(e))),
                };
                // A table part's cells are its text once more, and become JSON once more.
                let cells: usize =
                    part.rows.iter().flatten().flat_map(|row| row.iter().map(|cell| cell.len() + 8)).sum();
                bytes += part.text.len() + 2 * cells + part.data.as_ref().map_or(0, Vec::len);
                batch.push(part);
                if batch.len() >= PART_BATCH || bytes >= PART_BATCH_BYTES {
                    if tx.blocking_send(Ok(std::mem::take(&mut batch))).is_err() {
                        return;
                    }
                    bytes = 0;
                }
            }
            if !batch.is_empty() {
                let _ = tx.blocking_send(Ok(batch));
            }
        });
        let mut seq = 0u32;
        let mut first = true;
        while let Some(batch) = rx.recv().await {
            let batch = batch.map_err(|e| Error::Internal(format!("the worker's parts are unreadable: {e}")))?;
            let mut records = Vec::with_capacity(batch.len());
            for mut part in batch {
                let data = match part.data.take() {
                    Some(bytes) => {
                        let written = put_blob(&blobs, tenant, &bytes).await?;
                        let path = part.data_file.clone().map(|name| work.join(name));
                        let source = path.map_or(BlobSource::Bytes(bytes), BlobSource::File);
                        stored.blobs.push(WrittenBlob { sha256: written.sha256.clone(), source });
                        Some(written)
                    }
                    None => None,
                };
                records.push(part_record(file.id, seq, part, data));
                seq = seq.saturating_add(1);
            }
            if !self.db.store_parts(tenant, file.id, &self.instance, first, &records, Timestamp::now()).await? {
                // Another run has the file now: stop, and let the caller drop what we wrote.
                drop(rx);
                let _ = reader.await;
                stored.end = End::Done { parts: seq as usize, warnings: Vec::new(), units: None };
                stored.streamed = false;
                return Ok(stored);
            }
            first = false;
        }
        let _ = reader.await;
        if first {
            // No part at all: the first (empty) batch still replaces earlier parts.
            if !self.db.store_parts(tenant, file.id, &self.instance, true, &[], Timestamp::now()).await? {
                stored.end = End::Done { parts: 0, warnings: Vec::new(), units: None };
                stored.streamed = false;
                return Ok(stored);
            }
        }
        stored.end = End::Done { parts: seq as usize, warnings: extraction.warnings, units: extraction.units };
        stored.streamed = true;
        Ok(stored)
    }

    /// An attachment becomes a file of its own (its type sniffed from its bytes, as uploads'
    /// are), queued for extraction.
    async fn store_attachment(
        &self,
        blobs: &LocalBlobs,
        parent: &FileRecord,
        attachment: &docwright_extract::Attachment,
    ) -> Result<()> {
        let written = put_blob(blobs, parent.tenant_id, &attachment.data).await?;
        let name = crate::files::checked_name(&attachment.file_name).unwrap_or_else(|_| "attachment".to_owned());
        let mime = crate::blobs::sniff_content(&written.head, || Some(std::io::Cursor::new(&attachment.data)));
        let record = crate::files::new_record(parent.tenant_id, parent.owner_id, name, mime, written, Some(parent.id));
        self.db.insert_file(&record).await?;
        self.keep_blob(parent.tenant_id, &record.sha256, &attachment.data).await?;
        self.extraction.wake();
        Ok(())
    }
}

fn job_for(settings: &ExtractionSettings, file: &FileRecord, input: PathBuf, out_dir: &Path) -> Job {
    Job {
        input,
        mime: file.mime_type.clone(),
        file_name: file.file_name.clone(),
        out_dir: out_dir.to_path_buf(),
        extract: true,
        thumbnail: Some(ThumbJob {
            width: settings.thumbnail_width,
            height: settings.thumbnail_height,
            converter: settings.office_converter.clone(),
        }),
        timeout_ms: u64::try_from(settings.timeout.as_millis()).unwrap_or(u64::MAX),
        max_memory_bytes: settings.max_memory_bytes,
        max_pages: settings.max_pages,
        max_inflated_bytes: settings.max_inflated_bytes,
        max_xml_depth: settings.max_xml_depth,
        max_parts: 200_000,
        max_text_chars: 200_000_000,
        max_image_pixels: 100_000_000,
        ocr: settings.ocr.as_ref().map(|o| OcrJob {
            program: o.program.clone(),
            languages: o.languages.clone(),
            timeout_ms: u64::try_from(o.timeout.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}

/// Runs a job in a worker process and reads its outcome; a worker that ends without one is
/// the failure it was (killed at the time limit, out of memory, crashed).
async fn run_process(program: &Path, job: &Job, limit: Duration) -> std::result::Result<Outcome, Failure> {
    use tokio::io::AsyncReadExt as _;

    let job_file = job.out_dir.join("job.json");
    let json = serde_json::to_vec(job).map_err(|e| Failure::new("store_failed", e.to_string()))?;
    tokio::fs::write(&job_file, json).await.map_err(|e| Failure::new("store_failed", e.to_string()))?;
    let mut child = tokio::process::Command::new(program)
        .arg("extract-worker")
        .arg(&job_file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::new("worker_unavailable", format!("cannot start {}: {e}", program.display())))?;
    let stderr = child.stderr.take();
    let read_stderr = async move {
        let mut kept = Vec::new();
        if let Some(mut err) = stderr {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                // Keep the tail: the reason is at the end.
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > STDERR_KEEP {
                    kept.drain(..kept.len() - STDERR_KEEP);
                }
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    };
    let (status, stderr) = match tokio::time::timeout(limit, async { tokio::join!(child.wait(), read_stderr) }).await {
        Ok((status, stderr)) => (status, stderr),
        Err(_) => {
            let _ = child.kill().await;
            return Err(Failure::new("timed_out", "extraction did not finish within its time limit"));
        }
    };
    let status = status.map_err(|e| Failure::new("parser_crashed", format!("waiting for the worker failed: {e}")))?;
    if status.success() {
        let dir = job.out_dir.clone();
        return match tokio::task::spawn_blocking(move || Outcome::read(&dir)).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err(Failure::new("parser_crashed", format!("the worker's result is unreadable: {e}"))),
            Err(e) => Err(Failure::new("parser_crashed", e.to_string())),
        };
    }
    Err(classify_exit(status, &stderr))
}

/// Why a worker process ended without a result.
fn classify_exit(status: std::process::ExitStatus, stderr: &str) -> Failure {
    use std::os::unix::process::ExitStatusExt as _;
    const SIGKILL: i32 = 9;
    const SIGXCPU: i32 = 24;
    let last_line = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        return Failure::new("out_of_memory", "extraction ran out of its memory limit");
    }
    if stderr.contains("has overflowed its stack") {
        return Failure::new("parser_crashed", "the parser overflowed its stack (the file nests too deeply)");
    }
    match status.signal() {
        Some(SIGXCPU) | Some(SIGKILL) => Failure::new("timed_out", "extraction used up its CPU time limit"),
        Some(sig) => Failure::new("parser_crashed", format!("the worker was ended by signal {sig}: {last_line}")),
        None => Failure::new(
            "parser_crashed",
            format!("the worker exited with status {}: {last_line}", status.code().unwrap_or(-1)),
        ),
    }
}

/// What an outcome became: how the run ended, the thumbnail's blob, every blob written (to be
/// checked once the record names it, see [`Engine::keep_blob`]), and whether the parts were
/// stored under the claim to the end (`streamed`; `false` with `Done`: the claim was lost).
struct Stored {
    end: End,
    thumbnail: Option<String>,
    blobs: Vec<WrittenBlob>,
    streamed: bool,
}

impl Stored {
    fn failed(code: &str, message: String) -> Self {
        Self {
            end: End::Failed { code: code.to_owned(), message },
            thumbnail: None,
            blobs: Vec::new(),
            streamed: false,
        }
    }
}

/// How a run ended, its parts already stored.
enum End {
    Done { parts: usize, warnings: Vec<String>, units: Option<u32> },
    Failed { code: String, message: String },
}

/// A blob an extraction wrote, and where its bytes are should it have to be written again.
struct WrittenBlob {
    sha256: String,
    source: BlobSource,
}

enum BlobSource {
    Bytes(Vec<u8>),
    /// A data file in the run's work directory (kept until the run is recorded).
    File(PathBuf),
}

/// Parts per batch written to the database, and about the most bytes of one batch: text, image
/// data and, twice, a table's cells (held as cells and as the JSON stored beside the text).
const PART_BATCH: usize = 500;
const PART_BATCH_BYTES: usize = 8 << 20;

/// A part as its row, `seq` its position.
fn part_record(file: FileId, seq: u32, part: docwright_extract::Part, data: Option<Written>) -> PartRecord {
    PartRecord {
        id: PartId::new(),
        file_id: file,
        seq,
        type_group: part.kind.as_str().to_owned(),
        mime_type: part.mime_type,
        label: part.label,
        level: part.level,
        text: part.text,
        rows_json: part.rows.map(|r| serde_json::Value::from(r).to_string()),
        method: part.method.as_str().to_owned(),
        page: part.location.page,
        slide: part.location.slide,
        sheet: part.location.sheet,
        row_start: part.location.row_start,
        row_end: part.location.row_end,
        data_size: data.as_ref().map(|w| w.size),
        data_sha256: data.map(|w| w.sha256),
    }
}

/// Stores bytes as a blob of `tenant`.
pub(crate) async fn put_blob(blobs: &LocalBlobs, tenant: TenantId, bytes: &[u8]) -> Result<Written> {
    let mut upload = blobs.begin().await.map_err(store_error)?;
    upload.write(bytes).await.map_err(store_error)?;
    upload.finish().await.map_err(store_error)?;
    let written = upload.summary();
    blobs.commit(tenant, upload).await.map_err(store_error)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;

    use super::*;

    #[test]
    fn worker_exits_are_named() {
        let oom = classify_exit(std::process::ExitStatus::from_raw(6), "memory allocation of 1048576 bytes failed\n");
        assert_eq!(oom.code, "out_of_memory");
        assert_eq!(classify_exit(std::process::ExitStatus::from_raw(24), "").code, "timed_out");
        let stack = classify_exit(std::process::ExitStatus::from_raw(11), "thread 'main' has overflowed its stack\n");
        assert_eq!(stack.code, "parser_crashed");
        let exit = classify_exit(std::process::ExitStatus::from_raw(3 << 8), "extract-worker: cannot write\n");
        assert!(exit.message.contains("status 3") && exit.message.contains("cannot write"), "{}", exit.message);
    }
}
