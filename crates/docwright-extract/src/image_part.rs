//! Image files (PNG, JPEG, TIFF, GIF, BMP, WebP): one image part with the original bytes and,
//! when OCR is on, the recognised text.
//!
//! Only the header is decoded here, to learn the dimensions and refuse images beyond
//! [`Limits::max_image_pixels`](crate::Limits) before anything allocates pixels. Tesseract
//! reads the file itself (a multi-page TIFF: its first page is enough, so the first page is
//! written out as a PNG for it).

use std::io::{BufReader, Cursor};
use std::path::Path;

use image::ImageReader;

use crate::{ExtractError, Extraction, Limits, Location, Method, Options, Part};

/// Bytes a decoder may allocate for one image beyond its pixels (tables, palettes, rows).
const DECODER_SLACK: u64 = 64 << 20;

/// `image` crate limits for an image of at most `max_pixels` pixels: dimensions and a memory
/// cap of four bytes per pixel plus slack, so a hostile header cannot make the decoder allocate
/// more than the pixel bound allows.
pub(crate) fn decode_limits(max_pixels: u64) -> image::Limits {
    let mut limits = image::Limits::default();
    let side = u32::try_from(max_pixels.min(u64::from(u32::MAX))).unwrap_or(u32::MAX);
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(DECODER_SLACK));
    limits
}

/// Width and height of the encoded image in `bytes`, refusing images beyond `max_pixels`.
pub(crate) fn dimensions(bytes: &[u8], max_pixels: u64) -> Result<(u32, u32), ExtractError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ExtractError::Malformed(format!("cannot read the image: {e}")))?;
    if reader.format().is_none() {
        return Err(ExtractError::Malformed("not an image format this server reads".to_owned()));
    }
    let (width, height) =
        reader.into_dimensions().map_err(|e| decode_error(e, max_pixels, "cannot read the image header"))?;
    check_pixels(width, height, max_pixels)?;
    Ok((width, height))
}

pub(crate) fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), ExtractError> {
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ExtractError::TooLarge { what: "image pixels", limit: max_pixels });
    }
    Ok(())
}

/// Decodes the image file at `path` (the first frame or page) within the pixel bound.
pub(crate) fn decode_file(path: &Path, max_pixels: u64) -> Result<image::DynamicImage, ExtractError> {
    let open = || -> Result<ImageReader<BufReader<std::fs::File>>, ExtractError> {
        let mut reader = ImageReader::new(BufReader::new(std::fs::File::open(path)?))
            .with_guessed_format()
            .map_err(|e| ExtractError::Malformed(format!("cannot read the image: {e}")))?;
        reader.limits(decode_limits(max_pixels));
        Ok(reader)
    };
    // The header first: width × height is checked before the decoder allocates anything.
    let (width, height) =
        open()?.into_dimensions().map_err(|e| decode_error(e, max_pixels, "cannot read the image header"))?;
    check_pixels(width, height, max_pixels)?;
    open()?.decode().map_err(|e| decode_error(e, max_pixels, "cannot decode the image"))
}

fn decode_error(e: image::ImageError, max_pixels: u64, what: &str) -> ExtractError {
    match e {
        image::ImageError::Limits(_) => ExtractError::TooLarge { what: "image pixels", limit: max_pixels },
        other => ExtractError::Malformed(format!("{what}: {other}")),
    }
}

pub(crate) fn extract(path: &Path, mime: &str, options: &Options) -> Result<Extraction, ExtractError> {
    let limits = &options.limits;
    let bytes = std::fs::read(path)?;
    dimensions(&bytes, limits.max_image_pixels)?;
    let mut image = Part::image(mime, bytes, Location::default());
    let mut extraction = Extraction::default();
    match options.ocr.as_ref().map(|ocr| recognize(ocr, path, mime, limits)) {
        Some(Ok(read)) => {
            extraction.warnings.extend(read.warning);
            let text = read.text;
            image.text.clone_from(&text);
            image.method = Method::Ocr;
            extraction.parts.push(image);
            let mut part = Part::text("ocr_text", text, Location::default());
            part.method = Method::Ocr;
            extraction.parts.push(part);
        }
        // The file's bounds end the extraction, as for every other format.
        Some(Err(e @ (ExtractError::TimedOut | ExtractError::TooLarge { .. }))) => return Err(e),
        // A picture that OCR cannot read is still a picture: kept, with the reason.
        Some(Err(e)) => {
            extraction.warnings.push(format!("OCR failed: {e}"));
            extraction.parts.push(image);
        }
        None => extraction.parts.push(image),
    }
    Ok(extraction)
}

/// OCR of an image file. Tesseract reads PNG, JPEG, TIFF, GIF, BMP and WebP itself; a TIFF may
/// have many pages, of which only the first is wanted, so it is converted to one PNG first.
fn recognize(
    ocr: &crate::Ocr,
    path: &Path,
    mime: &str,
    limits: &Limits,
) -> Result<crate::ocr::Recognized, ExtractError> {
    let is_tiff = mime.eq_ignore_ascii_case("image/tiff") || {
        let mut head = [0u8; 4];
        std::io::Read::read_exact(&mut std::fs::File::open(path)?, &mut head).is_ok()
            && (head == *b"II*\0" || head == *b"MM\0*")
    };
    if is_tiff {
        let image = decode_file(path, limits.max_image_pixels)?;
        let mut png = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| ExtractError::Malformed(format!("cannot convert the TIFF page: {e}")))?;
        return ocr.recognize_png(&png, limits);
    }
    ocr.recognize_file(path, limits)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(image).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn an_image_is_one_part_with_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        let bytes = png(40, 30);
        std::fs::write(&path, &bytes).unwrap();
        let extraction = extract(&path, "image/png", &Options::default()).unwrap();
        assert_eq!(extraction.parts.len(), 1);
        assert_eq!(extraction.parts[0].kind, crate::PartKind::Image);
        assert_eq!(extraction.parts[0].data.as_deref(), Some(bytes.as_slice()));
        assert_eq!(extraction.parts[0].mime_type, "image/png");
    }

    #[test]
    fn an_image_that_ocr_cannot_read_is_kept_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        std::fs::write(&path, png(40, 30)).unwrap();
        let broken = crate::Ocr::new(dir.path().join("no-such-tesseract"), vec!["eng".into()], Duration::from_secs(5));
        let options = Options { ocr: Some(broken), ..Options::default() };
        let extraction = extract(&path, "image/png", &options).unwrap();
        assert_eq!(extraction.parts.len(), 1);
        assert_eq!(extraction.parts[0].kind, crate::PartKind::Image);
        assert!(extraction.warnings.iter().any(|w| w.starts_with("OCR failed")), "{:?}", extraction.warnings);
    }

    #[test]
    fn too_many_pixels_are_refused_from_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        std::fs::write(&path, png(200, 200)).unwrap();
        let mut options = Options::default();
        options.limits.max_image_pixels = 100 * 100;
        let err = extract(&path, "image/png", &options).unwrap_err();
        assert_eq!(err.code(), "too_large");
        let err = decode_file(&path, 100 * 100).unwrap_err();
        assert_eq!(err.code(), "too_large");
    }

    #[test]
    fn ocr_text_goes_into_the_image_and_a_text_part() {
        let Some(ocr) = crate::ocr::testing::tesseract_or_skip("ocr_text_goes_into_the_image_and_a_text_part") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let png = crate::ocr::testing::text_png("HELLO TOTAL");
        for (name, mime, bytes) in [
            ("a.png", "image/png", png.clone()),
            ("a.tiff", "image/tiff", {
                let image = image::load_from_memory(&png).unwrap();
                let mut out = Vec::new();
                image.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Tiff).unwrap();
                out
            }),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            let options = Options { ocr: Some(ocr.clone()), ..Options::default() };
            let extraction = extract(&path, mime, &options).unwrap();
            assert_eq!(extraction.parts.len(), 2);
            let (image, text) = (&extraction.parts[0], &extraction.parts[1]);
            assert_eq!(image.method, Method::Ocr);
            assert!(image.text.contains("TOTAL"), "{name}: {:?}", image.text);
            assert_eq!(text.label.as_deref(), Some("ocr_text"));
            assert_eq!(text.text, image.text);
        }
    }

    #[test]
    fn garbage_is_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        std::fs::write(&path, b"\x89PNG\r\n\x1a\nnot really").unwrap();
        assert_eq!(extract(&path, "image/png", &Options::default()).unwrap_err().code(), "malformed");
    }
}
