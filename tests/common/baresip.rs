//! Debian's `baresip`, a SIP client no one here wrote, as a test caller:
//! its own configuration folder per instance, a WAV file as its
//! microphone, every call's received audio dumped by its `sndfile`
//! module, and driven through its `ctrl_tcp` module (JSON in netstrings:
//! commands in, responses and call events out). ../shared/notes/baresip.md

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Baresip {
    child: Child,
    dir: tempfile::TempDir,
    ctrl: TcpStream,
    buffer: Vec<u8>,
    token: u64,
    /// Events read while waiting for something else.
    pub events: Vec<Value>,
}

/// A free TCP and UDP port on loopback.
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A SIP edge on loopback at `port` that takes calls from loopback
/// addresses, its RTP on `rtp_ports` ports from `rtp_min`.
pub fn loopback_sip(port: u16, rtp_min: u16, rtp_ports: u16) -> conclave::sip::SipConfig {
    conclave::sip::SipConfig {
        listen: ([127, 0, 0, 1], port).into(),
        rtp_port_min: rtp_min,
        rtp_port_max: rtp_min + rtp_ports - 1,
        trunks: vec![conclave::sip::trunks::TrunkConfig {
            name: "test".into(),
            addresses: vec!["127.0.0.0/8".into()],
            username: None,
            password: None,
            trusted_identity: false,
        }],
        ..conclave::sip::SipConfig::default()
    }
}

/// A mono 16-bit 8 kHz WAV file of a sine at `hz`, `seconds` long.
pub fn sine_wav(path: &Path, hz: f64, seconds: u32) {
    let n = 8000 * seconds;
    let mut bytes = Vec::with_capacity(44 + n as usize * 2);
    bytes.extend(b"RIFF");
    bytes.extend((36 + n * 2).to_le_bytes());
    bytes.extend(b"WAVEfmt ");
    bytes.extend(16u32.to_le_bytes());
    bytes.extend(1u16.to_le_bytes());
    bytes.extend(1u16.to_le_bytes());
    bytes.extend(8000u32.to_le_bytes());
    bytes.extend(16000u32.to_le_bytes());
    bytes.extend(2u16.to_le_bytes());
    bytes.extend(16u16.to_le_bytes());
    bytes.extend(b"data");
    bytes.extend((n * 2).to_le_bytes());
    for i in 0..n {
        let s = (f64::from(i) * hz * 2.0 * std::f64::consts::PI / 8000.0).sin() * 8000.0;
        bytes.extend((s as i16).to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// What a WAV file holds, as samples (16-bit PCM, any header length).
pub fn wav_samples(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(4)
        .position(|w| w == b"data")
        .expect("a data chunk")
        + 8;
    bytes[at..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// Root mean square of a stretch of samples.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

impl Baresip {
    /// Starts a caller whose SIP identity is `number` at 127.0.0.1, its
    /// microphone a 440 Hz tone; `password` is for a trunk's digest.
    pub async fn start(number: &str, password: Option<&str>) -> Self {
        Self::start_with_tone(number, password, 440.0).await
    }

    /// As [`Baresip::start`], its microphone a tone of `hz`.
    pub async fn start_with_tone(number: &str, password: Option<&str>, hz: f64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        sine_wav(&d.join("mic.wav"), hz, 120);
        std::fs::create_dir_all(d.join("heard")).unwrap();
        // A port found free may be taken again before baresip binds it
        // (tests run side by side): then baresip exits, and it is started
        // again on other ports.
        for _ in 0..5 {
            let (sip, ctrl) = (free_port(), free_port());
            let config = format!(
                "module_path /usr/lib/baresip/modules\n\
                 sip_listen 127.0.0.1:{sip}\n\
                 audio_source aufile,{mic}\n\
                 audio_player aufile,{sink}\n\
                 audio_alert aufile,{sink}\n\
                 module g711.so\nmodule aufile.so\nmodule sndfile.so\nmodule ctrl_tcp.so\n\
                 ctrl_tcp_listen 127.0.0.1:{ctrl}\n\
                 snd_path {heard}\n\
                 module_app account.so\nmodule_app menu.so\n",
                mic = d.join("mic.wav").display(),
                sink = d.join("sink.wav").display(),
                heard = d.join("heard").display(),
            );
            std::fs::write(d.join("config"), config).unwrap();
            let auth = password.map_or(String::new(), |p| format!(";auth_user=pbx;auth_pass={p}"));
            std::fs::write(
                d.join("accounts"),
                format!("<sip:{number}@127.0.0.1>;regint=0{auth}\n"),
            )
            .unwrap();
            let log = std::fs::File::create(d.join("baresip.log")).unwrap();
            let mut child = Command::new("baresip")
                .arg("-f")
                .arg(d)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("baresip is installed (scripts/test installs it)");
            let mut connected = None;
            for _ in 0..200 {
                if let Ok(s) = TcpStream::connect(("127.0.0.1", ctrl)).await {
                    connected = Some(s);
                    break;
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            match connected {
                Some(ctrl) => {
                    return Self {
                        child,
                        dir,
                        ctrl,
                        buffer: Vec::new(),
                        token: 0,
                        events: Vec::new(),
                    }
                }
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        let log = std::fs::read_to_string(dir.path().join("baresip.log")).unwrap_or_default();
        panic!("baresip's control port did not open in five tries; its log:\n{log}");
    }

    async fn read_one(&mut self) -> Value {
        loop {
            if let Some(colon) = self.buffer.iter().position(|b| *b == b':') {
                let len: usize = std::str::from_utf8(&self.buffer[..colon])
                    .unwrap()
                    .parse()
                    .unwrap();
                if self.buffer.len() > colon + len + 1 {
                    let body = self.buffer[colon + 1..colon + 1 + len].to_vec();
                    self.buffer.drain(..colon + len + 2);
                    return serde_json::from_slice(&body).unwrap();
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .ctrl
                .read(&mut chunk)
                .await
                .expect("baresip's control port");
            assert!(n > 0, "baresip closed its control port");
            self.buffer.extend(&chunk[..n]);
        }
    }

    /// Runs a command and returns its response.
    pub async fn command(&mut self, command: &str, params: &str) -> Value {
        self.token += 1;
        let token = self.token.to_string();
        let body = json!({"command": command, "params": params, "token": token}).to_string();
        let framed = format!("{}:{},", body.len(), body);
        self.ctrl.write_all(framed.as_bytes()).await.unwrap();
        loop {
            let m = self.read_one().await;
            if m["response"] == true && m["token"] == token.as_str() {
                return m;
            }
            self.events.push(m);
        }
    }

    /// Waits for a call event of `kind` (`CALL_ESTABLISHED`, `CALL_CLOSED`).
    pub async fn event(&mut self, kind: &str, secs: u64) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["type"] == kind) {
            return self.events.remove(i);
        }
        tokio::time::timeout(Duration::from_secs(secs), async {
            loop {
                let m = self.read_one().await;
                if m["type"] == kind {
                    return m;
                }
                self.events.push(m);
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {kind} from baresip in {secs} s; saw {:?}", self.events))
    }

    pub async fn dial(&mut self, uri: &str) {
        let r = self.command("dial", uri).await;
        assert_eq!(r["ok"], true, "{r}");
    }

    /// Sends keys as RFC 4733 events, one after another.
    pub async fn keys(&mut self, keys: &str) {
        for key in keys.chars() {
            let r = self.command("sndcode", &key.to_string()).await;
            assert_eq!(r["ok"], true, "{r}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn hang_up(&mut self) {
        self.command("hangup", "").await;
    }

    /// What the caller heard in its latest call (the file is complete once
    /// the call has closed).
    pub fn heard(&self) -> Vec<i16> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("heard"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        files.sort();
        wav_samples(files.last().expect("a recording of the call"))
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The loudness envelope of `samples`: mean magnitude per 5 ms.
fn envelope(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks(40)
        .map(|c| c.iter().map(|s| f64::from(*s).abs()).sum::<f64>() / c.len() as f64)
        .collect()
}

/// How well the prompt recording `prompt` (a file of src/sip/prompts)
/// matches somewhere in `heard`: the best Pearson correlation of their
/// loudness envelopes, from -1 to 1. Robust to G.711's distortion and to
/// where in the call the prompt played.
pub fn prompt_match(heard: &[i16], prompt: &str) -> f64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/sip/prompts")
        .join(format!("{prompt}.wav"));
    let p = envelope(&wav_samples(&path));
    let h = envelope(heard);
    if h.len() < p.len() {
        return -1.0;
    }
    let n = p.len() as f64;
    let p_mean = p.iter().sum::<f64>() / n;
    let p_dev: Vec<f64> = p.iter().map(|x| x - p_mean).collect();
    let p_norm = p_dev.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut best = -1.0f64;
    for start in 0..=h.len() - p.len() {
        let w = &h[start..start + p.len()];
        let w_mean = w.iter().sum::<f64>() / n;
        let (mut dot, mut w_sq) = (0.0, 0.0);
        for (a, b) in w.iter().zip(&p_dev) {
            let d = a - w_mean;
            dot += d * b;
            w_sq += d * d;
        }
        if w_sq > 0.0 {
            best = best.max(dot / (w_sq.sqrt() * p_norm));
        }
    }
    best
}
