//! Request bodies sent gzip-compressed (`Content-Encoding: gzip`), on the routes that declare
//! they take them (`RouteSpec::gzip`): decompressed in bounded memory, so a small body that
//! would expand into gigabytes (a gzip bomb) costs at most the route's limit before its 413.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use http::{HeaderMap, header};

use crate::error::Error;

/// The most a body may expand: a JSON batch compresses about ten to one, and one that expands
/// a hundredfold is made to, not written. The first [`RATIO_FREE_BYTES`] are exempt, so a tiny
/// body of repeated whitespace is not refused for its ratio alone.
pub const MAX_RATIO: usize = 100;

/// How much a body may decompress to whatever its compressed size.
pub const RATIO_FREE_BYTES: usize = 16 * 1024;

/// Whether the body is gzip-encoded; any other encoding than gzip or identity is refused.
pub fn is_gzip(headers: &HeaderMap) -> Result<bool, Error> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.eq_ignore_ascii_case("gzip") || text.eq_ignore_ascii_case("x-gzip") {
        Ok(true)
    } else if text.is_empty() || text.eq_ignore_ascii_case("identity") {
        Ok(false)
    } else {
        Err(Error::MalformedBody(format!(
            "Content-Encoding {text:?} is not supported: send gzip or nothing"
        )))
    }
}

/// Decompresses a gzip body of at most `limit` bytes once decompressed, and at most
/// [`MAX_RATIO`] times its compressed size past [`RATIO_FREE_BYTES`]. Reading stops at the
/// first byte past either bound: memory never exceeds the bound.
pub fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let ratio_bound = compressed
        .len()
        .saturating_mul(MAX_RATIO)
        .max(RATIO_FREE_BYTES);
    let bound = limit.min(ratio_bound);
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(bound));
    MultiGzDecoder::new(compressed)
        .take(bound as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::MalformedBody(format!("the gzip body does not decompress: {e}")))?;
    if out.len() > bound {
        return Err(Error::PayloadTooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_body_within_its_bounds_decompresses_as_sent() {
        let body = br#"{"batch":[{"type":"track","event":"a"}]}"#;
        assert_eq!(gunzip(&gzip(body), 1024).unwrap(), body);
    }

    #[test]
    fn past_the_limit_or_the_ratio_is_too_large() {
        // 200 KB of zeros compresses to a few hundred bytes: past the ratio, under the limit.
        let bomb = gzip(&vec![b' '; 200 * 1024]);
        assert!(bomb.len() * MAX_RATIO < 200 * 1024);
        assert!(matches!(
            gunzip(&bomb, 500 * 1024),
            Err(Error::PayloadTooLarge { .. })
        ));
        // Varied text past the limit.
        let text: Vec<u8> = (0..40_000u32)
            .flat_map(|i| i.to_string().into_bytes())
            .collect();
        assert!(matches!(
            gunzip(&gzip(&text), 10_000),
            Err(Error::PayloadTooLarge { limit: 10_000 })
        ));
    }

    #[test]
    fn bytes_that_are_not_gzip_are_malformed() {
        assert!(matches!(
            gunzip(b"{\"batch\":[]}", 1024),
            Err(Error::MalformedBody(_))
        ));
    }
}
