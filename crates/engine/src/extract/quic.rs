//! QUIC Initial packets (RFC 9000/9001 for v1, RFC 9369 for v2): the Initial keys derive from
//! the client's first Destination Connection ID, so a passive observer can remove header
//! protection, decrypt the client's Initials, reassemble the CRYPTO stream (Chrome splits and
//! shuffles the ClientHello over several frames and datagrams) and read the ClientHello's SNI,
//! ALPN and versions. Coalesced packets in one datagram are followed.
//!
//! Bounds: [`MAX_CRYPTO`] bytes of CRYPTO stream, [`MAX_PACKETS`] client datagrams inspected;
//! anything that does not decrypt is skipped, never an error.

use super::Extractor;
use crate::flow::PacketCtx;
use crate::model::{AppEvent, TlsEvent};
use ring::aead::{self, quic as hp, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;
use wire::tls;

/// CRYPTO stream bytes kept (a ClientHello with post-quantum key shares is ~2 KB; 16 KiB is
/// generous).
const MAX_CRYPTO: usize = 16 << 10;
/// Client datagrams inspected before giving up.
const MAX_PACKETS: u8 = 16;

const V1: u32 = 0x0000_0001;
const V2: u32 = 0x6b33_43cf;
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f,
    0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e,
    0xd9,
];

/// draft-29..32 Initial salt.
const SALT_D29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8,
    0x99,
];
/// draft-23..28 Initial salt.
const SALT_D23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5,
    0x02,
];

/// Salt, label prefix and Initial type bits of a version. Reserved versions `0x?a?a?a?a`
/// (sent to force version negotiation) are read with the draft-29 salt, as Wireshark 4.0 does
/// and as the interop clients in the corpus protect them (`ndpi/quic_interop_V.pcapng`).
fn version_params(v: u32) -> Option<(&'static [u8; 20], &'static str, u8)> {
    match v {
        V1 => Some((&SALT_V1, "quic", 0)),
        V2 => Some((&SALT_V2, "quicv2", 1)),
        0xff00_001d..=0xff00_0020 => Some((&SALT_D29, "quic", 0)),
        0xff00_0017..=0xff00_001c => Some((&SALT_D23, "quic", 0)),
        v if v & 0x0f0f_0f0f == 0x0a0a_0a0a => Some((&SALT_D29, "quic", 0)),
        _ => None,
    }
}

/// Whether a datagram starts with a QUIC long-header Initial packet of a known version.
pub fn looks_like_initial(p: &[u8]) -> bool {
    if p.len() < 7 || p[0] & 0xc0 != 0xc0 {
        return false;
    }
    version_params(u32::from_be_bytes([p[1], p[2], p[3], p[4]])).is_some_and(|(_, _, ty)| (p[0] >> 4) & 0x03 == ty)
}

/// HKDF output length carrier for ring.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(prk: &hkdf::Prk, label: &str, len: usize) -> Option<Vec<u8>> {
    let full = format!("tls13 {label}");
    let info = [&(len as u16).to_be_bytes()[..], &[full.len() as u8], full.as_bytes(), &[0u8]];
    let okm = prk.expand(&info, Len(len)).ok()?;
    let mut out = vec![0u8; len];
    okm.fill(&mut out).ok()?;
    Some(out)
}

/// The client's Initial packet-protection keys.
pub(crate) struct Keys {
    key: LessSafeKey,
    iv: [u8; 12],
    hp: hp::HeaderProtectionKey,
}

/// Derives the client Initial keys for `version` from the client's first DCID.
pub(crate) fn client_keys(version: u32, dcid: &[u8]) -> Option<(Keys, [Vec<u8>; 3])> {
    let (salt, prefix, _) = version_params(version)?;
    let initial = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(dcid);
    let client = expand_label(&initial, "client in", 32)?;
    let client = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &client);
    let key = expand_label(&client, &format!("{prefix} key"), 16)?;
    let iv = expand_label(&client, &format!("{prefix} iv"), 12)?;
    let hpk = expand_label(&client, &format!("{prefix} hp"), 16)?;
    let keys = Keys {
        key: LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &key).ok()?),
        iv: iv.clone().try_into().ok()?,
        hp: hp::HeaderProtectionKey::new(&hp::AES_128, &hpk).ok()?,
    };
    Some((keys, [key, iv, hpk]))
}

/// A QUIC variable-length integer.
fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let first = *b.get(*at)?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(*at..*at + len)?;
    let mut v = u64::from(first & 0x3f);
    for x in &bytes[1..] {
        v = v << 8 | u64::from(*x);
    }
    *at += len;
    Some(v)
}

/// Takes UDP flows on any port whose originator's first datagram has a QUIC Initial's long
/// header.
pub(super) fn probe(ctx: &PacketCtx<'_>, p: &[u8], from_orig: bool, _at_start: bool) -> Option<Box<dyn Extractor>> {
    (ctx.ip_proto == wire::ipproto::UDP && from_orig && looks_like_initial(p))
        .then(|| Box::new(Quic::default()) as Box<dyn Extractor>)
}

impl Extractor for Quic {
    fn packet(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2] {
        self.read(ctx, events)
    }

    fn finish(&mut self, events: &mut Vec<AppEvent>) -> Option<super::Summary> {
        self.conclude(events)
    }
}

#[derive(Default)]
pub(crate) struct Quic {
    version: u32,
    /// The client's first Destination Connection ID (the Initial keys' input).
    dcid: Vec<u8>,
    /// Boxed: AES key schedules are large and most flows never need them.
    keys: Option<Box<Keys>>,
    crypto: Vec<u8>,
    /// Byte ranges of `crypto` received.
    have: Vec<(usize, usize)>,
    packets: u8,
    event: Option<TlsEvent>,
    done: bool,
}

impl Quic {
    /// One datagram; returns which directions are still read.
    fn read(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2] {
        if self.done || !ctx.from_orig {
            return [!self.done, false];
        }
        self.packets += 1;
        let mut d = ctx.payload;
        // Coalesced packets: each long-header packet says its own length.
        while !d.is_empty() && !self.done {
            match self.long_packet(d) {
                Some(used) if used > 0 && used <= d.len() => d = &d[used..],
                _ => break,
            }
        }
        if !self.done {
            self.try_hello(ctx);
        }
        if self.event.is_some() || self.packets >= MAX_PACKETS {
            self.done = true;
        }
        if self.done {
            if let Some(ev) = &self.event {
                events.push(AppEvent::Tls(ev.clone()));
            }
        }
        [!self.done, false]
    }

    /// Decrypts one long-header packet at the start of `d`; returns its length on the wire.
    fn long_packet(&mut self, d: &[u8]) -> Option<usize> {
        if d.len() < 7 || d[0] & 0x80 == 0 {
            return None;
        }
        let version = u32::from_be_bytes([d[1], d[2], d[3], d[4]]);
        let initial = (d[0] >> 4) & 0x03 == version_params(version)?.2;
        let mut at = 5;
        let dcid_len = usize::from(*d.get(at)?);
        at += 1;
        let dcid = d.get(at..at + dcid_len)?;
        at += dcid_len;
        let scid_len = usize::from(*d.get(at)?);
        at += 1 + scid_len;
        if initial {
            let token_len = varint(d, &mut at)? as usize;
            at = at.checked_add(token_len)?;
        }
        let length = varint(d, &mut at)? as usize;
        let pn_offset = at;
        let end = pn_offset.checked_add(length)?;
        if end > d.len() {
            return None;
        }
        if !initial {
            return Some(end); // Handshake or 0-RTT: other keys.
        }
        if self.keys.is_none() || self.version != version {
            self.version = version;
            self.dcid = dcid.to_vec();
            self.keys = client_keys(version, dcid).map(|k| Box::new(k.0));
        }
        if self.decrypt(&d[..end], pn_offset).is_none() && dcid != self.dcid.as_slice() {
            // After a Retry the client restarts with a new DCID: derive again from it.
            self.dcid = dcid.to_vec();
            self.keys = client_keys(version, dcid).map(|k| Box::new(k.0));
            self.decrypt(&d[..end], pn_offset);
        }
        Some(end)
    }

    /// Removes header protection and decrypts one Initial packet, then reads its frames.
    fn decrypt(&mut self, pkt: &[u8], pn_offset: usize) -> Option<()> {
        let keys = self.keys.as_ref()?;
        let sample = pkt.get(pn_offset + 4..pn_offset + 20)?;
        let mask = keys.hp.new_mask(sample).ok()?;
        let mut header = pkt[..pn_offset].to_vec();
        header[0] ^= mask[0] & 0x0f;
        let pn_len = usize::from(header[0] & 0x03) + 1;
        let pn_bytes = pkt.get(pn_offset..pn_offset + pn_len)?;
        let mut pn = 0u64;
        for (k, b) in pn_bytes.iter().enumerate() {
            let x = b ^ mask[1 + k];
            header.push(x);
            pn = pn << 8 | u64::from(x);
        }
        let mut nonce = keys.iv;
        for (k, b) in pn.to_be_bytes().iter().enumerate() {
            nonce[4 + k] ^= b;
        }
        let mut payload = pkt[pn_offset + pn_len..].to_vec();
        let plain =
            keys.key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&header[..]), &mut payload).ok()?;
        self.frames(plain);
        Some(())
    }

    /// Reads the frames of a decrypted Initial, keeping CRYPTO data.
    fn frames(&mut self, p: &[u8]) {
        let mut at = 0;
        while at < p.len() {
            let Some(ty) = varint(p, &mut at) else { return };
            match ty {
                0x00 | 0x01 => {}
                0x02 | 0x03 => {
                    // ACK: largest, delay, range count, first range, ranges, (ECN counts).
                    let mut fields = || varint(p, &mut at);
                    let (Some(_), Some(_), Some(n), Some(_)) = (fields(), fields(), fields(), fields()) else { return };
                    for _ in 0..n.min(256) {
                        if varint(p, &mut at).is_none() || varint(p, &mut at).is_none() {
                            return;
                        }
                    }
                    if ty == 0x03 {
                        for _ in 0..3 {
                            if varint(p, &mut at).is_none() {
                                return;
                            }
                        }
                    }
                }
                0x06 => {
                    let (Some(off), Some(len)) = (varint(p, &mut at), varint(p, &mut at)) else { return };
                    let (off, len) = (off as usize, len as usize);
                    let Some(data) = p.get(at..at.saturating_add(len)) else { return };
                    at += len;
                    self.crypto_data(off, data);
                }
                // CONNECTION_CLOSE and anything else: nothing more to read here.
                _ => return,
            }
        }
    }

    fn crypto_data(&mut self, off: usize, data: &[u8]) {
        let Some(end) = off.checked_add(data.len()).filter(|e| *e <= MAX_CRYPTO) else { return };
        if self.crypto.len() < end {
            self.crypto.resize(end, 0);
        }
        self.crypto[off..end].copy_from_slice(data);
        if self.have.len() < 256 {
            self.have.push((off, end));
        }
    }

    /// Bytes of the CRYPTO stream contiguous from offset 0.
    fn contiguous(&mut self) -> usize {
        self.have.sort_unstable();
        let mut reach = 0;
        for &(s, e) in &self.have {
            if s > reach {
                break;
            }
            reach = reach.max(e);
        }
        reach
    }

    fn try_hello(&mut self, ctx: &PacketCtx<'_>) {
        let reach = self.contiguous();
        let Ok((typ, blen)) = tls::handshake_header(&self.crypto[..reach]) else { return };
        if typ != 1 {
            self.done = true;
            return;
        }
        if reach < 4 + blen {
            return;
        }
        let Ok(h) = tls::client_hello(&self.crypto[4..4 + blen]) else {
            self.done = true;
            return;
        };
        self.event = Some(super::tls::hello_event(ctx, h, "quic"));
    }

    fn conclude(&mut self, events: &mut Vec<AppEvent>) -> Option<super::Summary> {
        if !self.done {
            if let Some(ev) = &self.event {
                events.push(AppEvent::Tls(ev.clone()));
            }
            self.done = true;
        }
        let ev = self.event.take()?;
        Some(super::Summary { service: "quic", name: ev.sni.map(|s| (s.to_ascii_lowercase(), "quic-sni")) })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn initial_keys_match_the_rfcs() {
        let dcid = hex("8394c8f03e515708");
        // RFC 9001 Appendix A.1.
        let (_, [key, iv, hpk]) = client_keys(V1, &dcid).unwrap();
        assert_eq!(key, hex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(iv, hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(hpk, hex("9f50449e04a0e810283a1e9933adedd2"));
        // RFC 9369 Appendix A.1.
        let (_, [key, iv, hpk]) = client_keys(V2, &dcid).unwrap();
        assert_eq!(key, hex("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(iv, hex("91f73e2351d8fa91660e909f"));
        assert_eq!(hpk, hex("45b95e15235d6f45a6b19cbcb0294ba9"));
    }

    #[test]
    fn varints_and_probe() {
        let b = hex("c2197c5eff14e88c9d7f");
        let mut at = 0;
        assert_eq!(varint(&b, &mut at), Some(151_288_809_941_952_652));
        let mut at = 0;
        assert_eq!(varint(&hex("7bbd"), &mut at), Some(15_293));
        assert!(looks_like_initial(&hex("c0000000010800")));
        assert!(!looks_like_initial(&hex("e0000000010800")), "a v1 Handshake packet is not an Initial");
        assert!(looks_like_initial(&hex("d06b3343cf0800")), "v2 Initial type bits are 01");
        assert!(!looks_like_initial(&hex("40000000010800")));
        assert!(looks_like_initial(&hex("c00a0a0a0a0800")), "reserved versions force negotiation");
        assert!(looks_like_initial(&hex("c0ff00001d0800")), "draft-29");
    }
}
