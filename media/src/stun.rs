//! Just enough STUN to route a datagram on the shared media port: a binding
//! request names the connection it is for in its USERNAME attribute
//! (`<receiver's ufrag>:<sender's ufrag>`, RFC 8445 §7.2.2), and the
//! server's ufrag is unique per connection. Everything else (integrity,
//! the response) is the connection's own ICE agent's business.

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const HEADER: usize = 20;
const USERNAME: u16 = 0x0006;

/// Whether `packet` looks like STUN (RFC 7983 demultiplexing: first byte
/// 0..=3, and the magic cookie).
pub fn is_stun(packet: &[u8]) -> bool {
    packet.len() >= HEADER && packet[0] < 4 && packet[4..8] == MAGIC_COOKIE
}

/// The receiver's ufrag of a STUN message's USERNAME, if it has one.
pub fn local_ufrag(packet: &[u8]) -> Option<&str> {
    if !is_stun(packet) {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let body = packet.get(HEADER..HEADER + length)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let len = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + len)?;
        if kind == USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            return username.split(':').next().filter(|u| !u.is_empty());
        }
        // Attributes are padded to four bytes.
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(attributes: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (kind, value) in attributes {
            body.extend_from_slice(&kind.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            body.resize(body.len().div_ceil(4) * 4, 0);
        }
        let mut p = vec![0x00, 0x01];
        p.extend_from_slice(&(body.len() as u16).to_be_bytes());
        p.extend_from_slice(&MAGIC_COOKIE);
        p.extend_from_slice(&[7; 12]);
        p.extend_from_slice(&body);
        p
    }

    #[test]
    fn the_receivers_ufrag_is_read_past_other_attributes() {
        let p = binding_request(&[(0x0024, &[0, 0, 0, 1]), (USERNAME, b"srvUfrag:cli")]);
        assert_eq!(local_ufrag(&p), Some("srvUfrag"));
        // A padded attribute before it.
        let p = binding_request(&[(0x8022, b"abc"), (USERNAME, b"x:y")]);
        assert_eq!(local_ufrag(&p), Some("x"));
    }

    #[test]
    fn media_and_malformed_messages_have_none() {
        // An RTP packet (version 2).
        assert_eq!(local_ufrag(&[0x80; 40]), None);
        // No USERNAME.
        assert_eq!(local_ufrag(&binding_request(&[(0x0024, &[0; 4])])), None);
        // A length that runs past the datagram.
        let mut p = binding_request(&[(USERNAME, b"abcd:efgh")]);
        p[2] = 0xff;
        assert_eq!(local_ufrag(&p), None);
        let mut p = binding_request(&[(USERNAME, b"abcd:efgh")]);
        p.truncate(26);
        p[2..4].copy_from_slice(&6u16.to_be_bytes());
        assert_eq!(local_ufrag(&p), None);
        assert_eq!(local_ufrag(&binding_request(&[(USERNAME, b":x")])), None);
        assert_eq!(local_ufrag(&[]), None);
    }
}
