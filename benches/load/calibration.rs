//! What this machine charges for what every forwarded copy costs, measured
//! in the same run as the `media` scenario, so that the server's CPU per
//! packet reads as a multiple of it on a shared machine whose speed varies.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use conclave_media::peer::VP8_PT;

/// CPU time, in this thread, since it started (s).
fn thread_cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// The other thing every copy costs: SRTP protection (AES-128-GCM, what
/// the server negotiates) of one 1,000-byte RTP packet, through the same
/// `rtc` SRTP context the server uses. In µs.
pub(super) fn srtp_seal_cost() -> Option<f64> {
    use conclave_media::rtc::srtp::context::Context;
    use conclave_media::rtc::srtp::protection_profile::ProtectionProfile;
    let provider = conclave_media::rtc::crypto::default_provider().ok()?;
    let mut ctx = Context::new(
        &[7u8; 16],
        &[9u8; 12],
        ProtectionProfile::AeadAes128Gcm,
        None,
        None,
        provider.crypto(),
    )
    .ok()?;
    let mut packet = vec![0x80u8, VP8_PT, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
    packet.resize(12 + 1000, 0x55);
    const N: u32 = 50_000;
    let start = thread_cpu();
    for seq in 0..N {
        packet[2..4].copy_from_slice(&(seq as u16).to_be_bytes());
        std::hint::black_box(ctx.encrypt_rtp(&packet).ok()?);
    }
    Some((thread_cpu() - start) * 1e6 / f64::from(N))
}

/// What this machine charges for the one thing forwarding cannot avoid:
/// the sender's CPU time per 1,000-byte datagram sent on loopback with
/// `sendmmsg`, 16 to a call, as the server sends (loopback delivery into the
/// receiver's queue runs in the sender's system call, as it does for the
/// server). A thread of its own drains the receiver. Taken in the same run,
/// so that the server's CPU per packet reads as a multiple of it on a
/// shared machine whose speed varies from day to day. In µs.
pub(super) fn udp_send_cost() -> Option<f64> {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    let rx = UdpSocket::bind("127.0.0.1:0").ok()?;
    let to = rx.local_addr().ok()?;
    rx.set_read_timeout(Some(Duration::from_millis(200))).ok()?;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drain = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !done.load(Ordering::Relaxed) {
                let _ = rx.recv(&mut buf);
            }
        })
    };
    let tx = UdpSocket::bind("127.0.0.1:0").ok()?;
    tx.connect(to).ok()?;
    let payload = [0x55u8; 1000];
    const BATCH: usize = 16;
    const ROUNDS: usize = 6_000;
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: every header points at the one iovec above, which points at
    // `payload`; both outlive the calls. The socket is connected, so no
    // address is given.
    let mut headers: Vec<libc::mmsghdr> = (0..BATCH)
        .map(|_| {
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = &mut iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    let mut sent = 0usize;
    let start = thread_cpu();
    for round in 0..ROUNDS {
        // SAFETY: as above; `headers` holds BATCH valid entries.
        let n = unsafe {
            libc::sendmmsg(
                tx.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                0,
            )
        };
        if n > 0 {
            sent += n as usize;
        }
        // Stay below what the drain keeps up with: a full receive queue
        // drops, and a dropped datagram costs the sender less.
        if round % 8 == 7 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let cpu = thread_cpu() - start;
    done.store(true, Ordering::Relaxed);
    let _ = drain.join();
    (sent > 0).then(|| cpu * 1e6 / sent as f64)
}
