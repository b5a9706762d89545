//! Word-level diffs of two statement texts.
//!
//! Texts are compared paragraph by paragraph first (paragraphs are separated by a blank line),
//! then word by word inside the paragraphs that changed, so an edit of one sentence shows as
//! that sentence, with `context` unchanged paragraphs around it.

use similar::{Algorithm, ChangeTag, DiffOp, capture_diff_slices, group_diff_ops};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tag {
    Equal,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Segment {
    pub tag: Tag,
    pub text: String,
}

/// A run of changed paragraphs with their context; segments concatenate to text with `\n\n`
/// between paragraphs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Hunk {
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Diff {
    pub hunks: Vec<Hunk>,
    pub words_added: usize,
    pub words_removed: usize,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.words_added == 0 && self.words_removed == 0
    }
}

impl Hunk {
    fn push(&mut self, tag: Tag, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.segments.last_mut() {
            Some(last) if last.tag == tag => last.text.push_str(text),
            _ => self.segments.push(Segment {
                tag,
                text: text.to_string(),
            }),
        }
    }
}

fn paragraphs(s: &str) -> Vec<&str> {
    s.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Diff `old` against `new`, keeping `context` unchanged paragraphs around each change.
pub fn diff(old: &str, new: &str, context: usize) -> Diff {
    let old_p = paragraphs(old);
    let new_p = paragraphs(new);
    let ops = capture_diff_slices(Algorithm::Patience, &old_p, &new_p);
    let mut out = Diff::default();
    for group in group_diff_ops(ops, context) {
        let mut hunk = Hunk::default();
        for (i, op) in group.iter().enumerate() {
            if i > 0 {
                hunk.push(Tag::Equal, "\n\n");
            }
            match *op {
                DiffOp::Equal { new_index, len, .. } => {
                    hunk.push(Tag::Equal, &new_p[new_index..new_index + len].join("\n\n"));
                }
                DiffOp::Delete {
                    old_index, old_len, ..
                } => {
                    let text = old_p[old_index..old_index + old_len].join("\n\n");
                    out.words_removed += crate::util::word_count(&text);
                    hunk.push(Tag::Removed, &text);
                }
                DiffOp::Insert {
                    new_index, new_len, ..
                } => {
                    let text = new_p[new_index..new_index + new_len].join("\n\n");
                    out.words_added += crate::util::word_count(&text);
                    hunk.push(Tag::Added, &text);
                }
                DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } => {
                    let o = old_p[old_index..old_index + old_len].join("\n\n");
                    let n = new_p[new_index..new_index + new_len].join("\n\n");
                    for (tag, piece) in
                        similar::utils::diff_words(Algorithm::Patience, o.as_str(), n.as_str())
                    {
                        let tag = match tag {
                            ChangeTag::Equal => Tag::Equal,
                            ChangeTag::Delete => {
                                out.words_removed += crate::util::word_count(piece);
                                Tag::Removed
                            }
                            ChangeTag::Insert => {
                                out.words_added += crate::util::word_count(piece);
                                Tag::Added
                            }
                        };
                        hunk.push(tag, piece);
                    }
                }
            }
        }
        if hunk.segments.iter().any(|s| s.tag != Tag::Equal) {
            out.hunks.push(hunk);
        }
    }
    out
}

/// Plain-text rendering: `[-removed-]{+added+}`, hunks separated by a `[...]` line.
pub fn render_text(d: &Diff) -> String {
    let mut s = String::new();
    for (i, h) in d.hunks.iter().enumerate() {
        if i > 0 {
            s.push_str("\n\n[...]\n\n");
        }
        for seg in &h.segments {
            match seg.tag {
                Tag::Equal => s.push_str(&seg.text),
                Tag::Removed => {
                    s.push_str("[-");
                    s.push_str(&seg.text);
                    s.push_str("-]");
                }
                Tag::Added => {
                    s.push_str("{+");
                    s.push_str(&seg.text);
                    s.push_str("+}");
                }
            }
        }
    }
    s
}

/// Inline styles, because Gmail strips `<style>` blocks and Outlook ignores `<ins>`/`<del>` styling.
pub const STYLE_ADDED: &str = "background-color:#d4f7d4;color:#0b5d0b;text-decoration:none;";
pub const STYLE_REMOVED: &str =
    "background-color:#fbd9d9;color:#8a1111;text-decoration:line-through;";

/// HTML rendering: page text escaped; added words in `<ins>`, removed in `<del>`, both with
/// inline styles; paragraphs as `<p>`.
pub fn render_html(d: &Diff) -> String {
    let mut s = String::new();
    for (i, h) in d.hunks.iter().enumerate() {
        if i > 0 {
            s.push_str("<p style=\"color:#888888;\">[&hellip;]</p>\n");
        }
        let mut inner = String::new();
        for seg in &h.segments {
            let text = html_escape::encode_text(&seg.text);
            match seg.tag {
                Tag::Equal => inner.push_str(&text),
                Tag::Removed => {
                    inner.push_str(&format!("<del style=\"{STYLE_REMOVED}\">{text}</del>"));
                }
                Tag::Added => {
                    inner.push_str(&format!("<ins style=\"{STYLE_ADDED}\">{text}</ins>"));
                }
            }
        }
        // `dir="auto"`: right-to-left statements (Arabic) keep their direction.
        for para in inner.split("\n\n") {
            s.push_str("<p dir=\"auto\">");
            s.push_str(&para.replace('\n', "<br>"));
            s.push_str("</p>\n");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_edit_in_one_paragraph_with_context() {
        let old = "Title\n\nOne two three.\n\nFour five six.\n\nSeven.\n\nEight.";
        let new = "Title\n\nOne two three.\n\nFour FIVE six.\n\nSeven.\n\nEight.";
        let d = diff(old, new, 1);
        assert_eq!(d.words_added, 1);
        assert_eq!(d.words_removed, 1);
        assert_eq!(d.hunks.len(), 1);
        assert_eq!(
            render_text(&d),
            "One two three.\n\nFour [-five-]{+FIVE+} six.\n\nSeven."
        );
        let html = render_html(&d);
        assert!(html.contains("<del style=\""), "{html}");
        assert!(html.contains(">five</del>"), "{html}");
        assert!(html.contains(">FIVE</ins>"), "{html}");
    }

    #[test]
    fn identical_is_empty() {
        let d = diff("a\n\nb", "a\n\nb", 1);
        assert!(d.is_empty());
        assert!(d.hunks.is_empty());
    }

    #[test]
    fn added_and_removed_paragraphs() {
        let d = diff("a b\n\nc d", "a b\n\nc d\n\ne f g", 1);
        assert_eq!((d.words_added, d.words_removed), (3, 0));
        let d = diff("a b\n\nc d", "c d", 0);
        assert_eq!((d.words_added, d.words_removed), (0, 2));
    }

    #[test]
    fn html_is_escaped() {
        let d = diff("x <b>", "x <script>alert(1)</script>", 1);
        let html = render_html(&d);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
