//! The external programs some tests need (LibreOffice, poppler, Python with the readers), and
//! the rule for their absence: under `CI=true` a missing tool fails the test, otherwise the test
//! prints a notice and skips (`scripts/setup` and `scripts/test` install them).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the tool is there; if not, fails under CI and prints a notice otherwise.
pub(crate) fn require(what: &str, present: bool, installed_by: &str) -> bool {
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {what} is missing ({installed_by} installs it)"
        );
        eprintln!("notice: {what} is not available; skipping (run {installed_by})");
    }
    present
}

pub(crate) fn soffice() -> Option<PathBuf> {
    docwright_extract::find_office_converter()
}

pub(crate) fn has_python_readers() -> bool {
    Command::new("python3")
        .args(["-c", "import docx, openpyxl, pptx, pypdf"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether a CJK system font is installed (Debian's fonts-noto-cjk), which PDFs take Chinese,
/// Japanese and Korean from.
pub(crate) fn has_cjk_font() -> bool {
    std::fs::read_dir("/usr/share/fonts/opentype/noto")
        .is_ok_and(|dir| dir.flatten().any(|entry| entry.file_name().to_string_lossy().contains("CJK")))
}

pub(crate) fn has_pdftoppm() -> bool {
    Command::new("pdftoppm").arg("-v").output().is_ok()
}

/// Converts `file` to PDF with LibreOffice into `out_dir`; the PDF's path, or the converter's
/// output when it failed. Each call has a profile of its own, so tests can run in parallel.
pub(crate) fn to_pdf(soffice: &Path, file: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
    let output = Command::new(soffice)
        .arg(format!("-env:UserInstallation=file://{}", profile.path().display()))
        .args(["--headless", "--norestore", "--convert-to", "pdf", "--outdir"])
        .arg(out_dir)
        .arg(file)
        .output()
        .map_err(|e| e.to_string())?;
    let pdf = out_dir.join(file.with_extension("pdf").file_name().unwrap_or_default());
    let ok = output.status.success() && std::fs::metadata(&pdf).is_ok_and(|m| m.len() > 0);
    if ok {
        Ok(pdf)
    } else {
        Err(format!(
            "LibreOffice could not convert {}: {}{}",
            file.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
