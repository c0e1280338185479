//! Image files.

use docwright_extract::{Options, PartKind, extract};

use crate::fixtures;

#[test]
fn every_supported_format_is_one_image_part_with_the_original_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let picture = fixtures::picture(120, 90);
    for (format, mime) in [
        (image::ImageFormat::Png, "image/png"),
        (image::ImageFormat::Jpeg, "image/jpeg"),
        (image::ImageFormat::Tiff, "image/tiff"),
        (image::ImageFormat::Gif, "image/gif"),
        (image::ImageFormat::Bmp, "image/bmp"),
    ] {
        let bytes = fixtures::encode(&picture, format);
        let path = dir.path().join("picture");
        std::fs::write(&path, &bytes).unwrap();
        let extraction = extract(&path, mime, "picture", &Options::default()).unwrap();
        assert_eq!(extraction.parts.len(), 1, "{mime}");
        let part = &extraction.parts[0];
        assert_eq!(part.kind, PartKind::Image);
        assert_eq!(part.mime_type, mime);
        assert_eq!(part.data.as_deref(), Some(bytes.as_slice()), "{mime}");
    }
}

#[test]
fn a_header_claiming_a_huge_image_is_refused_without_decoding() {
    // A valid PNG header declaring 100,000 × 100,000 pixels, and almost no pixel data.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut png, b"IEND", &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.png");
    std::fs::write(&path, &png).unwrap();
    let err = extract(&path, "image/png", "bomb.png", &Options::default()).unwrap_err();
    assert_eq!(err.code(), "too_large", "{err}");
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    png.extend_from_slice(&body);
    png.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// CRC-32 (IEEE) of a PNG chunk's type and data.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
