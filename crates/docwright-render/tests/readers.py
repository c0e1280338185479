"""Reads a file docwright rendered with the Python library people use for its format and
prints what it found as JSON: python-docx, openpyxl, python-pptx, pypdf. Used by tests/it/readers.rs."""
import json
import sys


def docx(path):
    import docx as python_docx
    d = python_docx.Document(path)
    text = [p.text for p in d.paragraphs]
    tables = []
    for t in d.tables:
        rows = [[c.text for c in r.cells] for r in t.rows]
        header = t.rows[0]._tr.trPr
        repeats = header is not None and header.find(
            "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}tblHeader") is not None
        tables.append({"rows": rows, "header_repeats": repeats})
        text.extend(c for r in rows for c in r)
    props = d.core_properties
    return {
        "text": "\n".join(text),
        "title": props.title,
        "creator": props.author,
        "language": props.language,
        "headings": [f"{p.style.name}:{p.text}" for p in d.paragraphs if p.style.name.startswith("Heading")],
        "tables": tables,
        "images": len(d.inline_shapes),
    }


def xlsx(path):
    import openpyxl
    wb = openpyxl.load_workbook(path)
    sheets, text = [], []
    for ws in wb.worksheets:
        rows = []
        for row in ws.iter_rows():
            cells = []
            for c in row:
                v = c.value
                cells.append("" if v is None else f"{type(v).__name__}:{v}")
                if v is not None:
                    text.append(str(v))
            rows.append(cells)
        second = list(ws.iter_rows(min_row=2, max_row=2))
        sheets.append({
            "name": ws.title,
            "freeze": ws.freeze_panes,
            "autofilter": ws.auto_filter.ref,
            "header_bold": bool(ws["A1"].font and ws["A1"].font.b),
            "formats": [c.number_format for c in second[0]] if second else [],
            "rows": rows,
        })
    return {"text": "\n".join(text), "title": wb.properties.title, "sheets": sheets}


def pptx(path):
    import pptx as python_pptx
    p = python_pptx.Presentation(path)
    text, notes, pictures, tables = [], [], 0, 0
    for slide in p.slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                text.append(shape.text_frame.text)
            if shape.shape_type == python_pptx.enum.shapes.MSO_SHAPE_TYPE.PICTURE:
                pictures += 1
            if shape.has_table:
                tables += 1
                for row in shape.table.rows:
                    text.extend(c.text for c in row.cells)
        if slide.has_notes_slide:
            notes.append(slide.notes_slide.notes_text_frame.text)
    return {
        "text": "\n".join(text),
        "title": p.core_properties.title,
        "slides": len(p.slides),
        "pictures": pictures,
        "tables": tables,
        "notes": "\n".join(notes),
    }


def pdf(path):
    import pypdf
    r = pypdf.PdfReader(path)
    text = "\n".join(page.extract_text() or "" for page in r.pages)

    def titles(items):
        for item in items:
            if isinstance(item, list):
                yield from titles(item)
            else:
                yield item.title

    embedded = True
    for page in r.pages:
        fonts = page.get("/Resources", {}).get("/Font", {})
        for font in fonts.values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            descriptor = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            if descriptor is None:
                continue
            descriptor = descriptor.get_object()
            if not any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                embedded = False
    meta = r.metadata or {}
    return {
        "text": text,
        "title": meta.get("/Title"),
        "author": meta.get("/Author"),
        "pages": len(r.pages),
        "outline": list(titles(r.outline)),
        "fonts_embedded": embedded,
    }


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    print(json.dumps({"docx": docx, "xlsx": xlsx, "pptx": pptx, "pdf": pdf}[kind](path), default=str))
