//! Payloads as the journal keeps them.
//!
//! The receiver compresses a webhook's body before it is journaled: by default with zstd and a
//! dictionary trained on forge webhooks (~10× on a 26 KB pull-request delivery, against ~5× for
//! LZ4), so each delivery writes a tenth of the bytes to the WAL and the table. The
//! `payload_encoding` column says how a row's `payload` is encoded, and every reader (the
//! worker's claim, `replay`, the pages) gets the bytes as received through [`decode`]. Rows
//! written before compression existed have the column's default, `identity`, and read as they
//! are; rows an earlier release wrote with LZ4 stay readable. On Postgres the column is
//! `STORAGE EXTERNAL`, so TOAST does not try to compress the bytes a second time.
//!
//! The dictionary ([`WEBHOOK_DICTIONARY`]) is part of the format: a row names it by its
//! encoding (`zstd-d1`), so a later dictionary gets a new name and this one stays compiled in.
//! It was trained by `bosun-bench dictionary` on the fixtures in `tests/fixtures`, holding out
//! the payloads the benchmarks send (`github/pull_request/` and the two comments of `flow`). The frames are standard
//! zstd frames: `zstd -d -D src/store/webhooks-1.zdict` reads a payload exported from the
//! database.

use super::StoreError;
use actix_web::web::Bytes;
use serde::Deserialize;
use std::cell::RefCell;
use std::sync::OnceLock;
use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};
use zstd::zstd_safe::{CParameter, DictAttachPref};

/// The zstd dictionary of the `zstd-d1` encoding (16 KB, trained on forge webhook payloads).
pub const WEBHOOK_DICTIONARY: &[u8] = include_bytes!("webhooks-1.zdict");

/// The zstd level `zstd-d1` payloads are written at: with the dictionary attached, level 3
/// costs about what level 1 does on webhook JSON and writes 5–10 % fewer bytes.
const ZSTD_LEVEL: i32 = 3;

/// How a stored payload is encoded: the `payload_encoding` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadEncoding {
    /// The bytes as received (every row from before compression, and bodies that do not shrink).
    Identity,
    /// An LZ4 block (`lz4_flex::block`) after the received length as 4 bytes little-endian.
    Lz4,
    /// A zstd frame (with its content size and checksum) compressed with [`WEBHOOK_DICTIONARY`].
    ZstdD1,
}

impl PayloadEncoding {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadEncoding::Identity => "identity",
            PayloadEncoding::Lz4 => "lz4",
            PayloadEncoding::ZstdD1 => "zstd-d1",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "identity" => Ok(PayloadEncoding::Identity),
            "lz4" => Ok(PayloadEncoding::Lz4),
            "zstd-d1" => Ok(PayloadEncoding::ZstdD1),
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
    /// zstd with the webhook dictionary (the default): the fewest bytes.
    #[default]
    Zstd,
    /// LZ4: a little less CPU, about twice zstd's bytes (the default before zstd).
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
    /// The body as received, while it is at hand: a delivery handed to a worker as it is
    /// journaled is read from it rather than decompressed again.
    received: Option<Bytes>,
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
            received: None,
        }
    }

    /// The received `body`, compressed as configured; a body that would not shrink is kept
    /// as received.
    pub fn encode(body: Bytes, compression: PayloadCompression) -> Payload {
        let (encoding, packed) = match compression {
            PayloadCompression::None => return Payload::raw(body),
            PayloadCompression::Lz4 => (
                PayloadEncoding::Lz4,
                lz4_flex::block::compress_prepend_size(&body),
            ),
            PayloadCompression::Zstd => match zstd_compress(&body) {
                Ok(packed) => (PayloadEncoding::ZstdD1, packed),
                Err(e) => {
                    tracing::warn!(error = %e, "zstd failed; journaling the payload as received");
                    return Payload::raw(body);
                }
            },
        };
        if packed.len() < body.len() {
            Payload {
                encoding,
                bytes: Bytes::from(packed),
                received: Some(body),
            }
        } else {
            Payload::raw(body)
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

    /// The bytes as received, decoded from the stored bytes.
    pub fn decoded(&self) -> Result<Vec<u8>, StoreError> {
        decode_as(self.encoding, self.bytes.to_vec())
    }

    /// The bytes as received: the body itself while it is at hand (no decompression), else
    /// [`Payload::decoded`].
    pub fn received(&self) -> Result<Vec<u8>, StoreError> {
        match &self.received {
            Some(body) => Ok(body.to_vec()),
            None => self.decoded(),
        }
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
        PayloadEncoding::ZstdD1 => {
            let corrupt = |why: String| StoreError::Corrupt(format!("zstd payload: {why}"));
            let len = match zstd::zstd_safe::get_frame_content_size(&stored) {
                Ok(Some(len)) => len,
                Ok(None) => return Err(corrupt("no content size".into())),
                Err(_) => return Err(corrupt("not a zstd frame".into())),
            };
            let len = usize::try_from(len)
                .ok()
                .filter(|&len| len <= MAX_DECODED)
                .ok_or_else(|| corrupt(format!("claims {len} bytes")))?;
            let out = ZSTD_DECOMPRESSOR.with(|cell| {
                let mut slot = cell.borrow_mut();
                let decompressor = match &mut *slot {
                    Some(d) => d,
                    empty => {
                        empty.insert(Decompressor::with_prepared_dictionary(decoder_dictionary())?)
                    }
                };
                decompressor.decompress(&stored, len)
            });
            let out = out.map_err(|e| corrupt(e.to_string()))?;
            if out.len() != len {
                return Err(corrupt(format!("{} bytes instead of {len}", out.len())));
            }
            Ok(out)
        }
    }
}

thread_local! {
    /// Each thread's zstd contexts, made on first use (a context is ~100 KB-1 MB and cheap to
    /// reuse; the prepared dictionaries are shared).
    static ZSTD_COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static ZSTD_DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// The dictionary digested for compression at [`ZSTD_LEVEL`], once per process.
fn encoder_dictionary() -> &'static EncoderDictionary<'static> {
    static DICTIONARY: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
    DICTIONARY.get_or_init(|| EncoderDictionary::copy(WEBHOOK_DICTIONARY, ZSTD_LEVEL))
}

/// The dictionary digested for decompression, once per process.
fn decoder_dictionary() -> &'static DecoderDictionary<'static> {
    static DICTIONARY: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
    DICTIONARY.get_or_init(|| DecoderDictionary::copy(WEBHOOK_DICTIONARY))
}

/// `body` as one `zstd-d1` frame.
fn zstd_compress(body: &[u8]) -> std::io::Result<Vec<u8>> {
    ZSTD_COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match &mut *slot {
            Some(c) => c,
            empty => {
                let mut made = Compressor::with_prepared_dictionary(encoder_dictionary())?;
                made.include_checksum(true)?;
                // Reference the digested dictionary instead of copying its tables into the
                // context for every payload (zstd copies them for inputs this size otherwise).
                made.set_parameter(CParameter::ForceAttachDict(DictAttachPref::ForceAttach))?;
                empty.insert(made)
            }
        };
        compressor.compress(body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &[u8] = br#"{"action":"opened","number":1,"pull_request":{"url":"https://api.github.com/repos/o/r/pulls/1","html_url":"https://github.com/o/r/pull/1","diff_url":"https://github.com/o/r/pull/1.diff"},"repository":{"full_name":"o/r","url":"https://api.github.com/repos/o/r"}}"#;

    /// A pull-request delivery the dictionary was not trained on.
    const HELD_OUT: &[u8] =
        include_bytes!("../../tests/fixtures/github/pull_request/reopened.test-infra.json");

    #[test]
    fn compressed_payloads_shrink_and_read_back_as_received() {
        for (compression, encoding) in [
            (PayloadCompression::Lz4, PayloadEncoding::Lz4),
            (PayloadCompression::Zstd, PayloadEncoding::ZstdD1),
        ] {
            for body in [JSON, HELD_OUT] {
                let p = Payload::encode(Bytes::from_static(body), compression);
                assert_eq!(p.encoding(), encoding);
                assert!(p.stored().len() < body.len());
                let back = decode(p.encoding().as_str(), p.stored().to_vec()).expect("decodes");
                assert_eq!(back, body);
                assert_eq!(p.decoded().expect("decodes"), body);
                assert_eq!(p.received().expect("at hand"), body);
            }
        }
    }

    #[test]
    fn the_dictionary_makes_zstd_write_about_half_of_lz4s_bytes() {
        let lz4 = Payload::encode(Bytes::from_static(HELD_OUT), PayloadCompression::Lz4);
        let zstd = Payload::encode(Bytes::from_static(HELD_OUT), PayloadCompression::Zstd);
        let plain = zstd::bulk::compress(HELD_OUT, ZSTD_LEVEL).expect("compresses");
        assert!(
            zstd.stored().len() * 10 < lz4.stored().len() * 6,
            "zstd-d1 {} B against lz4 {} B",
            zstd.stored().len(),
            lz4.stored().len()
        );
        assert!(
            zstd.stored().len() < plain.len(),
            "the dictionary saves nothing: {} B against {} B",
            zstd.stored().len(),
            plain.len()
        );
    }

    #[test]
    fn zstd_payloads_are_standard_frames_readable_with_the_dictionary_alone() {
        let p = Payload::encode(Bytes::from_static(HELD_OUT), PayloadCompression::Zstd);
        let mut plain = zstd::bulk::Decompressor::with_dictionary(WEBHOOK_DICTIONARY)
            .expect("loads the dictionary");
        let back = plain
            .decompress(p.stored(), HELD_OUT.len())
            .expect("a standard frame");
        assert_eq!(back, HELD_OUT);
    }

    #[test]
    fn bodies_that_do_not_shrink_and_disabled_compression_stay_as_received() {
        for (body, compression) in [
            (&b"{}"[..], PayloadCompression::Lz4),
            (&b"{}"[..], PayloadCompression::Zstd),
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
        let zstd = Payload::encode(Bytes::from_static(HELD_OUT), PayloadCompression::Zstd);
        let mut zstd_truncated = zstd.stored().to_vec();
        zstd_truncated.truncate(zstd_truncated.len() / 2);
        let mut zstd_flipped = zstd.stored().to_vec();
        let middle = zstd_flipped.len() / 2;
        zstd_flipped[middle] ^= 0xff;
        let without_dictionary = zstd::bulk::compress(JSON, 3).expect("compresses");
        let mut unknown_size = Vec::new();
        {
            use std::io::Write as _;
            let mut stream = zstd::stream::Encoder::new(&mut unknown_size, 3).expect("encoder");
            stream.write_all(JSON).expect("writes");
            stream.finish().expect("finishes");
        }
        for (encoding, bytes) in [
            ("lz4", truncated),
            ("lz4", huge),
            ("lz4", short),
            ("lz4", vec![1, 2]),
            ("zstd-d1", zstd_truncated),
            ("zstd-d1", zstd_flipped),
            ("zstd-d1", JSON.to_vec()),
            ("zstd-d1", vec![]),
            ("zstd-d1", unknown_size),
            ("zstd-d1", good.stored().to_vec()),
            ("brotli", JSON.to_vec()),
        ] {
            let err = decode(encoding, bytes).expect_err("unreadable");
            assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        }
        // A frame made without the dictionary decodes (zstd needs no dictionary for it) and
        // is what it says it is; the point is that it does not panic or misread.
        let back = decode("zstd-d1", without_dictionary).expect("a plain frame");
        assert_eq!(back, JSON);
    }
}
