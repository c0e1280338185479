//! PDF: one text part per page in reading order, embedded images as image parts, OCR of pages
//! without a text layer (SPEC D2), with `pdf_oxide`.
//!
//! The file is opened once; encryption is settled before anything else (a file that does not
//! open with the empty password is `Encrypted`, never an empty extraction), then the page count
//! is checked against the limit before any per-page work. Pages are shared among scoped threads
//! (one per core) that take the next page from a counter, so a slow page does not hold up a
//! whole batch; all threads read the one document (`PdfDocument` is `Sync`). A page's text is
//! read once from its content stream and set in reading order by [`text`]; nothing but its parts
//! is kept of a page, so memory is the file, the parts made, the pages in flight and the
//! library's caches (bounded by count and bytes, not by the page count). Each page is its own unit of failure: an error or a panic
//! inside the parser becomes a warning naming the page, and the other pages are kept.

mod text;

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pdf_oxide::extractors::ColorSpace;
use pdf_oxide::extractors::warnings::WarningCategory;
use pdf_oxide::rendering::{RenderOptions, render_page};
use pdf_oxide::{PdfDocument, PdfFilter, PdfImageHandle};

use crate::{ExtractError, Extraction, Limits, Location, Method, Options, Part};

/// Images smaller than this on either side are decoration (bullets, rules, spacers).
const MIN_IMAGE_SIDE: u32 = 32;
/// Image parts one PDF may yield; the rest are counted in a warning.
const MAX_IMAGES: usize = 500;
/// Encoded bytes of all image parts of one PDF.
const MAX_IMAGE_BYTES: usize = 256 << 20;
/// Resolution of a page rendered for OCR.
const OCR_DPI: u32 = 300;
/// Largest raster of a page rendered for OCR (A4 at 300 dpi is 8.7 Mpx).
const OCR_MAX_PIXELS: u64 = 16_000_000;
/// Library warnings kept per file (after de-duplication).
const MAX_LIBRARY_WARNINGS: usize = 20;
/// Below this many pages per thread, another thread costs more than it saves.
const PAGES_PER_THREAD: usize = 4;

/// Opens the PDF at `path` and settles its encryption: `Encrypted` unless it opens with the
/// empty password (owner-password-only files are common and readable).
pub(crate) fn open(path: &Path) -> Result<PdfDocument, ExtractError> {
    open_bytes(std::fs::read(path)?)
}

/// [`open`] of a PDF in memory.
pub(crate) fn open_bytes(bytes: Vec<u8>) -> Result<PdfDocument, ExtractError> {
    let doc = PdfDocument::from_bytes(bytes).map_err(map_error)?;
    if doc.is_encrypted() && !doc.is_authenticated() && !matches!(doc.authenticate(b""), Ok(true)) {
        return Err(ExtractError::Encrypted);
    }
    Ok(doc)
}

/// The page count, refused beyond `limits.max_pages`.
pub(crate) fn page_count(doc: &PdfDocument, limits: &Limits) -> Result<usize, ExtractError> {
    let pages = doc.page_count().map_err(map_error)?;
    if pages > limits.max_pages as usize {
        return Err(ExtractError::TooManyPages { found: pages as u64, limit: limits.max_pages });
    }
    Ok(pages)
}

fn map_error(e: pdf_oxide::Error) -> ExtractError {
    match e {
        pdf_oxide::Error::EncryptedPdf => ExtractError::Encrypted,
        pdf_oxide::Error::Io(e) => ExtractError::Io(e),
        other => ExtractError::Malformed(other.to_string()),
    }
}

pub(crate) fn extract(path: &Path, options: &Options) -> Result<Extraction, ExtractError> {
    let limits = &options.limits;
    let doc = open(path)?;
    let pages = page_count(&doc, limits)?;
    if pages == 0 {
        // Nothing to recover: a PDF without a single readable page is damaged, not empty.
        let why = doc
            .take_structured_warnings()
            .into_iter()
            .next()
            .map_or_else(|| "no page could be read".to_owned(), |w| w.message);
        return Err(ExtractError::Malformed(why));
    }
    limits.check_time()?;

    let shared = Shared {
        doc: &doc,
        pages,
        options,
        next_page: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        text_chars: AtomicUsize::new(0),
        images: Mutex::new(ImageBudget::default()),
    };
    let threads =
        std::thread::available_parallelism().map_or(1, usize::from).min(pages.div_ceil(PAGES_PER_THREAD)).max(1);
    let results: Vec<Result<Vec<(usize, PageOut)>, ExtractError>> = if threads == 1 {
        vec![shared.work()]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let shared = &shared;
                    scope.spawn(move || shared.work())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(ExtractError::Crashed("a page worker panicked".to_owned()))))
                .collect()
        })
    };

    let mut done: Vec<(usize, PageOut)> = Vec::with_capacity(pages);
    for result in results {
        done.extend(result?);
    }
    done.sort_unstable_by_key(|(page, _)| *page);

    let mut extraction = Extraction { units: Some(u32::try_from(pages).unwrap_or(u32::MAX)), ..Extraction::default() };
    for (_, page) in done {
        extraction.parts.extend(page.parts);
        extraction.warnings.extend(page.warnings);
    }
    let images = shared.images.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    if images.skipped > 0 {
        extraction.warnings.push(format!(
            "{} more images were not kept (at most {MAX_IMAGES} images and {} MiB per file)",
            images.skipped,
            MAX_IMAGE_BYTES >> 20
        ));
    }
    extraction.warnings.extend(library_warnings(doc.take_structured_warnings()));
    Ok(extraction)
}

/// What the parser itself reported about damage it worked around, de-duplicated and capped.
fn library_warnings(warnings: Vec<pdf_oxide::extractors::warnings::Warning>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut more = 0usize;
    for w in warnings {
        let damage = matches!(
            w.category,
            WarningCategory::XrefRecovery
                | WarningCategory::EofPremature
                | WarningCategory::OperatorCapExceeded
                | WarningCategory::Encryption
        );
        if !damage || !seen.insert(w.message.clone()) {
            continue;
        }
        if out.len() >= MAX_LIBRARY_WARNINGS {
            more += 1;
            continue;
        }
        out.push(match w.page {
            Some(page) => format!("page {}: {}", page + 1, w.message),
            None => w.message,
        });
    }
    if more > 0 {
        out.push(format!("{more} more parser warnings"));
    }
    out
}

/// The parts and warnings of one page.
#[derive(Default)]
struct PageOut {
    parts: Vec<Part>,
    warnings: Vec<String>,
}

#[derive(Default)]
struct ImageBudget {
    kept: usize,
    bytes: usize,
    skipped: usize,
    /// Hashes of images already kept: a logo on every page is one part.
    seen: HashSet<u64>,
}

/// What the page workers share.
struct Shared<'a> {
    doc: &'a PdfDocument,
    pages: usize,
    options: &'a Options,
    next_page: AtomicUsize,
    /// Set by the first worker that fails the whole extraction; the others stop.
    stop: AtomicBool,
    text_chars: AtomicUsize,
    images: Mutex<ImageBudget>,
}

impl Shared<'_> {
    /// Takes pages until none are left; a fatal error stops every worker.
    fn work(&self) -> Result<Vec<(usize, PageOut)>, ExtractError> {
        let mut out = Vec::new();
        let result = (|| {
            let pages = self.pages;
            loop {
                if self.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let index = self.next_page.fetch_add(1, Ordering::Relaxed);
                if index >= pages {
                    return Ok(());
                }
                self.options.limits.check_time()?;
                out.push((index, self.page(self.doc, index)?));
            }
        })();
        if result.is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
        result.map(|()| out)
    }

    /// One page. Errors of the page itself become warnings; only the file's limits (time, text)
    /// and OCR time-outs end the extraction.
    fn page(&self, doc: &PdfDocument, index: usize) -> Result<PageOut, ExtractError> {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let location = Location { page: Some(number), ..Location::default() };
        let mut out = PageOut::default();

        let text = match catch(|| text::page_text(doc, index)) {
            Ok(text) => text,
            Err(e) => {
                out.warnings.push(format!("page {number}: the text could not be read ({e})"));
                String::new()
            }
        };
        let handles = catch(|| doc.page_image_handles(index));
        let painted_images = handles.as_ref().map_or(0, Vec::len);
        // A page with no text operators, or with images and nothing else, is a scan.
        let scanned =
            text.trim().is_empty() && (painted_images > 0 || !catch(|| doc.has_text_layer(index)).unwrap_or(true));

        if scanned {
            match &self.options.ocr {
                Some(ocr) => match self.ocr_page(doc, ocr, index) {
                    Ok(read) => {
                        if let Some(warning) = read.warning {
                            out.warnings.push(format!("page {number}: {warning}"));
                        }
                        let ocr_text = read.text;
                        self.charge_text(&ocr_text)?;
                        let mut part = Part::text("page", ocr_text, location.clone());
                        part.method = Method::Ocr;
                        out.parts.push(part);
                    }
                    Err(e @ (ExtractError::TimedOut | ExtractError::TooLarge { .. })) => return Err(e),
                    Err(e) => out.warnings.push(format!("page {number}: OCR failed: {e}")),
                },
                None => out.warnings.push(format!("page {number} has no text layer (OCR is off)")),
            }
        } else {
            self.charge_text(&text)?;
            out.parts.push(Part::text("page", text, location.clone()));
        }
        match handles {
            Ok(handles) if !handles.is_empty() => self.images(handles, &location, &mut out),
            Ok(_) => {}
            Err(e) => out.warnings.push(format!("page {number}: the images could not be read ({e})")),
        }
        Ok(out)
    }

    /// Counts the page's characters against the file's text limit.
    fn charge_text(&self, text: &str) -> Result<(), ExtractError> {
        let limit = self.options.limits.max_text_chars;
        let chars = text.chars().count();
        if self.text_chars.fetch_add(chars, Ordering::Relaxed) + chars > limit {
            return Err(ExtractError::TooLarge { what: "text characters", limit: limit as u64 });
        }
        Ok(())
    }

    /// Renders the page and reads it with Tesseract.
    fn ocr_page(
        &self,
        doc: &PdfDocument,
        ocr: &crate::Ocr,
        index: usize,
    ) -> Result<crate::ocr::Recognized, ExtractError> {
        let mut render = RenderOptions::with_dpi(OCR_DPI);
        render.max_output_pixels = OCR_MAX_PIXELS.min(self.options.limits.max_image_pixels);
        let image = catch(|| render_page(doc, index, &render))
            .map_err(|e| ExtractError::Malformed(format!("the page could not be rendered: {e}")))?;
        ocr.recognize_rendered_page(&image.data, &self.options.limits)
    }

    /// The page's embedded images as image parts: JPEGs as they are stored, everything else
    /// decoded and encoded as PNG. Tiny, oversized, repeated and over-budget images are left out.
    fn images(&self, handles: Vec<PdfImageHandle<'_>>, location: &Location, out: &mut PageOut) {
        let number = location.page.unwrap_or_default();
        let max_pixels = self.options.limits.max_image_pixels;
        for handle in handles {
            if handle.width < MIN_IMAGE_SIDE || handle.height < MIN_IMAGE_SIDE {
                continue;
            }
            if u64::from(handle.width) * u64::from(handle.height) > max_pixels {
                out.warnings.push(format!(
                    "page {number}: an image of {}×{} pixels is beyond the limit and was skipped",
                    handle.width, handle.height
                ));
                continue;
            }
            if self.budget(|b| b.kept >= MAX_IMAGES || b.bytes >= MAX_IMAGE_BYTES) {
                self.budget(|b| b.skipped += 1);
                continue;
            }
            let raw = match catch(|| handle.raw_compressed_bytes()) {
                Ok(raw) => raw,
                Err(e) => {
                    out.warnings.push(format!("page {number}: an image could not be read ({e})"));
                    continue;
                }
            };
            let key = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (handle.width, handle.height, &raw).hash(&mut h);
                h.finish()
            };
            if !self.budget(|b| b.seen.insert(key)) {
                continue;
            }
            // A JPEG stream is a JPEG file; kept as stored unless its colours need the PDF to
            // mean anything — CMYK and spot colours, which browsers get wrong, or a `/Decode`
            // that inverts it (Adobe's CMYK JPEGs) — and then decoded to PNG. For a JPEG,
            // `decode` only reads the stream; the pixels are decoded by `to_dynamic_image`.
            let is_jpeg = matches!(handle.filter_chain.as_slice(), [PdfFilter::DCTDecode])
                && raw.starts_with(&[0xFF, 0xD8])
                && matches!(
                    handle.color_space,
                    ColorSpace::DeviceRGB
                        | ColorSpace::DeviceGray
                        | ColorSpace::CalRGB
                        | ColorSpace::CalGray
                        | ColorSpace::ICCBased(1 | 3)
                );
            let decoded = catch(|| handle.decode());
            let is_plain_jpeg = is_jpeg && decoded.as_ref().is_ok_and(|image| !image.jpeg_decode_inverted());
            let encoded = if is_plain_jpeg {
                Ok(("image/jpeg", raw))
            } else {
                drop(raw);
                decoded
                    .and_then(|image| catch(|| image.to_dynamic_image()))
                    .and_then(|image| fast_png(&image))
                    .map(|png| ("image/png", png))
            };
            match encoded {
                Ok((mime, bytes)) => {
                    self.budget(|b| {
                        b.kept += 1;
                        b.bytes += bytes.len();
                    });
                    out.parts.push(Part::image(mime, bytes, location.clone()));
                }
                Err(e) => out.warnings.push(format!("page {number}: an image could not be decoded ({e})")),
            }
        }
    }

    fn budget<T>(&self, f: impl FnOnce(&mut ImageBudget) -> T) -> T {
        f(&mut self.images.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// PNG with fast compression: a scanned page is megapixels, and the library's default (adaptive
/// filters, default level) took a quarter of a second for one 2550×3300 page.
fn fast_png(image: &image::DynamicImage) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Sub)
        .write_image(image.as_bytes(), image.width(), image.height(), image.color().into())
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Runs a parser call, turning a panic into an error like any other (one page's failure).
fn catch<T>(f: impl FnOnce() -> pdf_oxide::Result<T>) -> Result<T, String> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => Err(format!(
            "parser panic: {}",
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PartKind;

    #[test]
    fn a_scanned_page_is_read_by_ocr() {
        let Some(ocr) = crate::ocr::testing::tesseract_or_skip("a_scanned_page_is_read_by_ocr") else { return };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scan.pdf");
        let png = crate::ocr::testing::text_png("HELLO WORLD");
        pdf_oxide::api::Pdf::from_image_bytes(&png).unwrap().save(&path).unwrap();
        let options = Options { ocr: Some(ocr), ..Options::default() };
        let extraction = extract(&path, &options).unwrap();
        let text: Vec<_> = extraction.parts.iter().filter(|p| p.kind == PartKind::Text).collect();
        assert_eq!(text.len(), 1, "{:?}", extraction.parts);
        assert_eq!(text[0].method, Method::Ocr);
        assert_eq!(text[0].location.page, Some(1));
        assert!(text[0].text.contains("WORLD"), "{:?}", text[0].text);
    }
}
