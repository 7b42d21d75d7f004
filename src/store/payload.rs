//! Payloads as the journal keeps them.
//!
//! The receiver compresses a webhook's body (LZ4, ~5× on forge JSON) before it is journaled,
//! so each delivery writes a fifth of the bytes to the WAL and the table; the `payload_encoding`
//! column says how a row's `payload` is encoded, and every reader (the worker's claim, `replay`,
//! the pages) gets the bytes as received through [`decode`]. Rows written before compression
//! existed have the column's default, `identity`, and read as they are. On Postgres the column
//! is `STORAGE EXTERNAL`, so TOAST does not try to compress the bytes a second time.

use super::StoreError;
use actix_web::web::Bytes;
use serde::Deserialize;

/// How a stored payload is encoded: the `payload_encoding` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadEncoding {
    /// The bytes as received (every row from before compression, and bodies that do not shrink).
    Identity,
    /// An LZ4 block (`lz4_flex::block`) after the received length as 4 bytes little-endian.
    Lz4,
}

impl PayloadEncoding {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadEncoding::Identity => "identity",
            PayloadEncoding::Lz4 => "lz4",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "identity" => Ok(PayloadEncoding::Identity),
            "lz4" => Ok(PayloadEncoding::Lz4),
            other => Err(StoreError::Corrupt(format!(
                "unknown payload encoding {other:?}"
            ))),
        }
    }
}

/// Whether the receiver compresses payloads before journaling them
/// (`database.payload_compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadCompression {
    /// LZ4 (the default).
    #[default]
    Lz4,
    /// Journal the bytes as received (what bosun did before; kept for comparison and for
    /// reading the database with other tools).
    None,
}

/// A payload ready to journal: its bytes as they will be stored, and their encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    encoding: PayloadEncoding,
    bytes: Bytes,
}

/// No decoded payload is larger than this: a length prefix beyond it is a corrupt row, not
/// an allocation to attempt. (Forges cap webhooks at 25 MB.)
const MAX_DECODED: usize = 256 * 1024 * 1024;

impl Payload {
    /// A payload stored as received.
    pub fn raw(bytes: impl Into<Bytes>) -> Payload {
        Payload {
            encoding: PayloadEncoding::Identity,
            bytes: bytes.into(),
        }
    }

    /// The received `body`, compressed as configured; a body that would not shrink is kept
    /// as received.
    pub fn encode(body: Bytes, compression: PayloadCompression) -> Payload {
        match compression {
            PayloadCompression::None => Payload::raw(body),
            PayloadCompression::Lz4 => {
                let packed = lz4_flex::block::compress_prepend_size(&body);
                if packed.len() < body.len() {
                    Payload {
                        encoding: PayloadEncoding::Lz4,
                        bytes: Bytes::from(packed),
                    }
                } else {
                    Payload::raw(body)
                }
            }
        }
    }

    /// How [`Payload::stored`] is encoded.
    pub fn encoding(&self) -> PayloadEncoding {
        self.encoding
    }

    /// The bytes as they are journaled.
    pub fn stored(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes as received.
    pub fn decoded(&self) -> Result<Vec<u8>, StoreError> {
        decode_as(self.encoding, self.bytes.to_vec())
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Payload {
        Payload::raw(bytes)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Payload {
        Payload::raw(bytes)
    }
}

/// The payload as received, from a row's `payload` and `payload_encoding`.
pub(super) fn decode(encoding: &str, stored: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    decode_as(PayloadEncoding::parse(encoding)?, stored)
}

fn decode_as(encoding: PayloadEncoding, stored: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    match encoding {
        PayloadEncoding::Identity => Ok(stored),
        PayloadEncoding::Lz4 => {
            let corrupt = |why: String| StoreError::Corrupt(format!("lz4 payload: {why}"));
            let (prefix, block) = stored
                .split_first_chunk::<4>()
                .ok_or_else(|| corrupt("shorter than its length prefix".into()))?;
            let len = u32::from_le_bytes(*prefix) as usize;
            if len > MAX_DECODED {
                return Err(corrupt(format!("claims {len} bytes")));
            }
            let mut out = vec![0; len];
            let written = lz4_flex::block::decompress_into(block, &mut out)
                .map_err(|e| corrupt(e.to_string()))?;
            if written != len {
                return Err(corrupt(format!("{written} bytes instead of {len}")));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &[u8] = br#"{"action":"opened","number":1,"pull_request":{"url":"https://api.github.com/repos/o/r/pulls/1","html_url":"https://github.com/o/r/pull/1","diff_url":"https://github.com/o/r/pull/1.diff"},"repository":{"full_name":"o/r","url":"https://api.github.com/repos/o/r"}}"#;

    #[test]
    fn lz4_payloads_shrink_and_read_back_as_received() {
        let p = Payload::encode(Bytes::from_static(JSON), PayloadCompression::Lz4);
        assert_eq!(p.encoding(), PayloadEncoding::Lz4);
        assert!(p.stored().len() < JSON.len());
        let back = decode(p.encoding().as_str(), p.stored().to_vec()).expect("decodes");
        assert_eq!(back, JSON);
    }

    #[test]
    fn bodies_that_do_not_shrink_and_disabled_compression_stay_as_received() {
        for (body, compression) in [
            (&b"{}"[..], PayloadCompression::Lz4),
            (JSON, PayloadCompression::None),
        ] {
            let p = Payload::encode(Bytes::copy_from_slice(body), compression);
            assert_eq!(p.encoding(), PayloadEncoding::Identity);
            assert_eq!(p.stored(), body);
            assert_eq!(decode("identity", body.to_vec()).expect("as is"), body);
        }
    }

    #[test]
    fn unreadable_rows_are_corrupt_not_panics() {
        let good = Payload::encode(Bytes::from_static(JSON), PayloadCompression::Lz4);
        let mut truncated = good.stored().to_vec();
        truncated.truncate(truncated.len() / 2);
        let mut huge = good.stored().to_vec();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut short = good.stored().to_vec();
        short[..4].copy_from_slice(&3u32.to_le_bytes());
        for (encoding, bytes) in [
            ("lz4", truncated),
            ("lz4", huge),
            ("lz4", short),
            ("lz4", vec![1, 2]),
            ("brotli", JSON.to_vec()),
        ] {
            let err = decode(encoding, bytes).expect_err("unreadable");
            assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        }
    }
}
