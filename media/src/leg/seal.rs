//! SRTP for the RTP a leg sends, with AES-128-GCM (RFC 7714): each copy
//! sealed in the buffer it goes out in.
//!
//! Sealed by the rtc crate's context, every copy was looked up twice in a
//! SipHash map of per-SSRC state and copied once more into a fresh buffer
//! (docs/performance.md): about half of what its seal cost. RTCP, and RTP
//! under the other profile (AES-CM with HMAC-SHA1), stay with rtc's
//! context.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use bytes::BytesMut;
use rtc::crypto::{
    AeadAlgorithm, AeadCipher, BlockCipherAlgorithm, CryptoError, RTCCrypto, SecretVec,
};

/// AES-GCM's tag, which SRTP appends to each packet.
pub const TAG: usize = 16;

/// RFC 3711's key derivation labels.
const LABEL_ENCRYPTION: u8 = 0x00;
const LABEL_SALT: u8 = 0x02;

pub struct GcmRtp {
    cipher: Box<dyn AeadCipher>,
    salt: [u8; 12],
    /// The highest packet index (RFC 3711 §3.3.1: the rollover count and
    /// the sequence number) sent on each SSRC. Never forgotten: an SSRC
    /// that came back with its count restarted would seal two packets
    /// under one nonce (and a copy sent again must be the same bytes:
    /// leg/copies.rs).
    sent: HashMap<u32, u64, BuildHasherDefault<SsrcHasher>>,
}

impl GcmRtp {
    /// From the master key and salt DTLS exported (`crypto` is the
    /// handshake's provider).
    pub(super) fn new(
        crypto: &dyn RTCCrypto,
        master_key: &[u8],
        master_salt: &[u8],
    ) -> Result<Self, CryptoError> {
        // Zeroed when dropped, as rtc's own session keys are.
        let mut key = SecretVec::new(vec![0; 16]);
        derive(
            crypto,
            LABEL_ENCRYPTION,
            master_key,
            master_salt,
            key.as_mut(),
        )?;
        let mut salt_block = [0; 16];
        derive(crypto, LABEL_SALT, master_key, master_salt, &mut salt_block)?;
        let mut salt = [0; 12];
        salt.copy_from_slice(&salt_block[..12]);
        let cipher = crypto.new_aead(AeadAlgorithm::Aes128Gcm, key.as_ref())?;
        if cipher.tag_len() != TAG {
            return Err(CryptoError::InvalidTagLength {
                expected: TAG,
                actual: cipher.tag_len(),
            });
        }
        Ok(Self {
            cipher,
            salt,
            sent: HashMap::default(),
        })
    }

    /// Seals `packet`, an RTP packet whose first `header` bytes are its
    /// header (authenticated, not encrypted), and appends the tag.
    pub(super) fn seal(
        &mut self,
        packet: &mut BytesMut,
        header: usize,
        ssrc: u32,
        seq: u16,
    ) -> Result<(), SealError> {
        if header > packet.len() {
            return Err(SealError::Short);
        }
        let index = self.index(ssrc, seq).ok_or(SealError::Exhausted)?;
        // RFC 7714 §8.1: 00 00, SSRC, ROC, SEQ, exclusive-or the salt.
        let mut nonce = [0; 12];
        nonce[2..6].copy_from_slice(&ssrc.to_be_bytes());
        nonce[6..12].copy_from_slice(&index.to_be_bytes()[2..]);
        for (n, s) in nonce.iter_mut().zip(self.salt) {
            *n ^= s;
        }
        let mut tag = [0; TAG];
        let (aad, body) = packet.split_at_mut(header);
        self.cipher
            .seal_in_place(&nonce, aad, body, &mut tag)
            .map_err(SealError::Crypto)?;
        packet.extend_from_slice(&tag);
        Ok(())
    }

    /// The packet index of `seq` on `ssrc`, its rollover count guessed
    /// from the highest index sent as a receiver guesses it (RFC 3711
    /// §3.3.1, libsrtp's branches, ties included), so a copy sent again
    /// from before a wrap keeps its count. `None` past 2^48 packets.
    fn index(&mut self, ssrc: u32, seq: u16) -> Option<u64> {
        const HALF: u16 = 1 << 15;
        let highest = self.sent.entry(ssrc).or_insert(u64::from(seq));
        let (roc, local) = (*highest >> 16, *highest as u16);
        let roc = if local < HALF {
            if seq.saturating_sub(local) > HALF {
                roc.saturating_sub(1)
            } else {
                roc
            }
        } else if local - HALF > seq {
            roc + 1
        } else {
            roc
        };
        if roc >= 1 << 32 {
            return None;
        }
        let index = (roc << 16) | u64::from(seq);
        *highest = (*highest).max(index);
        Some(index)
    }
}

/// Why a packet was not sealed.
#[derive(Debug)]
pub enum SealError {
    /// Shorter than the header it was said to have.
    Short,
    /// 2^48 packets on one SSRC (RFC 3711 §9.2): the keys must change.
    Exhausted,
    Crypto(CryptoError),
}

/// RFC 3711 §4.3.3, with a key derivation rate of 0 (RFC 5764): the
/// first block of AES-CM keyed by the master key, at the master salt with
/// `label` mixed in. The salt sits at the block's start, as the rtc crate
/// (and so the other direction's context) places it.
/// `block` is a 16-byte buffer the result is written to.
fn derive(
    crypto: &dyn RTCCrypto,
    label: u8,
    master_key: &[u8],
    master_salt: &[u8],
    block: &mut [u8],
) -> Result<(), CryptoError> {
    block.fill(0);
    let n = master_salt.len().min(14);
    block[..n].copy_from_slice(&master_salt[..n]);
    block[7] ^= label;
    crypto.block_encrypt(BlockCipherAlgorithm::Aes128, master_key, block)
}

/// SSRCs are random, so a multiply spreads them; SipHash is for keys an
/// attacker picks, and these are the server's own.
#[derive(Default)]
pub struct SsrcHasher(u64);

impl Hasher for SsrcHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests;
