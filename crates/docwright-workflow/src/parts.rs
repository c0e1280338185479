//! Content parts (SPEC W3, W2 5B) with the seed's id conventions and metadata.
//!
//! A document with several intents yields several parts, linked to each other:
//! - `reference` → `ref_{docId}`: the document named, not read (`docItem:{id}:{file_name}`);
//! - `render` → `obj_{docId}` (`type_group` `image` for images, else `binary`): the document
//!   placed as it is, e.g. an image on a slide; embedded images of a document that is rendered
//!   get `obj_{docId}_{partId}`;
//! - `extract` → the extracted parts: docwright's own parts keep the extractor's id (they are
//!   *pre-extracted*, used as they are), or become `ext_{docId}_{partId}` when `render` is also
//!   present, so the object and the extracted text of one document never share an id; text a
//!   vision model read from an image is `ext_{docId}_{partId}` with `extraction_method`
//!   `vision` and `original_image_id`.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::ports::{DocumentInfo, SourcePart, TypeGroup};

/// `content_format` (required on every part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentFormat {
    Reference,
    Object,
    Extracted,
}

impl ContentFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentFormat::Reference => "reference",
            ContentFormat::Object => "object",
            ContentFormat::Extracted => "extracted",
        }
    }
}

/// What a document is used for (5A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Intent {
    Extract,
    Render,
    Reference,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Extract => "extract",
            Intent::Render => "render",
            Intent::Reference => "reference",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "extract" => Intent::Extract,
            "render" => Intent::Render,
            "reference" => Intent::Reference,
            _ => return None,
        })
    }
}

/// A part's content.
#[derive(Debug, Clone, PartialEq)]
pub enum PartData {
    Text(String),
    Table(Vec<Vec<String>>),
    /// An object's bytes (an image to place).
    Bytes(Arc<[u8]>),
    /// `docItem:{id}:{file_name}`.
    Reference(String),
}

/// The metadata of a part (SPEC W3).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PartMeta {
    pub content_format: Option<ContentFormat>,
    pub document_id: String,
    pub document_reference: String,
    pub original_file_name: String,
    pub extraction_prompt: Option<String>,
    /// `text | vision | ocr | table`.
    pub extraction_method: Option<String>,
    pub intent: Option<Intent>,
    pub usage_hint: String,
    /// The object part of an extracted part, or the extracted part of an object.
    pub related_part_id: Option<String>,
    pub is_pre_extracted: bool,
    pub skip_extraction: bool,
    /// The action that extracted it (`unknown` when not known).
    pub source_action: Option<String>,
    pub page: Option<u32>,
    pub slide: Option<u32>,
    pub sheet: Option<String>,
    /// For text read from an image: the image part it came from.
    pub original_image_id: Option<String>,
}

/// A content part as the pipeline uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentPart {
    pub id: String,
    pub type_group: TypeGroup,
    pub mime_type: String,
    pub data: PartData,
    pub label: String,
    pub meta: PartMeta,
}

/// `docItem:{id}:{file_name}`.
pub fn document_reference(doc: &DocumentInfo) -> String {
    format!("docItem:{}:{}", doc.id, doc.file_name)
}

fn base_meta(doc: &DocumentInfo, format: ContentFormat, intent: Intent) -> PartMeta {
    PartMeta {
        content_format: Some(format),
        document_id: doc.id.clone(),
        document_reference: document_reference(doc),
        original_file_name: doc.file_name.clone(),
        intent: Some(intent),
        ..PartMeta::default()
    }
}

/// `ref_{docId}`: the document named as a reference.
pub fn reference(doc: &DocumentInfo) -> ContentPart {
    let mut meta = base_meta(doc, ContentFormat::Reference, Intent::Reference);
    meta.usage_hint = format!("Reference document: {}", doc.file_name);
    ContentPart {
        id: format!("ref_{}", doc.id),
        type_group: TypeGroup::Reference,
        mime_type: doc.mime_type.clone(),
        data: PartData::Reference(document_reference(doc)),
        label: doc.file_name.clone(),
        meta,
    }
}

/// `obj_{docId}` (or `obj_{docId}_{partId}` for an embedded image): something to place as it is.
pub fn object(doc: &DocumentInfo, embedded: Option<&str>, mime_type: &str, bytes: Arc<[u8]>) -> ContentPart {
    let mut meta = base_meta(doc, ContentFormat::Object, Intent::Render);
    meta.usage_hint = format!("Render as visual element: {}", doc.file_name);
    let type_group = if mime_type.starts_with("image/") { TypeGroup::Image } else { TypeGroup::Binary };
    ContentPart {
        id: match embedded {
            Some(part) => format!("obj_{}_{part}", doc.id),
            None => format!("obj_{}", doc.id),
        },
        type_group,
        mime_type: mime_type.to_owned(),
        data: PartData::Bytes(bytes),
        label: doc.file_name.clone(),
        meta,
    }
}

/// An extracted part made from one of docwright's own parts (pre-extracted: used as it is).
pub fn pre_extracted(
    doc: &DocumentInfo,
    source: &SourcePart,
    render_too: bool,
    extraction_prompt: Option<&str>,
    source_action: Option<&str>,
) -> ContentPart {
    let mut meta = base_meta(doc, ContentFormat::Extracted, Intent::Extract);
    meta.usage_hint = format!("Use extracted content from {}", doc.file_name);
    meta.extraction_prompt = extraction_prompt.map(str::to_owned);
    meta.extraction_method = Some(source.method.clone());
    meta.is_pre_extracted = true;
    meta.skip_extraction = true;
    meta.source_action = Some(source_action.unwrap_or("unknown").to_owned());
    meta.page = source.page;
    meta.slide = source.slide;
    meta.sheet = source.sheet.clone();
    let data = match &source.rows {
        Some(rows) if source.type_group == TypeGroup::Table => PartData::Table(rows.clone()),
        _ => PartData::Text(source.text.clone()),
    };
    ContentPart {
        id: if render_too { format!("ext_{}_{}", doc.id, source.id) } else { source.id.clone() },
        type_group: if matches!(data, PartData::Table(_)) { TypeGroup::Table } else { TypeGroup::Text },
        mime_type: "text/plain".to_owned(),
        data,
        label: source.label.clone().unwrap_or_else(|| doc.file_name.clone()),
        meta,
    }
}

/// Text a vision model read from image `image_id` of `doc`.
pub fn vision_extracted(
    doc: &DocumentInfo,
    image_id: &str,
    text: String,
    extraction_prompt: &str,
    source: Option<&SourcePart>,
) -> ContentPart {
    let mut meta = base_meta(doc, ContentFormat::Extracted, Intent::Extract);
    meta.usage_hint = format!("Use extracted content from {}", doc.file_name);
    meta.extraction_prompt = Some(extraction_prompt.to_owned());
    meta.extraction_method = Some("vision".to_owned());
    meta.original_image_id = Some(image_id.to_owned());
    meta.source_action = Some("ai.process".to_owned());
    if let Some(s) = source {
        meta.page = s.page;
        meta.slide = s.slide;
        meta.sheet = s.sheet.clone();
    }
    ContentPart {
        id: format!("ext_{}_{image_id}", doc.id),
        type_group: TypeGroup::Text,
        mime_type: "text/plain".to_owned(),
        data: PartData::Text(text),
        label: doc.file_name.clone(),
        meta,
    }
}

impl ContentPart {
    /// The model-readable text of the part (empty for objects).
    pub fn text(&self) -> String {
        match &self.data {
            PartData::Text(t) => t.clone(),
            PartData::Table(rows) => rows.iter().map(|r| r.join(" | ")).collect::<Vec<_>>().join("\n"),
            PartData::Bytes(_) => String::new(),
            PartData::Reference(r) => r.clone(),
        }
    }

    pub fn location(&self) -> Option<String> {
        match (self.meta.page, self.meta.slide, &self.meta.sheet) {
            (Some(p), _, _) => Some(format!("p. {p}")),
            (_, Some(s), _) => Some(format!("slide {s}")),
            (_, _, Some(s)) => Some(format!("sheet {s}")),
            _ => None,
        }
    }

    /// What a planning prompt is told about the part: its metadata and the start of its text.
    pub fn describe(&self, preview_chars: usize) -> Value {
        let text = self.text();
        let preview: String = text.chars().take(preview_chars).collect();
        json!({
            "id": self.id,
            "type_group": self.type_group.as_str(),
            "content_format": self.meta.content_format.map(ContentFormat::as_str),
            "document_id": self.meta.document_id,
            "file_name": self.meta.original_file_name,
            "label": self.label,
            "location": self.location(),
            "usage_hint": self.meta.usage_hint,
            "extraction_method": self.meta.extraction_method,
            "characters": text.chars().count(),
            "preview": preview,
        })
    }

    /// The part with its W3 metadata, for the debug trace (bytes as their size).
    pub fn to_json(&self) -> Value {
        let data = match &self.data {
            PartData::Text(t) => json!(t),
            PartData::Table(rows) => json!(rows),
            PartData::Bytes(b) => json!(format!("[{} bytes]", b.len())),
            PartData::Reference(r) => json!(r),
        };
        let m = &self.meta;
        json!({
            "id": self.id,
            "type_group": self.type_group.as_str(),
            "mime_type": self.mime_type,
            "label": self.label,
            "data": data,
            "metadata": {
                "content_format": m.content_format.map(ContentFormat::as_str),
                "document_id": m.document_id,
                "document_reference": m.document_reference,
                "original_file_name": m.original_file_name,
                "extraction_prompt": m.extraction_prompt,
                "extraction_method": m.extraction_method,
                "intent": m.intent.map(Intent::as_str),
                "usage_hint": m.usage_hint,
                "related_part_id": m.related_part_id,
                "is_pre_extracted": m.is_pre_extracted,
                "skip_extraction": m.skip_extraction,
                "source_action": m.source_action,
                "page": m.page,
                "slide": m.slide,
                "sheet": m.sheet,
                "original_image_id": m.original_image_id,
            },
        })
    }
}

/// Links an object part and the extracted parts of the same document both ways.
pub fn link(parts: &mut [ContentPart]) {
    let objects: Vec<(String, String)> = parts
        .iter()
        .filter(|p| p.meta.content_format == Some(ContentFormat::Object))
        .map(|p| (p.meta.document_id.clone(), p.id.clone()))
        .collect();
    let first_extracted: Vec<(String, String)> = parts
        .iter()
        .filter(|p| p.meta.content_format == Some(ContentFormat::Extracted))
        .map(|p| (p.meta.document_id.clone(), p.id.clone()))
        .collect();
    for p in parts.iter_mut() {
        match p.meta.content_format {
            Some(ContentFormat::Extracted) => {
                // Text read from an image belongs with that image's object; other text with the
                // document's first object.
                let own = p.meta.original_image_id.as_ref().map(|img| format!("obj_{}_{img}", p.meta.document_id));
                p.meta.related_part_id = objects
                    .iter()
                    .find(|(_, id)| Some(id) == own.as_ref())
                    .or_else(|| objects.iter().find(|(doc, _)| *doc == p.meta.document_id))
                    .map(|(_, id)| id.clone());
            }
            Some(ContentFormat::Object) => {
                p.meta.related_part_id =
                    first_extracted.iter().find(|(doc, _)| *doc == p.meta.document_id).map(|(_, id)| id.clone());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> DocumentInfo {
        DocumentInfo { id: "f1".into(), file_name: "a.png".into(), mime_type: "image/png".into(), file_size: 3 }
    }

    fn source(id: &str) -> SourcePart {
        SourcePart {
            id: id.into(),
            type_group: TypeGroup::Text,
            mime_type: "text/plain".into(),
            label: None,
            text: "hello".into(),
            rows: None,
            method: "ocr".into(),
            page: Some(2),
            slide: None,
            sheet: None,
        }
    }

    #[test]
    fn ids_follow_the_seed() {
        let d = doc();
        assert_eq!(reference(&d).id, "ref_f1");
        assert_eq!(reference(&d).data, PartData::Reference("docItem:f1:a.png".into()));
        assert_eq!(object(&d, None, "image/png", Arc::from(&b"x"[..])).id, "obj_f1");
        assert_eq!(object(&d, None, "image/png", Arc::from(&b"x"[..])).type_group, TypeGroup::Image);
        assert_eq!(object(&d, Some("p9"), "application/pdf", Arc::from(&b"x"[..])).type_group, TypeGroup::Binary);
        assert_eq!(pre_extracted(&d, &source("p1"), false, None, None).id, "p1");
        assert_eq!(pre_extracted(&d, &source("p1"), true, None, None).id, "ext_f1_p1");
        let pre = pre_extracted(&d, &source("p1"), false, None, None);
        assert!(pre.meta.is_pre_extracted && pre.meta.skip_extraction);
        assert_eq!(pre.meta.source_action.as_deref(), Some("unknown"));
        assert_eq!(pre.location().as_deref(), Some("p. 2"));
        let v = vision_extracted(&d, "p1", "t".into(), "read it", None);
        assert_eq!((v.id.as_str(), v.meta.extraction_method.as_deref()), ("ext_f1_p1", Some("vision")));
    }

    #[test]
    fn objects_and_extracted_parts_are_linked() {
        let d = doc();
        let mut parts = vec![
            object(&d, None, "image/png", Arc::from(&b"x"[..])),
            vision_extracted(&d, "img", "t".into(), "p", None),
            reference(&DocumentInfo { id: "f2".into(), ..doc() }),
        ];
        link(&mut parts);
        assert_eq!(parts[0].meta.related_part_id.as_deref(), Some("ext_f1_img"));
        assert_eq!(parts[1].meta.related_part_id.as_deref(), Some("obj_f1"));
        assert_eq!(parts[2].meta.related_part_id, None);
    }
}
