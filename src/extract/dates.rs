//! Date parsing to ISO 8601.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use regex::Regex;
use std::sync::OnceLock;

/// Parses a machine or human date to ISO 8601: RFC 3339 datetimes are kept
/// (re-serialized), bare dates become `YYYY-MM-DD`, common English forms
/// ("12 December 2018", "December 12, 2018", "Wed, 12 Dec 2018", "12/12/2018"
/// is *not* guessed) become `YYYY-MM-DD`.
pub(crate) fn to_iso(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 200 {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    }
    // Offsets without a colon (+0000), as some CMSs emit.
    if let Ok(dt) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z") {
        return Some(dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(s) {
        return Some(dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    }
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, f) {
            return Some(dt.format("%Y-%m-%dT%H:%M:%S").to_string());
        }
    }
    if let Some(iso) = s.get(..10)
        && let Ok(d) = NaiveDate::parse_from_str(iso, "%Y-%m-%d")
    {
        return Some(d.format("%Y-%m-%d").to_string());
    }
    english_date(s)
}

/// Finds an English date in running text, e.g. "Published 12 December 2018".
pub(crate) fn english_date(s: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        let month = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?";
        Regex::new(&format!(
            r"(?i)\b(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+({month})\s*,?\s+(\d{{4}})|({month})\s+(\d{{1,2}})(?:st|nd|rd|th)?\s*,?\s+(\d{{4}}))\b"
        ))
        .expect("static regex")
    });
    let c = re.captures(s)?;
    let (day, month, year) = if let (Some(d), Some(m), Some(y)) = (c.get(1), c.get(2), c.get(3)) {
        (d.as_str(), m.as_str(), y.as_str())
    } else {
        (c.get(5)?.as_str(), c.get(4)?.as_str(), c.get(6)?.as_str())
    };
    let m = month_number(month)?;
    let d: u32 = day.parse().ok()?;
    let y: i32 = year.parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d).map(|d| d.format("%Y-%m-%d").to_string())
}

fn month_number(m: &str) -> Option<u32> {
    let m = m.trim_end_matches('.').to_ascii_lowercase();
    let names = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let prefix = m.get(..3)?;
    names
        .iter()
        .position(|n| *n == prefix)
        .and_then(|i| u32::try_from(i + 1).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(
            to_iso("2018-12-10T12:00:00Z").as_deref(),
            Some("2018-12-10T12:00:00Z")
        );
        assert_eq!(
            to_iso("2018-12-10T12:00:00+0100").as_deref(),
            Some("2018-12-10T12:00:00+01:00")
        );
        assert_eq!(to_iso("2018-12-10").as_deref(), Some("2018-12-10"));
        assert_eq!(to_iso("12 December 2018").as_deref(), Some("2018-12-12"));
        assert_eq!(to_iso("December 12, 2018").as_deref(), Some("2018-12-12"));
        assert_eq!(to_iso("Wed, 12 Dec 2018").as_deref(), Some("2018-12-12"));
        assert_eq!(to_iso("Sept. 3, 2020").as_deref(), Some("2020-09-03"));
        assert_eq!(to_iso("31 February 2018"), None);
        assert_eq!(to_iso("no date here"), None);
    }
}
