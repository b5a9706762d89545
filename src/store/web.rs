//! Read-only queries for the web change log (`crate::web`).
//!
//! Every value from a request is a bound parameter; the only SQL chosen at run time is one of
//! a few constant strings.

use rusqlite::OptionalExtension;

use super::{ChangeKind, ChangeRow, Result, Store};

/// One page of the change log, filtered.
#[derive(Debug, Clone, Default)]
pub struct ChangeQuery {
    pub source: Option<String>,
    pub kind: Option<ChangeKind>,
    /// Substring of the title (case-insensitive for ASCII); `%` and `_` match literally.
    pub title: Option<String>,
    pub include_baseline: bool,
    pub offset: usize,
    pub limit: usize,
}

/// The rows of one page of the change log and the number of rows over all pages.
#[derive(Debug, Clone, Default)]
pub struct ChangePage {
    pub rows: Vec<ChangeRow>,
    pub total: i64,
}

/// A tracked page, as the web shows it.
#[derive(Debug, Clone)]
pub struct PageInfo {
    pub id: i64,
    pub url: String,
    pub source: String,
    pub removed: bool,
    pub first_seen_at: String,
    pub last_check_at: Option<String>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
}

/// A version without its body.
#[derive(Debug, Clone)]
pub struct VersionMeta {
    pub version: i64,
    pub fetched_at: String,
    pub title: String,
    pub published: Option<String>,
    /// Length of the body in characters.
    pub body_chars: i64,
}

/// The title a change is listed under: the version it made, or for a removal the last one.
const TITLE_EXPR: &str = "COALESCE((SELECT v.title FROM versions v WHERE v.page_id = c.page_id
     AND v.version = COALESCE(c.to_version, c.from_version)), '')";

/// A title search counts its matches up to this many (the count of a broad search is the
/// costly part).
pub const SEARCH_COUNT_CAP: i64 = 10_000;
/// Up to this many matches, a search is driven from the matching pages; above, from the log.
const SEARCH_DRIVE_MAX: i64 = 500;
const SEARCH_PAGES: &str =
    "c.page_id IN (SELECT page_id FROM versions WHERE title LIKE :pattern ESCAPE '\\')";
const SEARCH_PAGES_WALK: &str =
    "+c.page_id IN (SELECT page_id FROM versions WHERE title LIKE :pattern ESCAPE '\\')";
const SEARCH_TITLE: &str = concat!(
    "COALESCE((SELECT v.title FROM versions v WHERE v.page_id = c.page_id",
    " AND v.version = COALESCE(c.to_version, c.from_version)), '') LIKE :pattern ESCAPE '\\'"
);

fn where_clause(filters: &[&str]) -> String {
    if filters.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", filters.join(" AND "))
    }
}

/// `LIKE` pattern matching `s` anywhere, with `\` as the escape character.
pub fn like_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

impl Store {
    /// A page of the change log, newest first, with the total number of matching changes
    /// (for a title search, counted up to [`SEARCH_COUNT_CAP`]).
    pub fn web_changes(&self, q: &ChangeQuery) -> Result<ChangePage> {
        let pattern = q
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(like_pattern);
        let kind = q.kind.map(ChangeKind::as_str);
        let limit = q.limit as i64;
        let offset = q.offset as i64;
        // The WHERE clause is assembled from constant fragments, one per filter in use, so the
        // planner can use the index that fits (a `?x IS NULL OR` form would defeat it); every
        // value is a bound parameter.
        let mut filters: Vec<&str> = Vec::new();
        let mut args: Vec<(&str, &dyn rusqlite::ToSql)> = Vec::new();
        if !q.include_baseline {
            filters.push("c.baseline = 0");
        }
        if let Some(source) = &q.source {
            filters.push("p.source = :source");
            args.push((":source", source));
        }
        if let Some(kind) = &kind {
            filters.push("c.kind = :kind");
            args.push((":kind", kind));
        }
        let needs_join = q.source.is_some() || pattern.is_some();
        self.read(|c| {
            let count = |filters: &[&str],
                         capped: bool,
                         args: &[(&str, &dyn rusqlite::ToSql)]|
             -> rusqlite::Result<i64> {
                let from = if needs_join {
                    "changes c JOIN pages p ON p.id = c.page_id"
                } else {
                    "changes c"
                };
                let sql = if capped {
                    format!(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM {from}{} LIMIT {SEARCH_COUNT_CAP})",
                        where_clause(filters)
                    )
                } else {
                    format!("SELECT COUNT(*) FROM {from}{}", where_clause(filters))
                };
                c.prepare_cached(&sql)?.query_row(args, |r| r.get(0))
            };
            let (total, filters) = match &pattern {
                None => (count(&filters, false, &args)?, filters),
                Some(pattern) => {
                    args.push((":pattern", pattern));
                    let mut f = filters.clone();
                    // Candidates first, from the covering index of titles, then the exact title
                    // of each change.
                    f.push(SEARCH_PAGES);
                    f.push(SEARCH_TITLE);
                    let total = count(&f, true, &args)?;
                    if total > SEARCH_DRIVE_MAX {
                        // Many matches: walk the log newest first (the unary `+` keeps the
                        // planner off the page index) and stop at the page's last row.
                        f[filters.len()] = SEARCH_PAGES_WALK;
                    }
                    (total, f)
                }
            };
            let sql = format!(
                "SELECT c.id, c.kind, p.url, p.source, c.detected_at, c.from_version,
                    c.to_version, c.words_added, c.words_removed, c.baseline, c.page_id,
                    {TITLE_EXPR} AS title
                 FROM changes c JOIN pages p ON p.id = c.page_id{}
                 ORDER BY c.detected_at DESC, c.id DESC LIMIT :limit OFFSET :offset",
                where_clause(&filters)
            );
            args.push((":limit", &limit));
            args.push((":offset", &offset));
            let mut st = c.prepare_cached(&sql)?;
            let rows = st
                .query_map(args.as_slice(), Self::change_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ChangePage { rows, total })
        })
    }

    /// Names of the sources that have tracked pages, sorted.
    pub fn web_sources(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT DISTINCT source FROM pages ORDER BY source")?;
            st.query_map([], |r| r.get(0))?.collect()
        })
    }

    /// A tracked page by id.
    pub fn page_info(&self, id: i64) -> Result<Option<PageInfo>> {
        self.read(|c| {
            c.query_row(
                "SELECT id, url, source, status, first_seen_at, last_check_at, last_status, last_error
                 FROM pages WHERE id = ?1",
                [id],
                |r| {
                    Ok(PageInfo {
                        id: r.get(0)?,
                        url: r.get(1)?,
                        source: r.get(2)?,
                        removed: r.get::<_, String>(3)? == "removed",
                        first_seen_at: r.get(4)?,
                        last_check_at: r.get(5)?,
                        last_status: r.get(6)?,
                        last_error: r.get(7)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Every version of a page without bodies, oldest first.
    pub fn version_list(&self, page_id: i64) -> Result<Vec<VersionMeta>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT version, fetched_at, title, published, length(body) FROM versions
                 WHERE page_id = ?1 ORDER BY version",
            )?;
            st.query_map([page_id], |r| {
                Ok(VersionMeta {
                    version: r.get(0)?,
                    fetched_at: r.get(1)?,
                    title: r.get(2)?,
                    published: r.get(3)?,
                    body_chars: r.get(4)?,
                })
            })?
            .collect()
        })
    }

    /// Every change of a page (baseline included), oldest first.
    pub fn page_changes(&self, page_id: i64) -> Result<Vec<ChangeRow>> {
        self.read(|c| {
            let sql = format!(
                "{} WHERE c.page_id = ?1 ORDER BY c.detected_at, c.id",
                Self::CHANGE_SELECT
            );
            let mut st = c.prepare_cached(&sql)?;
            st.query_map([page_id], Self::change_from_row)?.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(like_pattern("plain"), "%plain%");
    }
}
