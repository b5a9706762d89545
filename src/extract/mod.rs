//! TEMPORARY STUB written by the lead so the crate compiles; the extractor owner replaces this file.
pub const EXTRACTOR_VERSION: u32 = 1;
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Article {
    pub title: String,
    pub published: Option<String>,
    pub body: String,
    pub profile: String,
}
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("no article text found")]
    Empty,
    #[error("invalid CSS selector {0:?}: {1}")]
    BadSelector(String, String),
}
pub fn extract(
    _html: &str,
    _url: &url::Url,
    _body_selector: Option<&str>,
) -> Result<Article, ExtractError> {
    Err(ExtractError::Empty)
}
pub fn decode_html(bytes: &[u8], _content_type: Option<&str>) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
pub fn normalize_text(s: &str) -> String {
    s.to_string()
}
