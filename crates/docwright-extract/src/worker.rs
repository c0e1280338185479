//! Extraction as a job that can run in a process of its own.
//!
//! The engine writes a [`Job`] as JSON, starts `docwright extract-worker <job.json>` and waits
//! (killing it at the time limit). [`main`] sets the process's address-space and CPU limits,
//! runs the job ([`Job::run_to_dir`]), and writes into the job's output directory the parts as
//! JSON lines (`parts.jsonl`, written as they are made for the formats read piece by piece, so
//! the worker holds one part at a time), the bytes of image parts, attachments and the
//! thumbnail as files beside them, and last [`Outcome`] as `result.json`. The engine reads the
//! parts back in batches ([`read_parts`]), never all at once. A parser that
//! panics, overflows its stack, loops or allocates without bound ends this process only; the
//! engine reads a missing or partial result as the failure it was.
//!
//! [`Job::run`] is the same work in the calling process (for tests and the `thread` isolation
//! mode), with panics caught.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ExtractError, Extraction, FirstPage, Limits, Ocr, OfficePreview, Options, ThumbnailOptions};

/// Name of the outcome file in the output directory.
pub const RESULT_FILE: &str = "result.json";
/// Name of the thumbnail file in the output directory.
pub const THUMBNAIL_FILE: &str = "thumbnail.png";
/// Name of the parts file (one JSON [`Part`] per line, in document order).
pub const PARTS_FILE: &str = "parts.jsonl";

/// One unit of work: extract the file, render its thumbnail, or both.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub input: PathBuf,
    pub mime: String,
    pub file_name: String,
    pub out_dir: PathBuf,
    pub extract: bool,
    #[serde(default)]
    pub thumbnail: Option<ThumbJob>,
    pub timeout_ms: u64,
    /// Address space of the worker process (0 = unlimited). Ignored by [`Job::run`].
    pub max_memory_bytes: u64,
    pub max_pages: u32,
    pub max_inflated_bytes: u64,
    pub max_xml_depth: u32,
    pub max_parts: usize,
    pub max_text_chars: usize,
    pub max_image_pixels: u64,
    #[serde(default)]
    pub ocr: Option<OcrJob>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThumbJob {
    pub width: u32,
    pub height: u32,
    #[serde(default)]
    pub converter: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OcrJob {
    pub program: PathBuf,
    pub languages: Vec<String>,
    pub timeout_ms: u64,
}

/// A failure as it crosses the process boundary: the stable code and the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

impl From<&ExtractError> for Failure {
    fn from(e: &ExtractError) -> Self {
        Self { code: e.code().to_owned(), message: e.to_string() }
    }
}

impl Failure {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.to_owned(), message: message.into() }
    }
}

/// What a job produced. Each half is `None` when it was not asked for.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(default)]
    pub extraction: Option<Result<Extraction, Failure>>,
    /// The PNG bytes (in memory; in `result.json` only whether it exists).
    #[serde(default, with = "thumb_serde")]
    pub thumbnail: Option<Result<Vec<u8>, Failure>>,
}

impl Job {
    /// The limits this job sets, with its deadline starting now.
    pub fn limits(&self) -> Limits {
        Limits {
            max_pages: self.max_pages,
            max_inflated_bytes: self.max_inflated_bytes,
            max_xml_depth: self.max_xml_depth,
            max_parts: self.max_parts,
            max_text_chars: self.max_text_chars,
            max_image_pixels: self.max_image_pixels,
            deadline: None,
        }
        .with_timeout(Duration::from_millis(self.timeout_ms))
    }

    /// Runs the job in this process, every part in the returned outcome; a panic becomes a
    /// `parser_crashed` failure. Office previews without a converter are drawn by `preview`
    /// (see [`OfficePreview`]), or are the generic icon when it is `None`.
    pub fn run(&self, preview: Option<OfficePreview>) -> Outcome {
        self.run_with(None, preview)
    }

    /// Runs the job in this process and writes its outcome into `out_dir`, the parts streamed
    /// into [`PARTS_FILE`] as they are made (see the module documentation).
    pub fn run_to_dir(&self, preview: Option<OfficePreview>) -> std::io::Result<()> {
        let mut writer = PartsWriter::create(&self.out_dir)?;
        let sink_writer = std::sync::Arc::new(std::sync::Mutex::new(writer.try_clone()?));
        let sink = {
            let w = sink_writer.clone();
            crate::PartSink::new(move |part| {
                let mut w = w.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                w.write(part).map_err(ExtractError::Io)
            })
        };
        let mut outcome = self.run_with(Some(sink), preview);
        writer.count = sink_writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).count;
        if let Some(Ok(extraction)) = &mut outcome.extraction {
            for part in std::mem::take(&mut extraction.parts) {
                writer.write(part)?;
            }
        }
        writer.finish()?;
        outcome.write(&self.out_dir)
    }

    fn run_with(&self, sink: Option<crate::PartSink>, preview: Option<OfficePreview>) -> Outcome {
        let limits = self.limits();
        // The parts an office preview draws are kept as extraction makes them, streamed or not.
        let first_page = (preview.is_some() && self.thumbnail.is_some())
            .then(|| std::sync::Arc::new(std::sync::Mutex::new(FirstPage::default())));
        let sink = match (sink, &first_page) {
            (Some(sink), Some(page)) => {
                let page = page.clone();
                Some(crate::PartSink::new(move |part| {
                    lock(&page).offer(&part);
                    sink.send(part)
                }))
            }
            (sink, _) => sink,
        };
        let extraction = self.extract.then(|| {
            let options = Options {
                limits: limits.clone(),
                ocr: self.ocr.as_ref().map(|o| Ocr {
                    program: o.program.clone(),
                    languages: o.languages.clone(),
                    timeout: Duration::from_millis(o.timeout_ms),
                }),
                sink,
            };
            guarded(|| crate::extract(&self.input, &self.mime, &self.file_name, &options))
        });
        if let (Some(Ok(extraction)), Some(page)) = (&extraction, &first_page) {
            let mut page = lock(page);
            extraction.parts.iter().for_each(|part| page.offer(part));
        }
        let thumbnail = self.thumbnail.as_ref().map(|t| {
            let options = ThumbnailOptions {
                width: t.width,
                height: t.height,
                converter: t.converter.clone(),
                office_preview: preview,
                limits: limits.clone(),
            };
            let page = first_page.as_deref().map(lock);
            let parts = page.as_ref().map_or(&[][..], |page| page.parts());
            guarded(|| crate::thumbnail_with_parts(&self.input, &self.mime, &self.file_name, &options, parts))
        });
        Outcome { extraction, thumbnail }
    }
}

fn lock(page: &std::sync::Mutex<FirstPage>) -> std::sync::MutexGuard<'_, FirstPage> {
    page.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn guarded<T>(f: impl FnOnce() -> Result<T, ExtractError>) -> Result<T, Failure> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::from(&e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(Failure::from(&ExtractError::Crashed(what)))
        }
    }
}

/// Writes parts as JSON lines, each part's bytes into a file of its own beside them.
struct PartsWriter {
    dir: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    /// Parts written (also the number of the next data file).
    count: usize,
}

impl PartsWriter {
    /// An empty parts file, written by appending (see [`PartsWriter::try_clone`]).
    fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::File::create(dir.join(PARTS_FILE))?;
        let file = std::fs::OpenOptions::new().append(true).open(dir.join(PARTS_FILE))?;
        Ok(Self { dir: dir.to_path_buf(), file: std::io::BufWriter::new(file), count: 0 })
    }

    /// A second writer appending to the same file (the sink's, while extraction runs; the
    /// caller's one continues after it, with its count).
    fn try_clone(&self) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().append(true).open(self.dir.join(PARTS_FILE))?;
        Ok(Self { dir: self.dir.clone(), file: std::io::BufWriter::new(file), count: self.count })
    }

    fn write(&mut self, mut part: crate::Part) -> std::io::Result<()> {
        use std::io::Write as _;
        if let Some(data) = part.data.take() {
            let name = format!("part-{}.bin", self.count);
            std::fs::write(self.dir.join(&name), data)?;
            part.data_file = Some(name);
        }
        serde_json::to_writer(&mut self.file, &part).map_err(std::io::Error::other)?;
        self.file.write_all(b"\n")?;
        self.count += 1;
        // Lines go out whole: the sink's writer and this one share the file.
        self.file.flush()
    }

    fn finish(mut self) -> std::io::Result<()> {
        use std::io::Write as _;
        self.file.flush()?;
        self.file.get_ref().sync_all()
    }
}

/// The parts [`Job::run_to_dir`] wrote into `dir`, one at a time in document order, each with
/// its bytes loaded.
pub fn read_parts(dir: &Path) -> std::io::Result<impl Iterator<Item = std::io::Result<crate::Part>>> {
    use std::io::BufRead as _;
    let file = std::io::BufReader::new(std::fs::File::open(dir.join(PARTS_FILE))?);
    let dir = dir.to_path_buf();
    Ok(file.lines().map(move |line| {
        let mut part: crate::Part = serde_json::from_str(&line?).map_err(std::io::Error::other)?;
        if let Some(name) = part.data_file.take() {
            part.data = Some(std::fs::read(data_path(&dir, &name)?)?);
        }
        Ok(part)
    }))
}

/// A data file the writer made: a plain name inside `dir`, nothing outside it.
fn data_path(dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(std::io::Error::other(format!("bad data file name {name:?}")));
    }
    Ok(dir.join(name))
}

impl Outcome {
    /// Writes the outcome into `dir`: binary data as files, then `result.json` last, so that a
    /// present result file means a complete outcome.
    pub fn write(mut self, dir: &Path) -> std::io::Result<()> {
        if let Some(Ok(extraction)) = &mut self.extraction {
            for (i, part) in extraction.parts.iter_mut().enumerate() {
                if let Some(data) = part.data.take() {
                    let name = format!("part-{i}.bin");
                    std::fs::write(dir.join(&name), data)?;
                    part.data_file = Some(name);
                }
            }
            for (i, attachment) in extraction.attachments.iter_mut().enumerate() {
                let name = format!("attachment-{i}.bin");
                std::fs::write(dir.join(&name), std::mem::take(&mut attachment.data))?;
                attachment.data_file = Some(name);
            }
        }
        if let Some(Ok(png)) = &self.thumbnail {
            std::fs::write(dir.join(THUMBNAIL_FILE), png)?;
        }
        let json = serde_json::to_vec(&self).map_err(std::io::Error::other)?;
        let tmp = dir.join("result.json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, dir.join(RESULT_FILE))
    }

    /// Reads what [`Outcome::write`] wrote, with the data files loaded back.
    pub fn read(dir: &Path) -> std::io::Result<Self> {
        let json = std::fs::read(dir.join(RESULT_FILE))?;
        let mut outcome: Outcome = serde_json::from_slice(&json).map_err(std::io::Error::other)?;
        let inside = |name: &str| -> std::io::Result<PathBuf> {
            // Only plain names the writer made: nothing outside the directory.
            if name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(std::io::Error::other(format!("bad data file name {name:?}")));
            }
            Ok(dir.join(name))
        };
        if let Some(Ok(extraction)) = &mut outcome.extraction {
            for part in &mut extraction.parts {
                if let Some(name) = part.data_file.take() {
                    part.data = Some(std::fs::read(inside(&name)?)?);
                }
            }
            for attachment in &mut extraction.attachments {
                if let Some(name) = attachment.data_file.take() {
                    attachment.data = std::fs::read(inside(&name)?)?;
                }
            }
        }
        if let Some(Ok(png)) = &mut outcome.thumbnail {
            *png = std::fs::read(dir.join(THUMBNAIL_FILE))?;
        }
        Ok(outcome)
    }
}

mod thumb_serde {
    //! In `result.json` a thumbnail is `{"ok": true}` (bytes in `thumbnail.png`) or the failure.
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Failure;

    #[derive(Serialize, Deserialize)]
    enum Thumb {
        #[serde(rename = "ok")]
        Ok(bool),
        #[serde(rename = "err")]
        Err(Failure),
    }

    pub(super) fn serialize<S: Serializer>(value: &Option<Result<Vec<u8>, Failure>>, s: S) -> Result<S::Ok, S::Error> {
        value
            .as_ref()
            .map(|r| match r {
                Ok(_) => Thumb::Ok(true),
                Err(f) => Thumb::Err(f.clone()),
            })
            .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Result<Vec<u8>, Failure>>, D::Error> {
        Ok(Option::<Thumb>::deserialize(d)?.map(|t| match t {
            Thumb::Ok(_) => Ok(Vec::new()),
            Thumb::Err(f) => Err(f),
        }))
    }
}

/// The worker process: `docwright extract-worker <job.json>`. Returns the exit code.
///
/// Exit 0: `result.json` written (whatever the job's outcome). Other exits (or a signal) mean
/// the worker itself failed; its standard error says why. `preview` draws office previews
/// without a converter (see [`OfficePreview`]).
pub fn main(job_file: &Path, preview: Option<OfficePreview>) -> i32 {
    let job: Job = match std::fs::read(job_file)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(job) => job,
        Err(e) => {
            eprintln!("extract-worker: cannot read job {}: {e}", job_file.display());
            return 2;
        }
    };
    if job.max_memory_bytes > 0
        && let Err(e) = rlimit::setrlimit(rlimit::Resource::AS, job.max_memory_bytes, job.max_memory_bytes)
    {
        eprintln!("extract-worker: cannot limit memory: {e}");
        return 2;
    }
    // CPU seconds: the wall-clock limit of the job plus a second; the engine kills at the wall
    // clock anyway, this stops a worker whose parent is gone.
    let cpu = job.timeout_ms.div_ceil(1000) + 1;
    if let Err(e) = rlimit::setrlimit(rlimit::Resource::CPU, cpu, cpu + 1) {
        eprintln!("extract-worker: cannot limit CPU time: {e}");
        return 2;
    }
    match job.run_to_dir(preview) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("extract-worker: cannot write the result: {e}");
            3
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Location, Part};

    #[test]
    fn outcome_round_trips_with_data_files() {
        let dir = tempfile::tempdir().unwrap();
        let extraction = Extraction {
            parts: vec![
                Part::text("paragraph", "hello", Location::default()),
                Part::image("image/png", vec![1, 2, 3], Location { page: Some(2), ..Location::default() }),
            ],
            warnings: vec!["w".to_owned()],
            units: Some(2),
            attachments: vec![crate::Attachment {
                file_name: "a.txt".to_owned(),
                mime_type: "text/plain".to_owned(),
                data: b"att".to_vec(),
                data_file: None,
            }],
        };
        let outcome = Outcome { extraction: Some(Ok(extraction.clone())), thumbnail: Some(Ok(vec![9, 9])) };
        outcome.write(dir.path()).unwrap();
        let back = Outcome::read(dir.path()).unwrap();
        assert_eq!(back.extraction.unwrap().unwrap(), extraction);
        assert_eq!(back.thumbnail.unwrap().unwrap(), vec![9, 9]);
    }

    #[test]
    fn failures_keep_their_code() {
        let dir = tempfile::tempdir().unwrap();
        let outcome = Outcome {
            extraction: Some(Err(Failure::from(&ExtractError::Encrypted))),
            thumbnail: Some(Err(Failure::new("unsupported_type", "no"))),
        };
        outcome.write(dir.path()).unwrap();
        let back = Outcome::read(dir.path()).unwrap();
        assert_eq!(back.extraction.unwrap().unwrap_err().code, "encrypted");
        assert_eq!(back.thumbnail.unwrap().unwrap_err().code, "unsupported_type");
    }

    #[test]
    fn parts_are_streamed_into_the_parts_file() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        let mut csv = String::from("id,v\n");
        for i in 0..2500 {
            csv.push_str(&format!("{i},x{i}\n"));
        }
        std::fs::write(&input, csv).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let job = Job {
            input,
            mime: "text/csv".into(),
            file_name: "in.csv".into(),
            out_dir: out.clone(),
            extract: true,
            thumbnail: None,
            timeout_ms: 60_000,
            max_memory_bytes: 0,
            max_pages: 10,
            max_inflated_bytes: 1 << 30,
            max_xml_depth: 64,
            max_parts: 1000,
            max_text_chars: 10_000_000,
            max_image_pixels: 1_000_000,
            ocr: None,
        };
        job.run_to_dir(None).unwrap();
        let parts: Vec<_> = read_parts(&out).unwrap().collect::<std::io::Result<_>>().unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2].location.row_end, Some(2501));
        let outcome = Outcome::read(&out).unwrap();
        assert!(outcome.extraction.unwrap().unwrap().parts.is_empty(), "the parts are in the parts file only");
    }

    #[test]
    fn a_panic_is_a_crash_not_an_unwind() {
        let failure = guarded::<()>(|| panic!("boom")).unwrap_err();
        assert_eq!(failure.code, "parser_crashed");
        assert!(failure.message.contains("boom"));
    }
}
