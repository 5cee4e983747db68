//! A SIP caller of our own over UDP, for the load tool's phone scenario
//! (included by path) and tests that need what baresip will not do (SIP
//! INFO keys, a re-INVITE, a caller that never sends RTP, a flood): an
//! INVITE with a PCMU offer, its ACK, requests in the dialog sent again
//! each second until a final answer, and the server's own requests (a BYE)
//! answered.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

/// One caller's SIP dialog, from the caller's side.
pub struct Dialog {
    pub sip: UdpSocket,
    server: SocketAddr,
    call_id: String,
    from: String,
    /// With the server's tag once answered.
    pub to: String,
    cseq: u32,
}

impl Dialog {
    pub fn request(&self, method: &str, extra: &str, body: &str) -> String {
        let me = self.sip.local_addr().unwrap();
        format!(
            "{method} sip:conclave@{server} SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n\
{from}\r\n{to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
Contact: <sip:load@{me}>\r\n{extra}Content-Length: {len}\r\n\r\n{body}",
            server = self.server,
            branch = uuid::Uuid::new_v4().simple(),
            from = self.from,
            to = self.to,
            call_id = self.call_id,
            cseq = self.cseq,
            len = body.len(),
        )
    }

    /// Sends a request until a final answer comes (UDP: again each second,
    /// 10 times at most); answers the final response.
    pub async fn transact(
        &mut self,
        method: &str,
        extra: &str,
        body: &str,
    ) -> Result<String, String> {
        self.cseq += 1;
        let text = self.request(method, extra, body);
        let mut buf = vec![0u8; 8192];
        for _ in 0..10 {
            self.sip
                .send_to(text.as_bytes(), self.server)
                .await
                .map_err(|e| e.to_string())?;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
            while let Ok(got) =
                tokio::time::timeout_at(deadline, self.sip.recv_from(&mut buf)).await
            {
                let (n, _) = got.map_err(|e| e.to_string())?;
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                let cseq = format!("CSeq: {} {method}", self.cseq);
                if m.starts_with("SIP/2.0 1") || !m.starts_with("SIP/2.0") || !m.contains(&cseq) {
                    continue;
                }
                return Ok(m);
            }
        }
        Err(format!("no answer to {method}"))
    }

    /// The ACK of the last INVITE's final answer (the same CSeq number).
    pub async fn ack(&self) -> Result<(), String> {
        let ack = self.request("ACK", "", "");
        self.sip
            .send_to(ack.as_bytes(), self.server)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The next request the server sends (a BYE), answered 200, within
    /// `secs`; responses meanwhile are passed over.
    pub async fn answer_next_request(&mut self, secs: u64) -> Result<String, String> {
        let mut buf = vec![0u8; 8192];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let (n, from) = tokio::time::timeout_at(deadline, self.sip.recv_from(&mut buf))
                .await
                .map_err(|_| format!("no request within {secs} s"))?
                .map_err(|e| e.to_string())?;
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if m.starts_with("SIP/2.0") {
                continue;
            }
            let echo: String = m
                .lines()
                .filter(|l| {
                    let l = l.to_ascii_lowercase();
                    ["via:", "from:", "to:", "call-id:", "cseq:"]
                        .iter()
                        .any(|h| l.starts_with(h))
                })
                .map(|l| format!("{l}\r\n"))
                .collect();
            let ok = format!("SIP/2.0 200 OK\r\n{echo}Content-Length: 0\r\n\r\n");
            self.sip
                .send_to(ok.as_bytes(), from)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(m);
        }
    }
}

/// The address an SDP body names for its audio.
pub fn sdp_audio(m: &str) -> Option<SocketAddr> {
    let body = m.split("\r\n\r\n").nth(1)?;
    let ip = body.lines().find_map(|l| l.strip_prefix("c=IN IP4 "))?;
    let port = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?;
    format!("{}:{port}", ip.trim()).parse().ok()
}

/// Dials in and types the code: answers the dialog and where the server
/// wants this caller's RTP.
pub async fn dial(
    sip_port: u16,
    number: &str,
    rtp: &UdpSocket,
) -> Result<(Dialog, SocketAddr), String> {
    let sip = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let mut d = Dialog {
        sip,
        server: SocketAddr::from(([127, 0, 0, 1], sip_port)),
        call_id: format!("{}@uac", uuid::Uuid::new_v4().simple()),
        from: format!(
            "From: <sip:{number}@127.0.0.1>;tag={}",
            uuid::Uuid::new_v4().simple()
        ),
        to: "To: <sip:conclave@127.0.0.1>".into(),
        cseq: 0,
    };
    let port = rtp.local_addr().map_err(|e| e.to_string())?.port();
    let ok = d
        .transact(
            "INVITE",
            "Content-Type: application/sdp\r\n",
            &offer(port, 1),
        )
        .await?;
    if !ok.starts_with("SIP/2.0 200") {
        return Err(ok.lines().next().unwrap_or_default().to_owned());
    }
    d.to = ok
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
        .ok_or("no To")?
        .to_owned();
    let media = sdp_audio(&ok).ok_or("no audio in the answer")?;
    d.ack().await?;
    Ok((d, media))
}

/// PCMU and telephone-event at `port` on loopback; `version` counts the
/// offers of one session.
pub fn offer(port: u16, version: u32) -> String {
    format!(
        "v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=ptime:20\r\na=sendrecv\r\n"
    )
}

/// Types `keys` as SIP INFO, one transaction each.
pub async fn keys(d: &mut Dialog, keys: &str) -> Result<(), String> {
    for key in keys.chars() {
        let body = format!("Signal={key}\r\nDuration=160\r\n");
        let answer = d
            .transact("INFO", "Content-Type: application/dtmf-relay\r\n", &body)
            .await?;
        if !answer.starts_with("SIP/2.0 200") {
            return Err(answer.lines().next().unwrap_or_default().to_owned());
        }
    }
    Ok(())
}
