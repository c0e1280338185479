//! OCR through the Tesseract command-line program.
//!
//! Tesseract runs as a child process per image (`tesseract <png> stdout -l <languages> --psm 3`)
//! with standard input closed, its output read through pipes and a time limit after which it is
//! killed. With more than one language configured, the image's script is detected first
//! (Tesseract's orientation and script detection, `--psm 0 -l osd`) and only the configured
//! languages of that script are used — all of them at once put Cyrillic look-alikes into English
//! text (`CFO` read as `СРО`). When detection fails (no `osd` data, too few characters) the
//! configured list is used; when the script has no configured language (Chinese with no
//! `chi_sim`), a warning says so. PDF pages rendered for OCR are binarized with Sauvola's
//! local threshold (`-c thresholding_method=2`) instead of the global Otsu default: a page's
//! images are resampled to 300 dpi with soft edges, and on a corpus table drawn from a small
//! rotated image the default lost 8 of 52 words, Sauvola 4 (a text page read the same either
//! way). Pixels reach it as a PNG in a private temporary file. [`Ocr::status`] asks the program
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

/// The scripts Tesseract's script detection names and the language data that read them.
const SCRIPT_LANGUAGES: &[(&str, &[&str])] = &[
    (
        "Latin",
        &[
            "eng", "deu", "fra", "spa", "ita", "por", "nld", "pol", "ces", "slk", "slv", "hrv", "swe", "dan", "nor",
            "fin", "est", "lav", "lit", "hun", "ron", "tur", "cat", "eus", "glg", "isl", "gle", "vie", "ind", "msa",
            "lat", "aze", "uzb", "sqi", "afr", "swa", "tgl", "frk", "deu_latf",
        ],
    ),
    ("Cyrillic", &["rus", "ukr", "bel", "bul", "srp", "mkd", "kaz", "kir", "tgk", "mon", "uzb_cyrl", "aze_cyrl"]),
    ("Greek", &["ell", "grc"]),
    ("Han", &["chi_sim", "chi_tra", "chi_sim_vert", "chi_tra_vert"]),
    ("Japanese", &["jpn", "jpn_vert"]),
    ("Hangul", &["kor", "kor_vert"]),
    ("Korean", &["kor", "kor_vert"]),
    ("Arabic", &["ara", "fas", "urd", "pus", "uig", "snd"]),
    ("Hebrew", &["heb", "yid"]),
    ("Devanagari", &["hin", "mar", "nep", "san"]),
    ("Bengali", &["ben", "asm"]),
    ("Thai", &["tha"]),
    ("Armenian", &["hye"]),
    ("Georgian", &["kat", "kat_old"]),
];

/// What OCR read in one image, and a warning when the language could not be chosen well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognized {
    pub text: String,
    pub warning: Option<String>,
}

/// The configured languages that read `script` (as OSD names it), in the configured order;
/// `Err` with the languages that would when none is configured.
fn languages_for_script<'a>(configured: &'a [String], script: &str) -> Result<Vec<&'a str>, &'static [&'static str]> {
    let Some((_, readers)) = SCRIPT_LANGUAGES.iter().find(|(s, _)| s.eq_ignore_ascii_case(script)) else {
        return Ok(Vec::new());
    };
    let chosen: Vec<&str> = configured.iter().map(String::as_str).filter(|l| readers.contains(l)).collect();
    if chosen.is_empty() { Err(readers) } else { Ok(chosen) }
}

/// The script line of Tesseract's OSD output (`Script: Latin`).
fn osd_script(output: &str) -> Option<&str> {
    output.lines().find_map(|l| l.trim().strip_prefix("Script:")).map(str::trim).filter(|s| !s.is_empty())
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
    /// TIFF, ...), within the OCR time limit and the extraction's deadline, in the languages
    /// chosen by the image's script (see the module documentation).
    pub fn recognize_file(&self, image: &Path, limits: &Limits) -> Result<Recognized, ExtractError> {
        self.recognize_with(image, &[], limits)
    }

    /// [`Self::recognize_file`] with more arguments for the recognition run.
    fn recognize_with(&self, image: &Path, extra: &[&str], limits: &Limits) -> Result<Recognized, ExtractError> {
        limits.check_time()?;
        let (languages, warning) = self.choose_languages(image, limits)?;
        let args = [&["--psm", "3"], extra].concat();
        let text = self.run_tesseract(image, &languages, &args, limits)?;
        Ok(Recognized { text: text.trim_end().to_owned(), warning })
    }

    /// The `-l` argument for `image`: the configured languages of its script when there are
    /// several to choose from and the script can be told, else all configured ones.
    fn choose_languages(&self, image: &Path, limits: &Limits) -> Result<(String, Option<String>), ExtractError> {
        let all = if self.languages.is_empty() { "eng".to_owned() } else { self.languages.join("+") };
        if self.languages.len() < 2 {
            return Ok((all, None));
        }
        let detected = match self.run_tesseract(image, "osd", &["--psm", "0"], limits) {
            Ok(out) => osd_script(&out).map(str::to_owned),
            // The deadline ends the extraction; anything else (no `osd` data, too few
            // characters to tell) leaves the choice to the configured list.
            Err(ExtractError::TimedOut) => return Err(ExtractError::TimedOut),
            Err(_) => None,
        };
        let Some(script) = detected else { return Ok((all, None)) };
        match languages_for_script(&self.languages, &script) {
            Ok(chosen) if chosen.is_empty() => Ok((all, None)),
            Ok(chosen) => Ok((chosen.join("+"), None)),
            Err(readers) => Ok((
                all,
                Some(format!(
                    "the image's script is {script}, for which no OCR language data is configured ({} would read it); \
                     it was read with {}",
                    readers.iter().take(2).copied().collect::<Vec<_>>().join(" or "),
                    self.languages.join(", ")
                )),
            )),
        }
    }

    /// Runs `tesseract <image> stdout -l <languages> <args>` and returns its standard output.
    fn run_tesseract(
        &self,
        image: &Path,
        languages: &str,
        args: &[&str],
        limits: &Limits,
    ) -> Result<String, ExtractError> {
        let mut command = Command::new(&self.program);
        command.arg(image).arg("stdout").arg("-l").arg(languages).args(args);
        // Pages are recognised in parallel already; Tesseract's own threads would only compete.
        command.env("OMP_THREAD_LIMIT", "1");
        let left = limits.deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let timeout = left.map_or(self.timeout, |left| left.min(self.timeout));
        let program = self.program.display();
        match run_bounded(command, timeout) {
            Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
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
    pub(crate) fn recognize_png(&self, png: &[u8], limits: &Limits) -> Result<Recognized, ExtractError> {
        self.recognize_png_with(png, &[], limits)
    }

    /// The text of a PDF page rendered for OCR (PNG bytes), binarized by Sauvola's method (see
    /// the module documentation).
    pub(crate) fn recognize_rendered_page(&self, png: &[u8], limits: &Limits) -> Result<Recognized, ExtractError> {
        self.recognize_png_with(png, &["-c", "thresholding_method=2"], limits)
    }

    fn recognize_png_with(&self, png: &[u8], extra: &[&str], limits: &Limits) -> Result<Recognized, ExtractError> {
        let mut file = tempfile::Builder::new().prefix("docwright-ocr-").suffix(".png").tempfile()?;
        std::io::Write::write_all(&mut file, png)?;
        self.recognize_with(file.path(), extra, limits)
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

    /// A PNG of `lines` drawn with the TrueType font `font` at 48 px (glyph outlines filled
    /// with tiny-skia): text in a real typeface, as a scan would show it.
    pub(crate) fn font_png(font: &[u8], lines: &[&str]) -> Vec<u8> {
        struct Outline(tiny_skia::PathBuilder, f32, f32, f32);
        impl ttf_parser::OutlineBuilder for Outline {
            fn move_to(&mut self, x: f32, y: f32) {
                self.0.move_to(self.1 + x * self.3, self.2 - y * self.3);
            }
            fn line_to(&mut self, x: f32, y: f32) {
                self.0.line_to(self.1 + x * self.3, self.2 - y * self.3);
            }
            fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
                let (ox, oy, k) = (self.1, self.2, self.3);
                self.0.quad_to(ox + x1 * k, oy - y1 * k, ox + x * k, oy - y * k);
            }
            fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
                let (ox, oy, k) = (self.1, self.2, self.3);
                self.0.cubic_to(ox + x1 * k, oy - y1 * k, ox + x2 * k, oy - y2 * k, ox + x * k, oy - y * k);
            }
            fn close(&mut self) {
                self.0.close();
            }
        }
        let face = ttf_parser::Face::parse(font, 0).unwrap();
        let px = 48.0;
        let k = px / f32::from(face.units_per_em());
        let mut pixmap = tiny_skia::Pixmap::new(2400, (lines.len() as f32 * px * 1.6 + 2.0 * px) as u32).unwrap();
        pixmap.fill(tiny_skia::Color::WHITE);
        let mut paint = tiny_skia::Paint::default();
        paint.set_color(tiny_skia::Color::BLACK);
        paint.anti_alias = true;
        for (row, line) in lines.iter().enumerate() {
            let mut x = px;
            let y = px * 1.5 + row as f32 * px * 1.6;
            for c in line.chars() {
                let Some(gid) = face.glyph_index(c) else { continue };
                let mut outline = Outline(tiny_skia::PathBuilder::new(), x, y, k);
                face.outline_glyph(gid, &mut outline);
                if let Some(path) = outline.0.finish() {
                    pixmap.fill_path(
                        &path,
                        &paint,
                        tiny_skia::FillRule::Winding,
                        tiny_skia::Transform::identity(),
                        None,
                    );
                }
                x += f32::from(face.glyph_hor_advance(gid).unwrap_or(0)) * k;
            }
        }
        pixmap.encode_png().unwrap()
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
        let text = ocr.recognize_png(&png, &Limits::default()).unwrap().text;
        assert!(text.contains("HELLO") && text.contains("WORLD"), "read {text:?}");
    }

    #[test]
    fn rendered_pages_are_read_with_the_local_threshold() {
        let Some(ocr) = testing::tesseract_or_skip("rendered_pages_are_read_with_the_local_threshold") else { return };
        // The page path (with its threshold option) reads what the plain path reads.
        let png = testing::text_png("HELLO WORLD 2024");
        let text = ocr.recognize_rendered_page(&png, &Limits::default()).unwrap().text;
        assert!(text.contains("HELLO") && text.contains("WORLD"), "read {text:?}");
    }

    #[test]
    fn scripts_choose_the_configured_languages_that_read_them() {
        let configured: Vec<String> = ["eng", "deu", "rus"].map(str::to_owned).to_vec();
        assert_eq!(languages_for_script(&configured, "Latin"), Ok(vec!["eng", "deu"]));
        assert_eq!(languages_for_script(&configured, "Cyrillic"), Ok(vec!["rus"]));
        assert!(languages_for_script(&configured, "Han").unwrap_err().contains(&"chi_sim"));
        assert_eq!(languages_for_script(&configured, "Fraktur-ish"), Ok(vec![]), "unknown: no choice");
        let osd = "Page number: 0\nOrientation in degrees: 0\nScript: Cyrillic\nScript confidence: 2.1\n";
        assert_eq!(osd_script(osd), Some("Cyrillic"));
        assert_eq!(osd_script("Too few characters. Skipping this page"), None);
    }

    #[test]
    fn latin_text_is_read_without_cyrillic_look_alikes() {
        let Some(ocr) = testing::tesseract_or_skip("latin_text_is_read_without_cyrillic_look_alikes") else { return };
        // Capitals that exist in both scripts: with eng+deu+rus at once they may come back
        // Cyrillic; with the script detected first, only Latin languages read them.
        let png = testing::font_png(
            pdf_oxide::fonts::bundled::DEJAVU_SANS,
            &[
                "OCEAN TAX CFO COMPANY OPERATIONS MOTOR",
                "The quarterly report of the company shows revenue",
                "and costs for each region, and the outlook for the",
                "next year, as prepared by the finance department.",
            ],
        );
        let read = ocr.recognize_png(&png, &Limits::default()).unwrap();
        assert!(!read.text.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c)), "{:?}", read.text);
        assert!(read.text.contains("CFO") && read.text.contains("quarterly"), "{:?}", read.text);
        assert_eq!(read.warning, None);
    }

    #[test]
    fn a_script_without_language_data_is_warned_about() {
        let Some(ocr) = testing::tesseract_or_skip("a_script_without_language_data_is_warned_about") else { return };
        // Droid Sans Fallback, the CJK face pdf_oxide ships (read from the vendored crate).
        let font = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../vendor/pdf_oxide/src/fonts/assets/DroidSansFallbackFull.ttf"),
        )
        .unwrap();
        let png = testing::font_png(
            &font,
            &[
                "这是一份关于公司季度报告的文件。报告显示了每个地区的",
                "收入和成本，以及明年的展望。财务部门准备了这份报告，",
                "并将其发送给所有股东。我们希望明年的业绩会更好。",
            ],
        );
        let read = ocr.recognize_png(&png, &Limits::default()).unwrap();
        let warning = read.warning.expect("a warning");
        assert!(warning.contains("Han") && warning.contains("chi_sim"), "{warning}");
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
