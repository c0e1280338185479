//! SPEC N3, side by side in one run: docwright-render against the Python libraries people would
//! otherwise use (XlsxWriter, openpyxl, the csv module, python-docx, reportlab, python-pptx).
//!
//! - a 100,000-row × 8-column typed table to XLSX and to CSV (target: under 1 s each);
//! - a 200-page report (headings, paragraphs, tables, 20 images) to DOCX and to PDF (target:
//!   under 2 s each), and the same report to PPTX.
//!
//! Every case runs in a child process of its own (this binary again, or Python), which prints
//! its time and its peak resident memory, so one case's memory is not another's. The Python
//! side runs from the virtual environment `scripts/bench-python` makes under
//! `${CARGO_TARGET_DIR:-target}/bench-python`; without it the comparison says so and only
//! docwright's figures print. `cargo bench -p docwright-render`; `DOCWRIGHT_BENCH_KEEP=<dir>`
//! keeps docwright's files.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)] // A benchmark prints and fails loudly.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use docwright_render::model::{
    Cell, Column, DataType, Decimal, Document, Element, Image, List, ListItem, Section, Table,
};
use docwright_render::{Format, Options, render};
use time::{Date, Month, PrimitiveDateTime, Time};

const ROWS: usize = 100_000;
/// Findings of the report: about a page each (201 pages in docwright's PDF).
const PAGES: usize = 212;
const IMAGES: usize = 20;
/// Each case runs this many times; the best time and the highest peak are reported.
const RUNS: usize = 3;

struct Case {
    name: &'static str,
    format: Format,
    target_ms: f64,
    /// The Python library and the case name its script knows.
    python: &'static [(&'static str, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        name: "table 100k×8 → XLSX",
        format: Format::Xlsx,
        target_ms: 1000.0,
        python: &[("XlsxWriter", "xlsx_xlsxwriter"), ("openpyxl", "xlsx_openpyxl")],
    },
    Case { name: "table 100k×8 → CSV", format: Format::Csv, target_ms: 1000.0, python: &[("csv module", "csv")] },
    Case {
        name: "report 200 pp → DOCX", format: Format::Docx, target_ms: 2000.0, python: &[("python-docx", "docx")]
    },
    Case { name: "report 200 pp → PDF", format: Format::Pdf, target_ms: 2000.0, python: &[("reportlab", "pdf")] },
    Case {
        name: "report 200 pp → PPTX",
        format: Format::Pptx,
        target_ms: f64::NAN,
        python: &[("python-pptx", "pptx")],
    },
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let format = Format::from_extension(&args[i + 1]).expect("a format");
        let images = PathBuf::from(&args[i + 2]);
        child(format, &images);
        return;
    }
    let work = tempfile::tempdir().expect("a temporary directory");
    for (i, png) in images().iter().enumerate() {
        std::fs::write(work.path().join(format!("image{i}.png")), png).expect("image written");
    }
    let script = work.path().join("bench_render.py");
    std::fs::write(&script, PYTHON).expect("script written");
    let python = python();
    if python.is_none() {
        println!("note: no Python venv with the libraries; run scripts/bench-python for the comparison");
    }

    println!("SPEC N3 — rendering, best of {RUNS} runs, each in a process of its own");
    println!(
        "{:<24} {:>10} {:>9} {:>8}   {:<12} {:>10} {:>9} {:>8}",
        "case", "docwright", "peak", "target", "python", "time", "peak", "ratio"
    );
    for case in CASES {
        let ours = best(|| run_child(case.format, work.path()))
            .unwrap_or_else(|e| panic!("docwright's case {} failed: {e}", case.name));
        let target = if case.target_ms.is_nan() {
            "—".to_owned()
        } else if ours.ms < case.target_ms {
            "met".to_owned()
        } else {
            "MISSED".to_owned()
        };
        let mut first = true;
        for (library, name) in case.python {
            let theirs = python.as_ref().map(|py| best(|| run_python(py, &script, name, work.path())));
            let (time, peak, ratio) = match &theirs {
                Some(Ok(t)) => {
                    (format!("{:.0} ms", t.ms), format!("{:.0} MB", t.mb()), format!("{:.1}×", t.ms / ours.ms))
                }
                Some(Err(e)) => (format!("failed: {e}"), String::new(), String::new()),
                None => ("skipped".to_owned(), String::new(), String::new()),
            };
            let (left, mid, right) = if first {
                (case.name.to_owned(), format!("{:.0} ms", ours.ms), format!("{:.0} MB", ours.mb()))
            } else {
                (String::new(), String::new(), String::new())
            };
            let tgt = if first { target.clone() } else { String::new() };
            println!("{left:<24} {mid:>10} {right:>9} {tgt:>8}   {library:<12} {time:>10} {peak:>9} {ratio:>8}");
            first = false;
        }
    }
    println!("ratio = Python's time / docwright's time (higher is better for docwright)");
}

#[derive(Clone, Copy)]
struct Figure {
    ms: f64,
    peak_kb: u64,
}

impl Figure {
    fn mb(&self) -> f64 {
        self.peak_kb as f64 / 1024.0
    }
}

/// The best time and the highest peak of [`RUNS`] runs, or the first failure.
fn best(mut run: impl FnMut() -> Result<Figure, String>) -> Result<Figure, String> {
    let mut out: Option<Figure> = None;
    for _ in 0..RUNS {
        let f = run()?;
        out = Some(match out {
            Some(o) => Figure { ms: o.ms.min(f.ms), peak_kb: o.peak_kb.max(f.peak_kb) },
            None => f,
        });
    }
    out.ok_or_else(|| "no run".to_owned())
}

/// Parses a child's `<ms> <peak kB>` line.
fn figure(output: std::process::Output) -> Result<Figure, String> {
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(err.lines().last().unwrap_or("failed").to_owned());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or_default();
    let mut words = line.split_whitespace();
    let ms = words.next().and_then(|w| w.parse().ok()).ok_or_else(|| format!("unexpected output {line:?}"))?;
    let peak_kb = words.next().and_then(|w| w.parse().ok()).ok_or_else(|| format!("unexpected output {line:?}"))?;
    Ok(Figure { ms, peak_kb })
}

fn run_child(format: Format, images: &Path) -> Result<Figure, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output =
        Command::new(exe).args(["--child", format.extension()]).arg(images).output().map_err(|e| e.to_string())?;
    figure(output)
}

fn run_python(python: &Path, script: &Path, case: &str, images: &Path) -> Result<Figure, String> {
    let output = Command::new(python)
        .arg(script)
        .arg(case)
        .arg(images)
        .arg(ROWS.to_string())
        .arg(PAGES.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    figure(output)
}

/// The venv's Python, if `scripts/bench-python` made it with the rendering libraries.
fn python() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target").canonicalize().unwrap_or_default()
    });
    let python = target.join("bench-python/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import xlsxwriter, openpyxl, docx, pptx, reportlab"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

/// One case in this process: build the model, render it, write the file, print time and peak.
fn child(format: Format, images: &Path) {
    let document = match format {
        Format::Xlsx | Format::Csv => table_document(),
        _ => report(images),
    };
    let temp = tempfile::tempdir().expect("a temporary directory");
    // DOCWRIGHT_BENCH_KEEP=<dir> keeps the files, to look at them (page counts, say).
    let out = std::env::var_os("DOCWRIGHT_BENCH_KEEP").map_or_else(|| temp.path().to_owned(), PathBuf::from);
    let start = Instant::now();
    let files = render(&document, format, &Options::default()).expect("rendered");
    for file in &files {
        std::fs::write(out.join(&file.filename), &file.bytes).expect("written");
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let peak_kb = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map(|u| u.max_rss() as u64)
        .unwrap_or(0);
    println!("{ms:.1} {peak_kb}");
}

/// 100,000 rows of eight typed columns: the receipts use case at scale.
fn table_document() -> Document {
    let columns = vec![
        Column::new("id", DataType::Integer),
        Column::new("vendor", DataType::String),
        Column::new("amount", DataType::Currency),
        Column::new("vat", DataType::Percent),
        Column::new("quantity", DataType::Number),
        Column::new("date", DataType::Date),
        Column::new("booked_at", DataType::Datetime),
        Column::new("paid", DataType::Boolean),
    ];
    let start = Date::from_calendar_date(2024, Month::January, 1).expect("a date");
    let rows = (0..ROWS)
        .map(|i| {
            let date = start + time::Duration::days((i % 365) as i64);
            let at = PrimitiveDateTime::new(date, Time::from_hms((i % 24) as u8, (i % 60) as u8, 0).expect("a time"));
            vec![
                Cell::Number(Decimal::from_i64(i as i64 + 1)),
                Cell::Text(format!("Vendor {} GmbH", i % 977)),
                Cell::Number(Decimal::parse(&format!("{}.{:02}", i % 5000, i % 100)).expect("a decimal")),
                Cell::Number(Decimal::parse(if i % 2 == 0 { "19" } else { "7.7" }).expect("a decimal")),
                Cell::Number(Decimal::parse(&format!("{}.5", i % 40)).expect("a decimal")),
                Cell::Date(date),
                Cell::DateTime(at),
                Cell::Bool(i % 3 == 0),
            ]
        })
        .collect();
    let table = Table { caption: Some("Receipts".into()), columns, rows };
    Document {
        title: Some("Receipts".into()),
        filename: Some("receipts.xlsx".into()),
        sections: vec![Section { elements: vec![Element::Table(table)], ..Section::default() }],
        ..Document::default()
    }
}

const WORDS: &[&str] = &[
    "the",
    "quarterly",
    "expenses",
    "of",
    "our",
    "teams",
    "grew",
    "while",
    "travel",
    "costs",
    "fell",
    "after",
    "the",
    "new",
    "policy",
    "and",
    "several",
    "suppliers",
    "renegotiated",
    "their",
    "contracts",
    "for",
    "next",
    "year",
];

fn sentence(seed: usize, words: usize) -> String {
    let mut text: String = (0..words).map(|i| WORDS[(seed * 7 + i * 3) % WORDS.len()]).collect::<Vec<_>>().join(" ");
    text.push('.');
    text
}

/// A 200-page report: per finding a heading, four paragraphs of 100 words, a short list and a
/// 12-row table; an image on every tenth of the first 200 findings.
fn report(images: &Path) -> Document {
    let pngs: Vec<Vec<u8>> =
        (0..IMAGES).map(|i| std::fs::read(images.join(format!("image{i}.png"))).expect("an image")).collect();
    let mut sections = Vec::with_capacity(PAGES);
    for page in 0..PAGES {
        let mut elements = vec![Element::heading(2, format!("Finding {}", page + 1))];
        for p in 0..4 {
            elements.push(Element::paragraph(sentence(page * 4 + p, 100)));
        }
        elements.push(Element::List(List {
            ordered: page % 2 == 0,
            items: (0..3).map(|i| ListItem::new(sentence(page + i, 8))).collect(),
        }));
        let columns = vec![
            Column::new("Item", DataType::String),
            Column::new("Amount", DataType::Currency),
            Column::new("Share", DataType::Percent),
        ];
        let rows = (0..12)
            .map(|r| {
                vec![
                    Cell::Text(format!("Cost centre {}", r + 1)),
                    Cell::Number(
                        Decimal::parse(&format!("{}.{:02}", (page * 31 + r * 17) % 9000, r * 7 % 100))
                            .expect("a decimal"),
                    ),
                    Cell::Number(Decimal::parse(&format!("{}.5", r * 3 % 50)).expect("a decimal")),
                ]
            })
            .collect();
        elements.push(Element::Table(Table { caption: Some(format!("Costs, finding {}", page + 1)), columns, rows }));
        if page % 10 == 0 && page / 10 < IMAGES {
            elements.push(Element::Image(Image {
                bytes: pngs[page / 10].clone(),
                mime_type: Some("image/png".into()),
                alt_text: Some(format!("Chart {}", page + 1)),
                caption: Some(format!("Figure {}", page / 10 + 1)),
            }));
        }
        sections.push(Section { id: Some(format!("s{page}")), title: None, elements });
    }
    sections[0].title = Some("Annual expenses report".into());
    Document {
        title: Some("Annual expenses report".into()),
        language: Some("en".into()),
        filename: Some("report".into()),
        sections,
        ..Document::default()
    }
}

/// Twenty 800×600 charts made in code (a gradient with bands, PNG).
fn images() -> Vec<Vec<u8>> {
    (0..IMAGES)
        .map(|i| {
            let img = image::RgbImage::from_fn(800, 600, |x, y| {
                let band = ((y + i as u32 * 13) / 75).is_multiple_of(2);
                image::Rgb([(x * 255 / 800) as u8, if band { 90 } else { 200 }, (y * 255 / 600) as u8])
            });
            let mut out = Vec::new();
            img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).expect("a PNG");
            out
        })
        .collect()
}

/// The Python side: the same documents with the libraries people use, timed the same way
/// (building the data is outside the time, writing the file inside).
const PYTHON: &str = r###"
import csv, datetime, os, resource, sys, tempfile, time

case, images, rows, pages = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
IMAGES = 20
WORDS = ["the", "quarterly", "expenses", "of", "our", "teams", "grew", "while", "travel", "costs", "fell", "after",
         "the", "new", "policy", "and", "several", "suppliers", "renegotiated", "their", "contracts", "for", "next", "year"]

def sentence(seed, n):
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(n)) + "."

def table():
    start = datetime.date(2024, 1, 1)
    out = []
    for i in range(rows):
        d = start + datetime.timedelta(days=i % 365)
        at = datetime.datetime(d.year, d.month, d.day, i % 24, i % 60)
        out.append([i + 1, "Vendor %d GmbH" % (i % 977), float("%d.%02d" % (i % 5000, i % 100)),
                    (19 if i % 2 == 0 else 7.7) / 100, float("%d.5" % (i % 40)), d, at, i % 3 == 0])
    return out

HEADER = ["id", "vendor", "amount", "vat", "quantity", "date", "booked_at", "paid"]
out_dir = tempfile.mkdtemp()

def finding(page):
    paragraphs = [sentence(page * 4 + p, 100) for p in range(4)]
    items = [sentence(page + i, 8) for i in range(3)]
    cells = [["Cost centre %d" % (r + 1), "%d.%02d" % ((page * 31 + r * 17) % 9000, r * 7 % 100), "%d.5%%" % (r * 3 % 50)] for r in range(12)]
    image = os.path.join(images, "image%d.png" % (page // 10)) if page % 10 == 0 and page // 10 < IMAGES else None
    return paragraphs, items, cells, image

data = table() if case in ("xlsx_xlsxwriter", "xlsx_openpyxl", "csv") else [finding(p) for p in range(pages)]
start = time.perf_counter()
if case == "xlsx_xlsxwriter":
    import xlsxwriter
    wb = xlsxwriter.Workbook(os.path.join(out_dir, "t.xlsx"), {"constant_memory": True})
    ws = wb.add_worksheet("Receipts")
    bold = wb.add_format({"bold": True}); money = wb.add_format({"num_format": "#,##0.00"})
    pct = wb.add_format({"num_format": "0.0%"}); day = wb.add_format({"num_format": "yyyy-mm-dd"})
    stamp = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    ws.write_row(0, 0, HEADER, bold); ws.freeze_panes(1, 0); ws.autofilter(0, 0, rows, 7)
    for r, row in enumerate(data, start=1):
        ws.write_number(r, 0, row[0]); ws.write_string(r, 1, row[1]); ws.write_number(r, 2, row[2], money)
        ws.write_number(r, 3, row[3], pct); ws.write_number(r, 4, row[4]); ws.write_datetime(r, 5, row[5], day)
        ws.write_datetime(r, 6, row[6], stamp); ws.write_boolean(r, 7, row[7])
    wb.close()
elif case == "xlsx_openpyxl":
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    wb = Workbook(write_only=True); ws = wb.create_sheet("Receipts"); ws.freeze_panes = "A2"
    head = []
    for h in HEADER:
        c = WriteOnlyCell(ws, value=h); c.font = Font(bold=True); head.append(c)
    ws.append(head)
    for row in data:
        cells = [WriteOnlyCell(ws, value=v) for v in row]
        cells[2].number_format = "#,##0.00"; cells[3].number_format = "0.0%"
        cells[5].number_format = "yyyy-mm-dd"; cells[6].number_format = "yyyy-mm-dd hh:mm"
        ws.append(cells)
    wb.save(os.path.join(out_dir, "t.xlsx"))
elif case == "csv":
    with open(os.path.join(out_dir, "t.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f); w.writerow(HEADER)
        for row in data:
            w.writerow([row[0], row[1], "%.2f" % row[2], "%g%%" % (row[3] * 100), row[4], row[5].isoformat(),
                        row[6].isoformat(), "true" if row[7] else "false"])
elif case == "docx":
    import docx
    from docx.shared import Inches
    doc = docx.Document(); doc.core_properties.title = "Annual expenses report"
    doc.add_heading("Annual expenses report", 1)
    for page, (paragraphs, items, cells, image) in enumerate(data):
        doc.add_heading("Finding %d" % (page + 1), 2)
        for p in paragraphs: doc.add_paragraph(p)
        for i in items: doc.add_paragraph(i, style="List Number" if page % 2 == 0 else "List Bullet")
        t = doc.add_table(rows=1, cols=3); t.style = "Table Grid"
        for c, h in zip(t.rows[0].cells, ["Item", "Amount", "Share"]): c.text = h
        for row in cells:
            rc = t.add_row().cells
            for c, v in zip(rc, row): c.text = v
        doc.add_paragraph("Costs, finding %d" % (page + 1), style="Caption")
        if image:
            doc.add_picture(image, width=Inches(6)); doc.add_paragraph("Figure", style="Caption")
    doc.save(os.path.join(out_dir, "r.docx"))
elif case == "pdf":
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Table, TableStyle
    styles = getSampleStyleSheet(); story = [Paragraph("Annual expenses report", styles["Heading1"])]
    for page, (paragraphs, items, cells, image) in enumerate(data):
        story.append(Paragraph("Finding %d" % (page + 1), styles["Heading2"]))
        story += [Paragraph(p, styles["BodyText"]) for p in paragraphs]
        story.append(ListFlowable([ListItem(Paragraph(i, styles["BodyText"])) for i in items],
                                  bulletType="1" if page % 2 == 0 else "bullet"))
        t = Table([["Item", "Amount", "Share"]] + cells, repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey), ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold")]))
        story.append(t); story.append(Paragraph("Costs, finding %d" % (page + 1), styles["Italic"]))
        if image:
            story.append(Image(image, width=16 * cm, height=12 * cm)); story.append(Paragraph("Figure", styles["Italic"]))
    def number(canvas, doc):
        canvas.drawRightString(A4[0] - 2 * cm, 1.5 * cm, str(doc.page))
    SimpleDocTemplate(os.path.join(out_dir, "r.pdf"), pagesize=A4, title="Annual expenses report").build(
        story, onFirstPage=number, onLaterPages=number)
elif case == "pptx":
    from pptx import Presentation
    from pptx.util import Inches
    prs = Presentation(); s = prs.slides.add_slide(prs.slide_layouts[0]); s.shapes.title.text = "Annual expenses report"
    for page, (paragraphs, items, cells, image) in enumerate(data):
        s = prs.slides.add_slide(prs.slide_layouts[1]); s.shapes.title.text = "Finding %d" % (page + 1)
        body = s.placeholders[1].text_frame; body.text = paragraphs[0]
        for p in paragraphs[1:] + items: body.add_paragraph().text = p
        s = prs.slides.add_slide(prs.slide_layouts[5]); s.shapes.title.text = "Costs, finding %d" % (page + 1)
        t = s.shapes.add_table(13, 3, Inches(0.5), Inches(1.5), Inches(9), Inches(5)).table
        for c, h in enumerate(["Item", "Amount", "Share"]): t.cell(0, c).text = h
        for r, row in enumerate(cells, start=1):
            for c, v in enumerate(row): t.cell(r, c).text = v
        if image:
            s = prs.slides.add_slide(prs.slide_layouts[5]); s.shapes.title.text = "Figure"
            s.shapes.add_picture(image, Inches(1), Inches(1.5), width=Inches(8))
    prs.save(os.path.join(out_dir, "r.pptx"))
else:
    sys.exit("unknown case " + case)
ms = (time.perf_counter() - start) * 1000
print("%.1f %d" % (ms, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"###;
