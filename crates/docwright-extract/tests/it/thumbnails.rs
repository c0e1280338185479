//! Thumbnails: always a PNG of exactly the asked size.

use std::path::Path;

use docwright_extract::{ThumbnailOptions, thumbnail};

use crate::fixtures;

fn size_of(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let image = image::load_from_memory(png).unwrap();
    (image.width(), image.height())
}

fn thumb(path: &Path, mime: &str, name: &str) -> Vec<u8> {
    thumbnail(path, mime, name, &ThumbnailOptions::default()).unwrap()
}

#[test]
fn a_pdf_gets_its_first_page() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.pdf");
    std::fs::write(&path, fixtures::text_pdf()).unwrap();
    let png = thumb(&path, "application/pdf", "a.pdf");
    assert_eq!(size_of(&png), (200, 280));
    // A rendered letter page: mostly white, with some dark text pixels.
    let image = image::load_from_memory(&png).unwrap().to_luma8();
    let dark = image.pixels().filter(|p| p.0[0] < 128).count();
    assert!(dark > 20, "text visible: {dark}");
}

#[test]
fn an_image_is_resized_into_the_box() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jpg");
    std::fs::write(&path, fixtures::encode(&fixtures::picture(1000, 500), image::ImageFormat::Jpeg)).unwrap();
    let png = thumb(&path, "image/jpeg", "a.jpg");
    assert_eq!(size_of(&png), (200, 280));
    // Landscape into portrait: white above and below the picture.
    let image = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(image.get_pixel(100, 5).0, [255, 255, 255]);
    assert_ne!(image.get_pixel(100, 140).0, [255, 255, 255]);
}

#[test]
fn a_docx_without_converter_gets_an_icon() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.docx");
    std::fs::write(&path, b"PK\x03\x04 not really a docx").unwrap();
    let png = thumb(&path, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.docx");
    assert_eq!(size_of(&png), (200, 280));
    // The DOCX band colour is there.
    let image = image::load_from_memory(&png).unwrap().to_rgb8();
    assert!(image.pixels().filter(|p| p.0 == [0x2B, 0x57, 0x9A]).count() > 1000);
}

#[test]
fn an_encrypted_pdf_gets_an_icon_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.pdf");
    std::fs::write(&plain, fixtures::text_pdf()).unwrap();
    let locked = dir.path().join("locked.pdf");
    pdf_oxide::api::Pdf::open(&plain).unwrap().save_encrypted(&locked, "secret", "owner").unwrap();
    let png = thumb(&locked, "application/pdf", "locked.pdf");
    assert_eq!(size_of(&png), (200, 280));
    let image = image::load_from_memory(&png).unwrap().to_rgb8();
    assert!(image.pixels().filter(|p| p.0 == [0xD3, 0x2F, 0x2F]).count() > 1000, "the PDF icon");
}

#[test]
fn other_sizes_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.csv");
    std::fs::write(&path, "a,b\n1,2\n").unwrap();
    let options = ThumbnailOptions { width: 64, height: 64, ..ThumbnailOptions::default() };
    let png = thumbnail(&path, "text/csv", "a.csv", &options).unwrap();
    assert_eq!(size_of(&png), (64, 64));
}

#[test]
fn type0_text_through_an_embedded_cmap_is_drawn_with_the_glyphs_it_names() {
    use fixtures::Type0Encoding::*;
    let dir = tempfile::tempdir().unwrap();
    let options = ThumbnailOptions { width: 612, height: 792, ..ThumbnailOptions::default() };
    let render = |encoding| {
        let path = dir.path().join(format!("{encoding:?}.pdf"));
        std::fs::write(&path, fixtures::type0_pdf(encoding)).unwrap();
        image::load_from_memory(&thumbnail(&path, "application/pdf", "a.pdf", &options).unwrap()).unwrap().to_luma8()
    };
    let reference = render(IdentityName);
    // The Type0 line (baseline 700 of 792, 14 pt) is drawn: ink in its band.
    let band = |img: &image::GrayImage| {
        (80..100).flat_map(|y| (0..612).map(move |x| (x, y))).filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128).count()
    };
    assert!(band(&reference) > 300, "the reference line has ink: {}", band(&reference));
    for encoding in [IdentityStream, OneByteStream] {
        let page = render(encoding);
        let differing = reference.pixels().zip(page.pixels()).filter(|(a, b)| a.0[0].abs_diff(b.0[0]) > 32).count();
        assert!(differing < 50, "{encoding:?}: {differing} pixels differ from the same glyphs through Identity-H");
    }
}
