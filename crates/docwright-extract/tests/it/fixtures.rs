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

/// Every form of marked content a page's text may sit in, one page each, the sentence of page
/// `i` being `MARKED_SENTENCES[i]`:
/// 1. `/PlacedPDF /MC0 BDC … EMC` on the page, `MC0` defined in the page's `/Properties`
///    (InDesign's placed PDFs);
/// 2. the same with a name that `/Properties` does not define;
/// 3. a Form XObject holding a named block whose name its own `/Properties` defines;
/// 4. a Form XObject holding a named block with an undefined name, itself drawn inside a named
///    block of the page;
/// 5. `/Span <</MCID 0>> BDC` (an inline property list);
/// 6. `/P BMC` (no properties at all);
/// 7. named blocks nested three deep, a text object opened inside one and closed outside it.
pub(crate) const MARKED_SENTENCES: [&str; 7] = [
    "Placed content with a defined name reads.",
    "Placed content with an undefined name reads.",
    "Form content with a defined name reads.",
    "Form content with an undefined name reads.",
    "Span content with an inline dictionary reads.",
    "Paragraph content without properties reads.",
    "Nested content across text objects reads.",
];

pub(crate) fn marked_content_pdf() -> Vec<u8> {
    let s = MARKED_SENTENCES;
    let shown = |text: &str| format!("BT /F1 14 Tf 72 700 Td ({text}) Tj ET");
    let contents = [
        format!("/PlacedPDF /MC0 BDC\n{}\nEMC\n", shown(s[0])),
        format!("/PlacedPDF /MC7 BDC\n{}\nEMC\n", shown(s[1])),
        "q 1 0 0 1 0 0 cm /Fm0 Do Q\n".to_owned(),
        "/PlacedPDF /MC0 BDC q /Fm1 Do Q EMC\n".to_owned(),
        format!("/Span <</MCID 0>> BDC\n{}\nEMC\n", shown(s[4])),
        format!("/P BMC\n{}\nEMC\n", shown(s[5])),
        "/Artifact /MC0 BDC /OC /MC0 BDC BT /F1 14 Tf 72 700 Td /X /MC9 BDC (Nested content ) Tj EMC EMC EMC \
         (across text objects reads.) Tj ET\n"
            .to_owned(),
    ];
    // Objects: 1 catalog, 2 pages, 3 font, 4 form 0, 5 form 1, then a page and its content per
    // sentence (6, 7), (8, 9), ...
    let first_page = 6;
    let kids: Vec<String> = (0..contents.len()).map(|i| format!("{} 0 R", first_page + 2 * i)).collect();
    let mut objects = vec![
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj(&format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), contents.len())),
        obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"),
        stream(
            "/Type /XObject /Subtype /Form /BBox [0 0 612 792] \
             /Resources << /Font << /F1 3 0 R >> /Properties << /MC3 << /Metadata (x) >> >> >>",
            format!("/PlacedPDF /MC3 BDC\n{}\nEMC\n", shown(s[2])).as_bytes(),
        ),
        stream(
            "/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>",
            format!("/PlacedPDF /MC5 BDC\n{}\nEMC\n", shown(s[3])).as_bytes(),
        ),
    ];
    for (i, content) in contents.iter().enumerate() {
        objects.push(obj(&format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R /Resources << \
             /Font << /F1 3 0 R >> /XObject << /Fm0 4 0 R /Fm1 5 0 R >> \
             /Properties << /MC0 << /Metadata (placed) >> >> >> >>",
            first_page + 2 * i + 1
        )));
        objects.push(stream("", content.as_bytes()));
    }
    pdf(&objects)
}

/// The heading of every [`type0_pdf`] page, in Helvetica.
pub(crate) const TYPE0_HEADING: &str = "Heading in Helvetica";
/// The line every [`type0_pdf`] page shows in its Type0 font.
pub(crate) const TYPE0_LINE: &str = "Quartz glyphs: jinxed wizards pluck ivory (2024)";

/// How the Type0 font of [`type0_pdf`] maps its codes to CIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type0Encoding {
    /// The predefined `/Identity-H` by name: two-byte codes, CID = code. The reference.
    IdentityName,
    /// An embedded CMap stream under a name of its own that maps two-byte codes to the same
    /// CIDs (what PDF writers that subset fonts emit, e.g. `OneByteIdentityH` variants).
    IdentityStream,
    /// An embedded CMap stream that reads one-byte codes and maps each to a CID of its own
    /// (here the glyph's index): code `c` is not CID `c`.
    OneByteStream,
}

/// A CMap program for a Type0 font's `/Encoding` stream.
fn cmap_program(name: &str, codespace: &str, body: &str) -> Vec<u8> {
    format!(
        "%!PS-Adobe-3.0 Resource-CMap\n/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> def\n\
         /CMapName /{name} def\n/CMapType 1 def\n1 begincodespacerange\n{codespace}\nendcodespacerange\n\
         {body}\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    )
    .into_bytes()
}

/// One page: [`TYPE0_HEADING`] in Helvetica, then [`TYPE0_LINE`] in a Type0 font whose
/// descendant is an embedded TrueType font (DejaVu Sans, which pdf_oxide ships) with
/// `/CIDToGIDMap /Identity` and no `/ToUnicode`: the text can only be read back through the
/// code → CID → glyph → Unicode chain, and a renderer draws the glyph the CID names, so a
/// wrong code → CID step shows in both.
pub(crate) fn type0_pdf(encoding: Type0Encoding) -> Vec<u8> {
    let font = pdf_oxide::fonts::bundled::DEJAVU_SANS;
    let face = ttf_parser::Face::parse(font, 0).unwrap();
    let glyphs: Vec<(char, u16)> = TYPE0_LINE
        .chars()
        .map(|c| (c, face.glyph_index(c).unwrap_or_else(|| panic!("no glyph for {c:?}")).0))
        .collect();
    let width = |gid: u16| {
        u32::from(face.glyph_hor_advance(ttf_parser::GlyphId(gid)).unwrap_or(0)) * 1000 / u32::from(face.units_per_em())
    };
    let mut used: Vec<u16> = glyphs.iter().map(|g| g.1).collect();
    used.sort_unstable();
    used.dedup();
    let widths: String = used.iter().map(|&g| format!("{g} [{}]", width(g))).collect::<Vec<_>>().join(" ");
    // The shown string, and the /Encoding entry with the stream it needs.
    let (shown, encoding_entry, cmap) = match encoding {
        Type0Encoding::IdentityName | Type0Encoding::IdentityStream => {
            let codes: String = glyphs.iter().map(|g| format!("{:04X}", g.1)).collect();
            if encoding == Type0Encoding::IdentityName {
                (codes, "/Identity-H".to_owned(), None)
            } else {
                let program = cmap_program(
                    "Docwright-Identity-H",
                    "<0000> <FFFF>",
                    "1 begincidrange\n<0000> <FFFF> 0\nendcidrange",
                );
                (codes, "9 0 R".to_owned(), Some(("Docwright-Identity-H", program)))
            }
        }
        Type0Encoding::OneByteStream => {
            // Code = the character's ASCII byte; CID = its glyph index.
            let mut pairs: Vec<(u8, u16)> = glyphs.iter().map(|&(c, g)| (c as u8, g)).collect();
            pairs.sort_unstable();
            pairs.dedup();
            let body: String = pairs.iter().map(|(c, g)| format!("<{c:02X}> {g}\n")).collect();
            let program = cmap_program(
                "Docwright-OneByte",
                "<00> <FF>",
                &format!("{} begincidchar\n{body}endcidchar", pairs.len()),
            );
            let codes: String = TYPE0_LINE.bytes().map(|b| format!("{b:02X}")).collect();
            (codes, "9 0 R".to_owned(), Some(("Docwright-OneByte", program)))
        }
    };
    let content = format!("BT /F1 18 Tf 72 720 Td ({TYPE0_HEADING}) Tj ET\nBT /F2 14 Tf 72 700 Td <{shown}> Tj ET\n");
    let mut objects = vec![
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
             /Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> >>"),
        stream("", content.as_bytes()),
        obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"),
        obj(&format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+DejaVuSans /Encoding {encoding_entry} \
             /DescendantFonts [7 0 R] >>"
        )),
        obj(&format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ABCDEF+DejaVuSans \
             /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
             /FontDescriptor 8 0 R /DW 600 /W [{widths}] /CIDToGIDMap /Identity >>"
        )),
        obj("<< /Type /FontDescriptor /FontName /ABCDEF+DejaVuSans /Flags 32 /FontBBox [-1021 -463 1793 1232] \
             /ItalicAngle 0 /Ascent 928 /Descent -236 /CapHeight 729 /StemV 80 /FontFile2 10 0 R >>"),
    ];
    match cmap {
        Some((name, program)) => objects.push(stream(
            &format!(
                "/Type /CMap /CMapName /{name} /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
            ),
            &program,
        )),
        None => objects.push(obj("null")),
    }
    objects.push(stream(&format!("/Length1 {}", font.len()), font));
    pdf(&objects)
}

/// A flat 64×64 CMYK JPEG of `cmyk` as Photoshop writes one: samples inverted (`255 - x`) under
/// an Adobe APP14 marker. `straight` stores the ink itself instead (the encoder inverts what
/// it is given, so it is given the complement).
fn cmyk_jpeg(cmyk: [u8; 4], straight: bool) -> Vec<u8> {
    let pixel = if straight { cmyk.map(|v| 255 - v) } else { cmyk };
    let data: Vec<u8> = std::iter::repeat_n(pixel, 64 * 64).flatten().collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 95).encode(&data, 64, 64, jpeg_encoder::ColorType::Cmyk).unwrap();
    out
}

/// The colours [`jpeg_colours_pdf`] paints, in the order its images are drawn, left to right.
/// Full magenta and yellow ink is (237, 28, 36) and full cyan and yellow (0, 166, 80) in sRGB
/// through a press profile (the values Adobe's applications show for them), not pure red and
/// green; an undone inversion would give their complements, dark or white.
pub(crate) const JPEG_COLOURS: [[u8; 3]; 4] = [[237, 28, 36], [0, 166, 80], [200, 200, 200], [155, 155, 155]];

/// One page with four 64×64 JPEGs drawn side by side at 100×100 pt from x = 50, 170, 290, 410:
/// 1. red (magenta and yellow ink) as an Adobe-inverted CMYK JPEG under `/Decode [1 0 1 0 1 0 1 0]` (how Adobe
///    applications embed what Photoshop writes);
/// 2. green (cyan and yellow ink) as a CMYK JPEG whose samples are the ink, no `/Decode`;
/// 3. a one-component JPEG of grey 200 under a `/DeviceCMYK` label (the JPEG's own components
///    decide);
/// 4. a one-component JPEG of grey 100 under `/DeviceGray` with `/Decode [1 0]`: grey 155.
pub(crate) fn jpeg_colours_pdf() -> Vec<u8> {
    let grey = |value: u8| {
        let image = image::GrayImage::from_pixel(64, 64, image::Luma([value]));
        let mut out = Vec::new();
        image::DynamicImage::ImageLuma8(image).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg).unwrap();
        out
    };
    let image = |space: &str, decode: &str, data: &[u8]| {
        stream(
            &format!(
                "/Type /XObject /Subtype /Image /Width 64 /Height 64 /ColorSpace {space} {decode} /BitsPerComponent 8 /Filter /DCTDecode"
            ),
            data,
        )
    };
    pdf(&[
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> \
             /XObject << /A 6 0 R /B 7 0 R /C 8 0 R /D 9 0 R >> >> /Contents 4 0 R >>"),
        stream(
            "",
            b"BT /F1 14 Tf 72 720 Td (Pictures in CMYK.) Tj ET\n\
              q 100 0 0 100 50 500 cm /A Do Q\nq 100 0 0 100 170 500 cm /B Do Q\n\
              q 100 0 0 100 290 500 cm /C Do Q\nq 100 0 0 100 410 500 cm /D Do Q\n",
        ),
        obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
        image("/DeviceCMYK", "/Decode [1 0 1 0 1 0 1 0]", &cmyk_jpeg([0, 255, 255, 0], false)),
        image("/DeviceCMYK", "", &cmyk_jpeg([255, 0, 255, 0], true)),
        image("/DeviceCMYK", "", &grey(200)),
        image("/DeviceGray", "/Decode [1 0]", &grey(100)),
    ])
}
