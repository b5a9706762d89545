//! Content codings of raw HTML: how a response body came over the wire (`gzip`, `br`) and
//! how presswatch stores HTML it compressed itself (`zlib`).
//!
//! A version's raw HTML is stored as the site sent it when the site compressed it: the bytes
//! are already small, so storing them costs no CPU (recompressing was about a tenth of a
//! first cycle's CPU in `benches/cycle`). Decoding is always bounded by a size cap, so a
//! "zip bomb" stops at the cap. A gzip body of one member (nearly all of them) is decoded in
//! one call by libdeflate; anything else by flate2's streaming decoder.

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

    /// From an HTTP `Content-Encoding` header value: `Ok(None)` for no compression (absent,
    /// `identity`, or a token that names none, such as the `none` or `utf-8` some servers
    /// send), `Err(value)` for a compression presswatch cannot decode (`compress`, `zstd`,
    /// several codings in a row).
    pub fn from_content_encoding(value: Option<&str>) -> Result<Option<Coding>, String> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match v.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Ok(Some(Coding::Gzip)),
            "br" => Ok(Some(Coding::Brotli)),
            // HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2).
            "deflate" => Ok(Some(Coding::Zlib)),
            "compress" | "x-compress" | "zstd" | "dcb" | "dcz" | "aes128gcm" | "exi"
            | "pack200-gzip" => Err(v.to_string()),
            several if several.contains(',') => Err(v.to_string()),
            _ => Ok(None),
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
        Coding::Gzip => {
            if let Some(whole) = gunzip_single_member(data, max) {
                return Ok(whole);
            }
            // Several gzip members in a row are one body (RFC 1952 §2.2).
            flate2::read::MultiGzDecoder::new(data)
                .take(limit)
                .read_to_end(&mut out)?
        }
        Coding::Brotli => brotli_decompressor::Decompressor::new(data, 8192)
            .take(limit)
            .read_to_end(&mut out)?,
    };
    Ok(out)
}

/// A gzip body that is exactly one member, decoded in one call by libdeflate (about 1.6×
/// faster than streaming inflate on statement pages). `None` when it is not that simple:
/// the size the trailer announces is over `max`, the data is not one whole valid member
/// (several members, trailing bytes, a wrong size field, corrupt data). The streaming
/// decoder then decides, within the cap.
fn gunzip_single_member(data: &[u8], max: u64) -> Option<Vec<u8>> {
    use libdeflate_sys as sys;
    /// One decompressor per thread (allocating one costs more than a small page).
    struct Decompressor(*mut sys::libdeflate_decompressor);
    impl Drop for Decompressor {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: allocated by libdeflate_alloc_decompressor, freed once, here.
                unsafe { sys::libdeflate_free_decompressor(self.0) }
            }
        }
    }
    thread_local! {
        // SAFETY: no precondition; a null result (out of memory) is checked before use.
        static DECOMPRESSOR: Decompressor =
            Decompressor(unsafe { sys::libdeflate_alloc_decompressor() });
    }
    // ISIZE, the last 4 bytes of a member: its decoded size mod 2^32 (RFC 1952 §2.3.1).
    let trailer: [u8; 4] = data.get(data.len().checked_sub(4)?..)?.try_into().ok()?;
    let size = u32::from_le_bytes(trailer) as usize;
    if size as u64 > max {
        return None;
    }
    let mut out: Vec<u8> = Vec::new();
    out.try_reserve_exact(size).ok()?;
    let (mut used_in, mut used_out) = (0usize, 0usize);
    let ok = DECOMPRESSOR.with(|d| {
        if d.0.is_null() {
            return false;
        }
        // SAFETY: `d.0` is a live decompressor owned by this thread; the input pointer and
        // length come from one slice; libdeflate writes at most `size` bytes (the capacity
        // of `out`) and reports how many it wrote and read through the two out-pointers.
        let r = unsafe {
            sys::libdeflate_gzip_decompress_ex(
                d.0,
                data.as_ptr().cast(),
                data.len(),
                out.as_mut_ptr().cast(),
                size,
                &mut used_in,
                &mut used_out,
            )
        };
        r == sys::libdeflate_result_LIBDEFLATE_SUCCESS
    });
    if !ok || used_in != data.len() || used_out != size {
        return None;
    }
    // SAFETY: libdeflate initialised the first `used_out` (== size <= capacity) bytes.
    unsafe { out.set_len(used_out) };
    Some(out)
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
        assert_eq!(Coding::from_content_encoding(Some("none")), Ok(None));
        assert_eq!(Coding::from_content_encoding(Some("UTF-8")), Ok(None));
        assert_eq!(Coding::from_content_encoding(None), Ok(None));
        assert_eq!(
            Coding::from_content_encoding(Some("deflate")),
            Ok(Some(Coding::Zlib))
        );
        assert_eq!(
            Coding::from_content_encoding(Some("zstd")),
            Err("zstd".to_string())
        );
        assert_eq!(
            Coding::from_content_encoding(Some("gzip, br")),
            Err("gzip, br".to_string())
        );
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
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
    fn gzip_fast_path_and_its_fallbacks_agree() {
        let html = "<p>Déclaration — statement text</p>".repeat(500);
        let one = gzip(html.as_bytes());
        assert_eq!(
            gunzip_single_member(&one, 1 << 20).as_deref(),
            Some(html.as_bytes())
        );
        // Two members: not for the fast path; the streaming decoder joins them.
        let mut two = one.clone();
        two.extend(gzip(b"<p>more</p>"));
        assert_eq!(gunzip_single_member(&two, 1 << 20), None);
        let mut both = html.clone().into_bytes();
        both.extend(b"<p>more</p>");
        assert_eq!(decode(Coding::Gzip, &two, 1 << 20).expect("d"), both);
        // A trailer announcing more than the cap, or lying about the size.
        assert_eq!(gunzip_single_member(&one, 100), None);
        let mut lying = one.clone();
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        assert_eq!(gunzip_single_member(&lying, 1 << 20), None);
        assert!(decode(Coding::Gzip, &lying, 1 << 20).is_err());
        // Truncated or garbage.
        assert_eq!(gunzip_single_member(&one[..one.len() / 2], 1 << 20), None);
        assert_eq!(gunzip_single_member(b"abc", 1 << 20), None);
        assert_eq!(gunzip_single_member(b"", 1 << 20), None);
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
