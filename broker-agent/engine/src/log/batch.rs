//! Record batches (message format v2) as stored: the fixed header is read and checked here;
//! the records inside stay exactly as the producer sent them (compressed or not).
//! Layout: baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8, crc u32
//! (CRC-32C of everything after it), attributes i16, lastOffsetDelta i32, baseTimestamp i64,
//! maxTimestamp i64, producerId i64, producerEpoch i16, baseSequence i32, recordCount i32.

/// Bytes before the records of a v2 batch.
pub const HEADER_LEN: usize = 61;
/// Bytes up to and including `magic`: enough to know a batch's length and format.
pub const LOG_OVERHEAD: usize = 17;
const CRC_START: usize = 21;
const MAGIC_V2: i8 = 2;

/// Why a batch was refused; each maps to the Kafka error code a broker would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("the record batch is truncated or its length field is wrong")]
    Truncated,
    #[error("message format v{0} is not supported; use a client that sends v2 record batches")]
    UnsupportedMagic(i8),
    #[error("the record batch CRC does not match its contents")]
    Crc,
    #[error("the record batch header is invalid: {0}")]
    Invalid(&'static str),
}

/// The fixed header of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes of the whole batch, header included.
    pub size: usize,
    pub leader_epoch: i32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// The size of the batch starting at `b`, from its length field, without checking more.
    pub fn peek_size(b: &[u8]) -> Option<usize> {
        if b.len() < 12 {
            return None;
        }
        let len = i32_at(b, 8);
        (len >= 0).then(|| 12 + len as usize)
    }

    /// Reads the header from the first `HEADER_LEN` bytes of a batch (the rest need not be
    /// there).
    pub fn parse_prefix(b: &[u8]) -> Result<BatchHeader, BatchError> {
        if b.len() < LOG_OVERHEAD {
            return Err(BatchError::Truncated);
        }
        let magic = b[16] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        if b.len() < HEADER_LEN {
            return Err(BatchError::Truncated);
        }
        let size = Self::peek_size(b).ok_or(BatchError::Truncated)?;
        if size < HEADER_LEN {
            return Err(BatchError::Invalid(
                "batch length is smaller than the header",
            ));
        }
        Ok(BatchHeader {
            base_offset: i64_at(b, 0),
            size,
            leader_epoch: i32_at(b, 12),
            attributes: i16_at(b, 21),
            last_offset_delta: i32_at(b, 23),
            base_timestamp: i64_at(b, 27),
            max_timestamp: i64_at(b, 35),
            producer_id: i64_at(b, 43),
            producer_epoch: i16_at(b, 51),
            base_sequence: i32_at(b, 53),
            record_count: i32_at(b, 57),
        })
    }

    /// Reads the header of the batch at the start of `b`, which must hold the whole batch.
    pub fn parse(b: &[u8]) -> Result<BatchHeader, BatchError> {
        let h = Self::parse_prefix(b)?;
        if b.len() < h.size {
            return Err(BatchError::Truncated);
        }
        Ok(h)
    }

    /// Parses and checks a whole batch: format, lengths, counts and CRC.
    pub fn validate(b: &[u8]) -> Result<BatchHeader, BatchError> {
        let h = Self::parse(b)?;
        let stored = u32::from_be_bytes([b[17], b[18], b[19], b[20]]);
        if crc32c::crc32c(&b[CRC_START..h.size]) != stored {
            return Err(BatchError::Crc);
        }
        if h.record_count < 0 || h.last_offset_delta < 0 {
            return Err(BatchError::Invalid("negative record count or offset delta"));
        }
        if !h.is_control() && h.record_count != h.last_offset_delta + 1 {
            return Err(BatchError::Invalid(
                "record count does not match the offset delta",
            ));
        }
        Ok(h)
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// Records per batch count towards `flush.messages`.
    pub fn records(&self) -> u64 {
        u64::try_from(self.record_count).unwrap_or(0)
    }
}

/// Sets the base offset of the batch at the start of `b` (not covered by the CRC).
pub fn set_base_offset(b: &mut [u8], offset: i64) {
    b[0..8].copy_from_slice(&offset.to_be_bytes());
}

/// Sets the partition leader epoch of the batch at the start of `b` (not covered by the CRC).
pub fn set_leader_epoch(b: &mut [u8], epoch: i32) {
    b[12..16].copy_from_slice(&epoch.to_be_bytes());
}

/// Splits the records of a produce request into the byte ranges of its batches, checking
/// each one.
pub fn split(records: &[u8]) -> Result<Vec<(std::ops::Range<usize>, BatchHeader)>, BatchError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let h = BatchHeader::validate(&records[at..])?;
        out.push((at..at + h.size, h));
        at += h.size;
    }
    if out.is_empty() {
        return Err(BatchError::Invalid("the request carries no record batch"));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use super::*;

    /// A real batch of `n` records made by the protocol crate's encoder.
    pub fn batch(n: usize, timestamp: i64, compression: Compression) -> Vec<u8> {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32, // the encoder groups records whose offset - sequence agree
                timestamp: timestamp + i as i64,
                key: Some(format!("k{i}").into_bytes().into()),
                value: Some(vec![b'v'; 100].into()),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .expect("encode");
        buf.to_vec()
    }

    #[test]
    fn real_batches_validate_and_corruption_is_caught() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let b = batch(5, 1_000, c);
            let h = BatchHeader::validate(&b).expect("valid");
            assert_eq!(
                (h.record_count, h.last_offset_delta, h.size),
                (5, 4, b.len())
            );
            assert_eq!(h.max_timestamp, 1_004);
        }
        let mut b = batch(3, 1_000, Compression::None);
        set_base_offset(&mut b, 42);
        set_leader_epoch(&mut b, 7);
        let h = BatchHeader::validate(&b).expect("offset and epoch are outside the CRC");
        assert_eq!(
            (h.base_offset, h.leader_epoch, h.last_offset()),
            (42, 7, 44)
        );

        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert_eq!(BatchHeader::validate(&b), Err(BatchError::Crc));
        assert_eq!(BatchHeader::validate(&b[..30]), Err(BatchError::Truncated));
        let mut old = batch(1, 0, Compression::None);
        old[16] = 1;
        assert_eq!(
            BatchHeader::validate(&old),
            Err(BatchError::UnsupportedMagic(1))
        );
    }

    #[test]
    fn requests_split_into_batches() {
        let mut two = batch(2, 0, Compression::None);
        two.extend(batch(3, 0, Compression::Gzip));
        let parts = split(&two).expect("split");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].1.record_count, 3);
        assert!(split(&[]).is_err());
        assert_eq!(split(&two[..two.len() - 1]), Err(BatchError::Truncated));
    }
}
