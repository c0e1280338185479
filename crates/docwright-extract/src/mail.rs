//! E-mail messages (RFC 5322 with MIME) through `mail-parser`.
//!
//! Parts: the `subject`; one `headers` part (From, To, Cc, Date, Subject); the body — the
//! text/plain alternative when there is one, else the HTML one read through [`crate::html`] —
//! decoded from its declared charset. Attachments, and inline parts that are not the body
//! (pictures, forwarded messages), are returned as [`Attachment`]s for the engine to store as
//! files of their own.

use std::path::Path;

use mail_parser::{Address, MessageParser, MimeHeaders, PartType};

use crate::guard::Collector;
use crate::{Attachment, ExtractError, Extraction, Location, Options, Part};

pub(crate) fn extract(path: &Path, options: &Options) -> Result<Extraction, ExtractError> {
    let bytes = crate::text::read(path, options)?;
    let message = MessageParser::default()
        .parse(&bytes)
        .ok_or_else(|| ExtractError::Malformed("not an e-mail message".to_owned()))?;
    let mut out = Collector::new(&options.limits);
    let subject = message.subject().map(str::trim).unwrap_or_default();
    out.push(Part::text("subject", subject, Location::default()))?;

    let mut headers = Vec::new();
    for (name, value) in [("From", message.from()), ("To", message.to()), ("Cc", message.cc())] {
        if let Some(list) = value.map(addresses).filter(|l| !l.is_empty()) {
            headers.push(format!("{name}: {list}"));
        }
    }
    if let Some(date) = message.date() {
        headers.push(format!("Date: {}", date.to_rfc3339()));
    }
    if !subject.is_empty() {
        headers.push(format!("Subject: {subject}"));
    }
    out.push(Part::text("headers", headers.join("\n"), Location::default()))?;

    // The body: every text/plain body part; failing those, the HTML ones.
    let plain: Vec<&str> = message
        .text_bodies()
        .filter_map(|part| match &part.body {
            PartType::Text(text) => Some(text.as_ref()),
            _ => None,
        })
        .collect();
    if !plain.is_empty() {
        for text in plain {
            options.limits.check_time()?;
            out.push(Part::text("body", text.trim(), Location::default()))?;
        }
    } else {
        for part in message.html_bodies() {
            options.limits.check_time()?;
            if let PartType::Html(html) = &part.body {
                let mut body = Collector::new(&options.limits);
                crate::html::to_parts(html, &options.limits, &mut body)?;
                for mut p in body.parts {
                    // The page's title is not the message's; its blocks are the body.
                    if p.label.as_deref() == Some("title") {
                        continue;
                    }
                    if p.label.as_deref() == Some("paragraph") {
                        p.label = Some("body".to_owned());
                    }
                    out.push(p)?;
                }
            }
        }
    }

    let mut attachments = Vec::new();
    for (i, part) in message.attachments().enumerate() {
        options.limits.check_time()?;
        let mime_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned())
            .to_ascii_lowercase();
        let file_name = part
            .attachment_name()
            .map(str::to_owned)
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("attachment-{}{}", i + 1, extension(&mime_type)));
        attachments.push(Attachment { file_name, mime_type, data: part.contents().to_vec(), data_file: None });
    }
    let mut extraction = out.into_extraction();
    extraction.attachments = attachments;
    Ok(extraction)
}

/// Addresses as `Name <address>`, comma-separated.
fn addresses(address: &Address<'_>) -> String {
    address
        .iter()
        .map(|a| match (a.name.as_deref(), a.address.as_deref()) {
            (Some(name), Some(addr)) => format!("{name} <{addr}>"),
            (Some(name), None) => name.to_owned(),
            (None, Some(addr)) => addr.to_owned(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A file extension for an unnamed attachment of a common type.
fn extension(mime: &str) -> &'static str {
    match mime {
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "image/gif" => ".gif",
        "application/pdf" => ".pdf",
        "text/plain" => ".txt",
        "text/html" => ".html",
        "message/rfc822" => ".eml",
        _ => "",
    }
}
