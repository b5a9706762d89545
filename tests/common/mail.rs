//! Parsing of received mail with mail-parser.

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::smtp::ReceivedMail;

/// The parts of a message tests usually assert on.
#[derive(Clone, Debug, Default)]
pub struct ParsedMail {
    /// Decoded Subject (RFC 2047 handled); empty if absent.
    pub subject: String,
    /// Message-ID without the angle brackets.
    pub message_id: Option<String>,
    /// First From address (e.g. `alerts@example.org`); empty if absent.
    pub from: String,
    /// Display name of the first From address.
    pub from_name: Option<String>,
    /// All To addresses.
    pub to: Vec<String>,
    /// All Cc addresses.
    pub cc: Vec<String>,
    /// Decoded text of the first real text/plain body part; empty if none
    /// (no conversion from HTML).
    pub text: String,
    /// Decoded text of the first text/html body part; empty if none.
    pub html: String,
    /// True if the message contains a multipart/alternative part (root or nested).
    pub is_multipart_alternative: bool,
    /// Root content type, e.g. `multipart/alternative` or `text/plain`.
    pub content_type: String,
    /// Top-level headers as (name, raw value without leading space), in order.
    pub headers: Vec<(String, String)>,
}

impl ParsedMail {
    /// First top-level header `name` (case-insensitive), raw (not decoded).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn parse(mail: &ReceivedMail) -> ParsedMail {
    parse_bytes(&mail.data)
}

/// Panics if mail-parser cannot parse `raw` at all.
pub fn parse_bytes(raw: &[u8]) -> ParsedMail {
    let msg = MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("unparseable mail:\n{}", String::from_utf8_lossy(raw)));

    let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| x.address().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
    };
    let first_from = msg.from().and_then(|a| a.first());

    let text = msg
        .text_body
        .iter()
        .filter_map(|&id| msg.parts.get(id as usize))
        .find_map(|p| match &p.body {
            PartType::Text(t) if !p.is_content_type("text", "html") => Some(t.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    let html = msg
        .html_body
        .iter()
        .filter_map(|&id| msg.parts.get(id as usize))
        .find_map(|p| match &p.body {
            PartType::Html(t) => Some(t.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    let is_multipart_alternative = msg
        .parts
        .iter()
        .any(|p| p.is_content_type("multipart", "alternative"));
    let content_type = msg
        .root_part()
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        })
        .unwrap_or_else(|| "text/plain".to_string());

    ParsedMail {
        subject: msg.subject().unwrap_or_default().to_string(),
        message_id: msg.message_id().map(str::to_string),
        from: first_from
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string(),
        from_name: first_from.and_then(|a| a.name()).map(str::to_string),
        to: addrs(msg.to()),
        cc: addrs(msg.cc()),
        text,
        html,
        is_multipart_alternative,
        content_type,
        headers: msg
            .headers_raw()
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect(),
    }
}
