//! Content codings of raw HTML: how a response body came over the wire (`gzip`, `br`) and
//! how presswatch stores HTML it compressed itself (`zlib`).
//!
//! A version's raw HTML is stored as the site sent it when the site compressed it: the bytes
//! are already small, so storing them costs no CPU (recompressing was about a tenth of a
//! first cycle's CPU in `benches/cycle`). Decoding is always bounded by a size cap, so a
//! "zip bomb" stops at the cap.

use std::io::Read;

/// A compression format of stored or received HTML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// RFC 1950, written by presswatch for HTML that came uncompressed.
    Zlib,
    /// RFC 1952 (`Content-Encoding: gzip` / `x-gzip`).
    Gzip,
    /// RFC 7932 (`Content-Encoding: br`).
    Brotli,
}

impl Coding {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Coding::Zlib => "zlib",
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
        }
    }

    /// From a stored name.
    pub fn parse(s: &str) -> Option<Coding> {
        match s {
            "zlib" => Some(Coding::Zlib),
            "gzip" => Some(Coding::Gzip),
            "br" => Some(Coding::Brotli),
            _ => None,
        }
    }

    /// From an HTTP `Content-Encoding` header value: `Ok(None)` for no coding (absent or
    /// `identity`), `Err(value)` for a coding presswatch did not ask for.
    pub fn from_content_encoding(value: Option<&str>) -> Result<Option<Coding>, String> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match v.to_ascii_lowercase().as_str() {
            "identity" => Ok(None),
            "gzip" | "x-gzip" => Ok(Some(Coding::Gzip)),
            "br" => Ok(Some(Coding::Brotli)),
            _ => Err(v.to_string()),
        }
    }
}

/// Decodes `data`. Reads at most `max + 1` decoded bytes: a result longer than `max` means
/// the whole would not fit (the caller reports it), and nothing more was decoded.
pub fn decode(coding: Coding, data: &[u8], max: u64) -> std::io::Result<Vec<u8>> {
    let limit = max.saturating_add(1);
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(limit as usize));
    match coding {
        Coding::Zlib => flate2::read::ZlibDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)?,
        // Several gzip members in a row are one body (RFC 1952 §2.2).
        Coding::Gzip => flate2::read::MultiGzDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)?,
        Coding::Brotli => brotli_decompressor::Decompressor::new(data, 8192)
            .take(limit)
            .read_to_end(&mut out)?,
    };
    Ok(out)
}

/// Compresses HTML that came uncompressed, for storage ([`Coding::Zlib`], fast level).
pub fn zlib(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::fast(),
    );
    e.write_all(data)?;
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    }

    #[test]
    fn round_trips_and_names() {
        let html = b"<html><body><p>Statement</p></body></html>".repeat(50);
        assert_eq!(
            decode(Coding::Zlib, &zlib(&html).expect("z"), 1 << 20).expect("d"),
            html
        );
        assert_eq!(
            decode(Coding::Gzip, &gzip(&html), 1 << 20).expect("d"),
            html
        );
        // Two gzip members are one body.
        let mut two = gzip(b"<p>one</p>");
        two.extend(gzip(b"<p>two</p>"));
        assert_eq!(
            decode(Coding::Gzip, &two, 100).expect("d"),
            b"<p>one</p><p>two</p>"
        );
        for c in [Coding::Zlib, Coding::Gzip, Coding::Brotli] {
            assert_eq!(Coding::parse(c.as_str()), Some(c));
        }
        assert_eq!(
            Coding::from_content_encoding(Some(" GZIP ")),
            Ok(Some(Coding::Gzip))
        );
        assert_eq!(Coding::from_content_encoding(Some("identity")), Ok(None));
        assert_eq!(Coding::from_content_encoding(None), Ok(None));
        assert_eq!(
            Coding::from_content_encoding(Some("gzip, br")),
            Err("gzip, br".to_string())
        );
    }

    pub(crate) fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).expect("brotli");
        }
        out
    }

    #[test]
    fn brotli_decodes() {
        let html = "<p>Déclaration — العربية</p>".repeat(100);
        let br = brotli(html.as_bytes());
        assert!(br.len() < html.len() / 10);
        assert_eq!(
            decode(Coding::Brotli, &br, 1 << 20).expect("d"),
            html.as_bytes()
        );
        assert_eq!(decode(Coding::Brotli, &br, 10).expect("d").len(), 11);
    }

    #[test]
    fn a_bomb_stops_at_the_cap() {
        let zeros = vec![b'a'; 10 << 20];
        for (coding, bomb) in [
            (Coding::Gzip, gzip(&zeros)),
            (Coding::Brotli, brotli(&zeros)),
        ] {
            assert!(bomb.len() < 20_000);
            let out = decode(coding, &bomb, 1000).expect("decode");
            assert_eq!(out.len(), 1001);
        }
        assert!(decode(Coding::Gzip, b"not gzip", 1000).is_err());
    }
}
