//! Small PDFs and images written byte by byte, so that each test knows exactly what is inside.

use std::io::Cursor;

/// A PDF from its numbered objects (object `i + 1` is `objects[i]`, without `obj`/`endobj`),
/// with a correct cross-reference table; object 1 is the catalog.
pub(crate) fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

/// A stream object with `dict` entries (without `<<`/`>>` and `/Length`).
pub(crate) fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

fn obj(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// A content stream showing `lines` in Helvetica, top down.
fn text_content(lines: &[&str]) -> Vec<u8> {
    let mut content = String::from("BT /F1 14 Tf 72 720 Td 18 TL\n");
    for line in lines {
        content.push_str(&format!("({}) Tj T*\n", line.replace('(', "\\(").replace(')', "\\)")));
    }
    content.push_str("ET\n");
    stream("", content.as_bytes())
}

pub(crate) const PAGE_ONE: &str = "The quick brown fox jumps over the lazy dog.";
pub(crate) const PAGE_TWO: &str = "Pack my box with five dozen liquor jugs.";

/// Two pages of text, one sentence each.
pub(crate) fn text_pdf() -> Vec<u8> {
    pdf(&[
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj("<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >>"),
        obj(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 7 0 R >> >> /Contents 4 0 R >>",
        ),
        text_content(&[PAGE_ONE, "Second line of the first page."]),
        obj(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 7 0 R >> >> /Contents 6 0 R >>",
        ),
        text_content(&[PAGE_TWO]),
        obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"),
    ])
}

/// One page laid out like a paper: a title across the page, two columns of three lines each
/// (the right column painted first, so that only the geometry gives the order) and, below
/// them, a form row whose label and amount stand far apart.
pub(crate) fn two_column_pdf() -> Vec<u8> {
    let mut content = String::from(
        "BT /F1 16 Tf 1 0 0 1 72 740 Tm (A title that runs across both columns of this page) Tj\n/F1 10 Tf\n",
    );
    for (x, side) in [(330, "Right"), (72, "Left")] {
        for (i, nth) in ["first", "second", "third"].into_iter().enumerate() {
            let y = 700 - 12 * i;
            content.push_str(&format!("1 0 0 1 {x} {y} Tm ({side} column, {nth} line of its text.) Tj\n"));
        }
    }
    content.push_str("1 0 0 1 72 600 Tm (Total) Tj 1 0 0 1 200 600 Tm (123.45) Tj\nET\n");
    pdf(&[
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        obj(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        ),
        stream("", content.as_bytes()),
        obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"),
    ])
}

/// A page tree that declares `count` pages, all the same page object: cheap to write, and a
/// parser that trusted it would do `count` pages of work.
pub(crate) fn many_pages_pdf(count: usize) -> Vec<u8> {
    let kids = vec!["3 0 R"; count].join(" ");
    pdf(&[
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj(&format!("<< /Type /Pages /Kids [{kids}] /Count {count} >>")),
        obj(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        ),
        text_content(&["Same page again."]),
        obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
    ])
}

/// A gradient picture, so that encoders cannot reduce it to nothing.
pub(crate) fn picture(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 255 / width.max(1)) as u8, (y * 255 / height.max(1)) as u8, 128])
    })
}

pub(crate) fn encode(image: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image.clone()).write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

/// Two pages: page 1 has text, a raw RGB image of 64×48 and an 8×8 decoration; page 2 a JPEG
/// of 80×60 shown twice (kept once) and the raw image again (kept once in the file).
pub(crate) fn images_pdf() -> Vec<u8> {
    let raw = picture(64, 48).into_raw();
    let tiny = picture(8, 8).into_raw();
    let jpeg = encode(&picture(80, 60), image::ImageFormat::Jpeg);
    let page = |contents: u32| {
        obj(&format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> \
             /XObject << /Raw 6 0 R /Tiny 7 0 R /Jpeg 8 0 R >> >> /Contents {contents} 0 R >>"
        ))
    };
    pdf(&[
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj("<< /Type /Pages /Kids [3 0 R 9 0 R] /Count 2 >>"),
        page(4),
        stream(
            "",
            b"BT /F1 14 Tf 72 720 Td (A page with pictures.) Tj ET\nq 128 0 0 96 72 500 cm /Raw Do Q\nq 8 0 0 8 300 500 cm /Tiny Do Q\n",
        ),
        obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
        stream("/Type /XObject /Subtype /Image /Width 64 /Height 48 /ColorSpace /DeviceRGB /BitsPerComponent 8", &raw),
        stream("/Type /XObject /Subtype /Image /Width 8 /Height 8 /ColorSpace /DeviceRGB /BitsPerComponent 8", &tiny),
        stream(
            "/Type /XObject /Subtype /Image /Width 80 /Height 60 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode",
            &jpeg,
        ),
        page(10),
        stream(
            "",
            b"BT /F1 14 Tf 72 720 Td (Second page.) Tj ET\nq 160 0 0 120 72 500 cm /Jpeg Do Q\nq 160 0 0 120 72 300 cm /Jpeg Do Q\nq 128 0 0 96 300 500 cm /Raw Do Q\n",
        ),
    ])
}
