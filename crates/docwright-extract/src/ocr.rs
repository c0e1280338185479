//! OCR through the Tesseract command-line program.
//!
//! Tesseract runs as a child process per image (`tesseract <png> stdout -l eng+deu+rus --psm 3`)
//! with standard input closed, its output read through pipes and a time limit after which it is
//! killed. Pixels reach it as a PNG in a private temporary file. [`Ocr::status`] asks the program
//! for its version and languages, for `/api/health`.
//!
//! [`run_bounded`] is the one way this crate runs a program (Tesseract here, the office converter
//! for thumbnails): wait with a deadline, kill on expiry, never block on a full pipe.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{ExtractError, Limits};

/// How to run Tesseract.
#[derive(Debug, Clone)]
pub struct Ocr {
    /// The `tesseract` program.
    pub program: PathBuf,
    /// Tesseract language codes (`eng`, `deu`, `rus`, ...).
    pub languages: Vec<String>,
    /// Time limit of one recognition.
    pub timeout: Duration,
}

/// Whether OCR can run, as `/api/health` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcrStatus {
    Disabled,
    /// Tesseract runs; `missing` are configured languages it lacks.
    Available {
        version: String,
        missing: Vec<String>,
    },
    Unavailable {
        reason: String,
    },
}

/// Time limit of the `--version` and `--list-langs` probes.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

impl Ocr {
    pub fn new(program: impl Into<PathBuf>, languages: Vec<String>, timeout: Duration) -> Self {
        Self { program: program.into(), languages, timeout }
    }

    /// `tesseract` from `PATH`, English, German and Russian, two minutes per image.
    pub fn new_default() -> Self {
        Self::new("tesseract", ["eng", "deu", "rus"].map(str::to_owned).to_vec(), Duration::from_secs(120))
    }

    /// Whether the program runs and has the configured languages.
    pub fn status(&self) -> OcrStatus {
        let version = match self.probe("--version") {
            Ok(output) => output,
            Err(reason) => return OcrStatus::Unavailable { reason },
        };
        // Tesseract 5 prints `tesseract 5.3.0` first (older versions on standard error).
        let version = version
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("tesseract"))
            .map(|l| l.trim_start_matches("tesseract").trim().to_owned())
            .unwrap_or_else(|| version.lines().next().unwrap_or("").trim().to_owned());
        let installed = match self.probe("--list-langs") {
            Ok(output) => output,
            Err(reason) => return OcrStatus::Unavailable { reason },
        };
        // `List of available languages in "/usr/share/tesseract-ocr/5/tessdata/" (3):` then
        // one code per line.
        let installed: Vec<&str> =
            installed.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("List of")).collect();
        let missing = self.languages.iter().filter(|l| !installed.contains(&l.as_str())).cloned().collect();
        OcrStatus::Available { version, missing }
    }

    /// Runs `program <arg>` and returns standard output and error together.
    fn probe(&self, arg: &str) -> Result<String, String> {
        let mut command = Command::new(&self.program);
        command.arg(arg);
        let program = self.program.display();
        match run_bounded(command, STATUS_TIMEOUT) {
            Ok(out) if out.status.success() => {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push('\n');
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                Ok(text)
            }
            Ok(out) => Err(format!("`{program} {arg}` failed ({}): {}", out.status, out.stderr_tail())),
            Err(RunError::Spawn(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("the OCR program `{program}` is not installed"))
            }
            Err(RunError::Spawn(e)) => Err(format!("cannot run `{program}`: {e}")),
            Err(RunError::TimedOut) => Err(format!("`{program} {arg}` did not answer within {STATUS_TIMEOUT:?}")),
        }
    }

    /// The text Tesseract reads in the image file at `image` (any format it reads: PNG, JPEG,
    /// TIFF, ...), within the OCR time limit and the extraction's deadline.
    pub fn recognize_file(&self, image: &Path, limits: &Limits) -> Result<String, ExtractError> {
        limits.check_time()?;
        let languages = if self.languages.is_empty() { "eng".to_owned() } else { self.languages.join("+") };
        let mut command = Command::new(&self.program);
        command.arg(image).arg("stdout").arg("-l").arg(&languages).arg("--psm").arg("3");
        // Pages are recognised in parallel already; Tesseract's own threads would only compete.
        command.env("OMP_THREAD_LIMIT", "1");
        let left = limits.deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let timeout = left.map_or(self.timeout, |left| left.min(self.timeout));
        let program = self.program.display();
        match run_bounded(command, timeout) {
            Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned()),
            Ok(out) => Err(ExtractError::Ocr(format!("`{program}` failed ({}): {}", out.status, out.stderr_tail()))),
            Err(RunError::Spawn(e)) => Err(ExtractError::Ocr(format!("cannot run `{program}`: {e}"))),
            // The extraction's own deadline passed: the whole extraction is out of time.
            Err(RunError::TimedOut) if limits.check_time().is_err() => Err(ExtractError::TimedOut),
            Err(RunError::TimedOut) => {
                Err(ExtractError::Ocr(format!("`{program}` did not finish within {:?}", self.timeout)))
            }
        }
    }

    /// The text of an encoded image (PNG bytes, as rendered pages are), through a temporary file.
    pub(crate) fn recognize_png(&self, png: &[u8], limits: &Limits) -> Result<String, ExtractError> {
        let mut file = tempfile::Builder::new().prefix("docwright-ocr-").suffix(".png").tempfile()?;
        std::io::Write::write_all(&mut file, png)?;
        self.recognize_file(file.path(), limits)
    }
}

/// What a bounded run produced.
#[derive(Debug)]
pub(crate) struct RunOutput {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl RunOutput {
    /// The last line-ish part of standard error, for an error message.
    pub(crate) fn stderr_tail(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let text = text.trim();
        let start = text.char_indices().rev().nth(499).map_or(0, |(i, _)| i);
        text[start..].to_owned()
    }
}

#[derive(Debug)]
pub(crate) enum RunError {
    Spawn(std::io::Error),
    TimedOut,
}

/// Runs `command` with standard input closed and both outputs captured, killing it when it has
/// not ended after `timeout`.
pub(crate) fn run_bounded(mut command: Command, timeout: Duration) -> Result<RunOutput, RunError> {
    /// Output kept from each pipe; the rest is read and dropped so the child never blocks.
    const MAX_OUTPUT: u64 = 64 << 20;
    let deadline = Instant::now() + timeout;
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(RunError::Spawn)?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        move || {
            let mut kept = Vec::new();
            if let Some(pipe) = pipe {
                let mut pipe = pipe;
                let _ = pipe.by_ref().take(MAX_OUTPUT).read_to_end(&mut kept);
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            }
            kept
        }
    };
    let stdout = child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>);
    let stderr = child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>);
    std::thread::scope(|scope| {
        let out = scope.spawn(drain(stdout));
        let err = scope.spawn(drain(stderr));
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(RunError::TimedOut);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(RunError::Spawn(e));
                }
            }
        };
        // A grandchild may hold the pipes open after a kill; the readers end when it does. The
        // programs run here do not leave such children behind.
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        status.map(|status| RunOutput { status, stdout, stderr })
    })
}

/// Helpers for the tests of the modules that OCR.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Ocr, OcrStatus};

    /// Tesseract when it is installed; otherwise `None` after saying so, except under `CI=true`
    /// where OCR must be tested and its absence fails the test.
    pub(crate) fn tesseract_or_skip(test: &str) -> Option<Ocr> {
        let ocr = Ocr::new_default();
        match ocr.status() {
            OcrStatus::Available { missing, .. } if missing.is_empty() => Some(ocr),
            status => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{test}: Tesseract is needed under CI: {status:?}"
                );
                #[allow(clippy::print_stdout)] // The notice that a test was skipped.
                {
                    println!("{test}: skipped, Tesseract with eng+deu+rus is not installed ({status:?})");
                }
                None
            }
        }
    }

    /// A PNG with `text` in large black block letters on white. The 5×7 font reads well in
    /// some letters only (Tesseract takes its N for H, its C for L): tests use words it reads.
    pub(crate) fn text_png(text: &str) -> Vec<u8> {
        let cell = 10.0;
        let width = (text.chars().count() as f32 * 6.0 * cell + 8.0 * cell) as u32;
        let height = (7.0 * cell + 8.0 * cell) as u32;
        let mut pixmap = tiny_skia::Pixmap::new(width, height).unwrap();
        pixmap.fill(tiny_skia::Color::WHITE);
        crate::thumb::draw_text(&mut pixmap, text, 4.0 * cell, 4.0 * cell, cell, tiny_skia::Color::BLACK);
        pixmap.encode_png().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tesseract_reads_block_letters() {
        let Some(ocr) = testing::tesseract_or_skip("tesseract_reads_block_letters") else { return };
        let png = testing::text_png("HELLO WORLD 2024");
        let text = ocr.recognize_png(&png, &Limits::default()).unwrap();
        assert!(text.contains("HELLO") && text.contains("WORLD"), "read {text:?}");
    }

    #[test]
    fn status_reports_version_and_languages() {
        let Some(ocr) = testing::tesseract_or_skip("status_reports_version_and_languages") else { return };
        let mut ocr = ocr;
        ocr.languages.push("xyz".to_owned());
        match ocr.status() {
            OcrStatus::Available { version, missing } => {
                assert!(version.starts_with(char::is_numeric), "{version}");
                assert_eq!(missing, vec!["xyz".to_owned()]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_program_is_unavailable() {
        let ocr = Ocr::new("/nonexistent/tesseract", vec!["eng".to_owned()], Duration::from_secs(1));
        match ocr.status() {
            OcrStatus::Unavailable { reason } => assert!(reason.contains("not installed"), "{reason}"),
            other => panic!("expected unavailable, got {other:?}"),
        }
    }

    #[test]
    fn a_slow_program_is_killed_at_its_timeout() {
        let mut command = Command::new("sleep");
        command.arg("10");
        let started = Instant::now();
        assert!(matches!(run_bounded(command, Duration::from_millis(100)), Err(RunError::TimedOut)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn output_is_captured() {
        let mut command = Command::new("sh");
        command.arg("-c").arg("echo out; echo err >&2; exit 3");
        let out = run_bounded(command, Duration::from_secs(5)).unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr_tail(), "err");
        assert_eq!(out.status.code(), Some(3));
    }
}
