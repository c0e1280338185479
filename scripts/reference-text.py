#!/usr/bin/env python3
"""The text an independent extractor reads in a file: the yardstick of the corpus test's word
recall (crates/docwright-engine/tests/corpus.rs).

    scripts/reference-text.py KIND FILE

KIND names the reader: `pdf` (poppler's pdftotext), `pdf-ocr` (pdftoppm at 300 dpi, then
Tesseract), `docx` (python-docx: paragraphs, tables, headers and footers), `pptx` (python-pptx:
every shape's text, tables, notes), `xlsx` (openpyxl: every cell's value), `csv` (Python's csv
module), `html` (Python's html.parser without script and style), `eml` (Python's email
package: headers and text bodies), `image` (Tesseract). The text goes to standard output.
Exit 3: a tool this needs is missing (its name on standard error).
"""

import csv
import email
import email.policy
import html.parser
import io
import os
import shutil
import subprocess
import sys
import tempfile


def need(module):
    try:
        return __import__(module)
    except ImportError:
        print(f"missing Python package for {module}", file=sys.stderr)
        sys.exit(3)


def run(cmd):
    if shutil.which(cmd[0]) is None:
        print(f"missing program {cmd[0]}", file=sys.stderr)
        sys.exit(3)
    return subprocess.run(cmd, check=True, capture_output=True).stdout.decode("utf-8", "replace")


def pdf(path):
    return run(["pdftotext", "-q", path, "-"])


def tesseract(image):
    return run(["tesseract", image, "stdout", "-l", "eng", "--psm", "3"])


def pdf_ocr(path):
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        run(["pdftoppm", "-r", "300", "-png", path, os.path.join(tmp, "page")])
        for name in sorted(os.listdir(tmp)):
            out.append(tesseract(os.path.join(tmp, name)))
    return "\n".join(out)


def docx(path):
    docx = need("docx")
    doc = docx.Document(path)
    out = [p.text for p in doc.paragraphs]

    def tables(tables):
        for table in tables:
            for row in table.rows:
                for cell in row.cells:
                    out.extend(p.text for p in cell.paragraphs)
                    tables_in(cell)

    def tables_in(cell):
        tables(cell.tables)

    tables(doc.tables)
    for section in doc.sections:
        for part in (section.header, section.footer):
            out.extend(p.text for p in part.paragraphs)
    return "\n".join(out)


def pptx(path):
    pptx = need("pptx")
    prs = pptx.Presentation(path)
    out = []

    def shapes(items):
        for shape in items:
            if shape.has_text_frame:
                out.append(shape.text_frame.text)
            if getattr(shape, "has_table", False) and shape.has_table:
                for row in shape.table.rows:
                    out.extend(cell.text for cell in row.cells)
            if shape.shape_type == 6:  # a group
                shapes(shape.shapes)

    for slide in prs.slides:
        shapes(slide.shapes)
        if slide.has_notes_slide:
            out.append(slide.notes_slide.notes_text_frame.text)
    return "\n".join(out)


def xlsx(path):
    openpyxl = need("openpyxl")
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    out = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            out.append(" ".join("" if v is None else str(v) for v in row))
    return "\n".join(out)


def decoded(path):
    raw = open(path, "rb").read()
    for encoding in ("utf-8-sig", "utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def delimited(path):
    text = decoded(path)
    dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    return "\n".join(" ".join(row) for row in csv.reader(io.StringIO(text), dialect))


class Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "noscript", "template"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "noscript", "template") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_text(text):
    parser = Text()
    parser.feed(text)
    return " ".join(parser.out)


def html_file(path):
    return html_text(decoded(path))


def eml(path):
    msg = email.message_from_binary_file(open(path, "rb"), policy=email.policy.default)
    out = [str(msg.get(h, "")) for h in ("From", "To", "Cc", "Subject")]
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = body.get_content()
        out.append(html_text(content) if body.get_content_subtype() == "html" else content)
    return "\n".join(out)


READERS = {
    "pdf": pdf,
    "pdf-ocr": pdf_ocr,
    "docx": docx,
    "pptx": pptx,
    "xlsx": xlsx,
    "csv": delimited,
    "html": html_file,
    "eml": eml,
    "image": tesseract,
}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in READERS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.stdout.write(READERS[sys.argv[1]](sys.argv[2]))
