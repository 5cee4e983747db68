//! SIP messages in and out, through `ezk-sip-types`: the head is split into
//! lines by its pull parser, the start line and every header we act on are
//! parsed by its typed parsers, and what we send is printed from its types.
//! Pure, so that the fuzz target `sip_message` drives exactly what the edge
//! runs.

use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{CSeq, CallID, Contact, FromTo, Via};
use ezk_sip_types::msg::{Line, MessageLine, PullParser, RequestLine, StatusLine};
use ezk_sip_types::parse::Parse;
use ezk_sip_types::uri::SipUri;
use ezk_sip_types::{Headers, Method, Name, StatusCode};

/// Largest message taken, head and body (a UDP datagram's worth; an
/// INVITE with its SDP is about 1 KiB).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Headers taken in one message.
const MAX_HEADERS: usize = 64;

/// Why a message is not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Malformed {
    /// More bytes are needed (a stream transport waits for them).
    Incomplete,
    TooLarge,
    /// Not SIP: dropped without an answer.
    Garbage,
    /// A request whose mandatory headers cannot be read: answered 400
    /// when it can be (its Via, Call-ID, CSeq, From and To read).
    BadRequest(&'static str),
}

/// One parsed message with the headers every transaction needs.
#[derive(Debug, Clone)]
pub struct Message {
    pub line: MessageLine,
    pub headers: Headers,
    pub body: Bytes,
    pub call_id: BytesStr,
    pub cseq: CSeq,
    pub from: FromTo,
    pub to: FromTo,
    /// The topmost Via's branch.
    pub branch: Option<BytesStr>,
}

impl Message {
    pub fn method(&self) -> Option<&Method> {
        self.line.request_method()
    }

    pub fn status(&self) -> Option<u16> {
        match &self.line {
            MessageLine::Response(s) => Some(s.code.into_u16()),
            MessageLine::Request(_) => None,
        }
    }

    pub fn header(&self, name: &str) -> Option<&BytesStr> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_print_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn content_type(&self) -> Option<String> {
        self.headers.get_raw(&Name::CONTENT_TYPE).next().map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// The Contact's URI, where in-dialog requests go.
    pub fn contact(&self) -> Option<SipUri> {
        self.headers.get_named::<Contact>().ok().map(|c| c.uri.uri)
    }
}

/// Bytes of the first complete message at the head of `input` and the
/// message, or why there is none. `stream` (TCP) requires Content-Length.
pub fn parse(input: &[u8], stream: bool) -> Result<(usize, Message), Malformed> {
    // Keep-alive blank lines (RFC 5626) between messages.
    let skip = input
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    let input = &input[skip..];
    if input.is_empty() {
        return Err(Malformed::Incomplete);
    }
    let mut parser = PullParser::new(input, 0);
    let mut lines = Vec::new();
    for line in parser.by_ref() {
        match line {
            Ok(line) => lines.push(line),
            Err(_) if input.len() > MAX_MESSAGE_BYTES => return Err(Malformed::TooLarge),
            Err(_) if stream => return Err(Malformed::Incomplete),
            Err(_) => return Err(Malformed::Garbage),
        }
        if lines.len() > MAX_HEADERS + 1 {
            return Err(Malformed::TooLarge);
        }
    }
    let head_end = parser.head_end();
    // SIP's grammar has no control characters in a head but the line ends
    // and tabs; a head with one is read no further.
    if input[..head_end]
        .iter()
        .any(|b| (*b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n')) || *b == 0x7f)
    {
        return Err(Malformed::Garbage);
    }
    let src = Bytes::copy_from_slice(&input[..head_end]);
    let text = std::str::from_utf8(&src).map_err(|_| Malformed::Garbage)?;
    let mut text_lines = Vec::with_capacity(lines.len());
    for line in &lines {
        // The pull parser returns sub-slices of `input`.
        let start = line.as_ptr() as usize - input.as_ptr() as usize;
        text_lines.push(&text[start..start + line.len()]);
    }
    let Some((first, rest)) = text_lines.split_first() else {
        return Err(Malformed::Garbage);
    };
    let line = match MessageLine::parse(&src)(first) {
        Ok(("", line)) => line,
        _ => return Err(Malformed::Garbage),
    };
    let mut headers = Headers::with_capacity(rest.len());
    for raw in rest {
        match Line::parse(&src, raw) {
            Ok((_, l)) => headers.insert(l.name, l.value.trim().to_owned()),
            Err(_) => return Err(Malformed::BadRequest("a header line cannot be read")),
        }
    }
    let length = match headers.get_raw(&Name::CONTENT_LENGTH).next() {
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| Malformed::BadRequest("Content-Length is not a number"))?,
        None if stream => return Err(Malformed::BadRequest("Content-Length is required")),
        None => input.len() - head_end,
    };
    if head_end + length > MAX_MESSAGE_BYTES {
        return Err(Malformed::TooLarge);
    }
    if input.len() < head_end + length {
        return if stream {
            Err(Malformed::Incomplete)
        } else {
            Err(Malformed::BadRequest(
                "the body is shorter than Content-Length",
            ))
        };
    }
    let body = Bytes::copy_from_slice(&input[head_end..head_end + length]);
    let missing = |what| Malformed::BadRequest(what);
    let call_id = headers
        .get_named::<CallID>()
        .map_err(|_| missing("Call-ID is missing or malformed"))?
        .0;
    let cseq = headers
        .get_named::<CSeq>()
        .map_err(|_| missing("CSeq is missing or malformed"))?;
    let from = headers
        .get::<FromTo>(Name::FROM)
        .map_err(|_| missing("From is missing or malformed"))?;
    let to = headers
        .get::<FromTo>(Name::TO)
        .map_err(|_| missing("To is missing or malformed"))?;
    // What we print of From and To in our answers must read back as they
    // did: a value the parser took only in part is refused here instead.
    for (value, what) in [(&from, "From is malformed"), (&to, "To is malformed")] {
        use ezk_sip_types::print::AppendCtx;
        let mut again = Headers::new();
        again.insert(Name::FROM, value.default_print_ctx().to_string());
        if again.get::<FromTo>(Name::FROM).is_err() {
            return Err(missing(what));
        }
    }
    let via = headers
        .get_named::<Via>()
        .map_err(|_| missing("Via is missing or malformed"))?;
    let branch = via.params.get_val("branch").cloned();
    if let MessageLine::Request(RequestLine { method, .. }) = &line {
        if *method != cseq.method && *method != Method::ACK && *method != Method::CANCEL {
            return Err(missing("CSeq's method is not the request's"));
        }
    }
    Ok((
        skip + head_end + length,
        Message {
            line,
            headers,
            body,
            call_id,
            cseq,
            from,
            to,
            branch,
        },
    ))
}

/// A response to `request`: its Via, From, Call-ID and CSeq, and its To
/// with `to_tag` added when it has none.
pub fn response(
    request: &Message,
    code: u16,
    to_tag: Option<&str>,
    extra: &[(Name, String)],
    body: Option<(&str, &str)>,
) -> Bytes {
    let mut headers = Headers::new();
    for via in request.headers.get_raw(&Name::VIA) {
        headers.insert(Name::VIA, via.to_string());
    }
    headers.insert(Name::FROM, request.from.clone());
    let mut to = request.to.clone();
    if to.tag.is_none() {
        to.tag = to_tag.map(BytesStr::from);
    }
    headers.insert(Name::TO, to);
    headers.insert(Name::CALL_ID, request.call_id.to_string());
    headers.insert_named(&request.cseq);
    for (name, value) in extra {
        headers.insert(name.clone(), value.clone());
    }
    let code = StatusCode::from(code);
    let line = StatusLine {
        code,
        reason: code.text().map(BytesStr::from_static),
    };
    finish(line.to_string(), headers, body)
}

/// A request within a dialog we answered (a BYE): From and To swapped from
/// the caller's INVITE, our Via with a fresh branch.
pub struct DialogRequest<'a> {
    pub method: Method,
    pub target: &'a SipUri,
    pub via_transport: &'a str,
    pub via_host: &'a str,
    pub branch: &'a str,
    pub local: &'a FromTo,
    pub remote: &'a FromTo,
    pub call_id: &'a BytesStr,
    pub cseq: u32,
    pub routes: &'a [BytesStr],
}

pub fn request(r: &DialogRequest<'_>) -> Bytes {
    let mut headers = Headers::new();
    headers.insert(
        Name::VIA,
        format!(
            "SIP/2.0/{} {};branch={};rport",
            r.via_transport, r.via_host, r.branch
        ),
    );
    headers.insert(Name::MAX_FORWARDS, "70");
    for route in r.routes {
        headers.insert(Name::ROUTE, route.to_string());
    }
    headers.insert(Name::FROM, r.local.clone());
    headers.insert(Name::TO, r.remote.clone());
    headers.insert(Name::CALL_ID, r.call_id.to_string());
    headers.insert_named(&CSeq {
        cseq: r.cseq,
        method: r.method.clone(),
    });
    let line = RequestLine {
        method: r.method.clone(),
        uri: r.target.clone(),
    };
    use ezk_sip_types::print::AppendCtx;
    finish(line.default_print_ctx().to_string(), headers, None)
}

fn finish(start: String, mut headers: Headers, body: Option<(&str, &str)>) -> Bytes {
    headers.insert(Name::SERVER, "Conclave");
    if let Some((content_type, _)) = body {
        headers.insert(Name::CONTENT_TYPE, content_type.to_owned());
    }
    let body = body.map_or("", |(_, b)| b);
    headers.insert(Name::CONTENT_LENGTH, body.len().to_string());
    Bytes::from(format!("{start}\r\n{headers}\r\n{body}"))
}

/// The user part of a `sip:`/`sips:` or `tel:` URI in a name-addr header
/// value (`"Name" <sip:+4412345@host>;tag=x`, `<tel:+4412345>`).
pub fn uri_user(value: &str) -> Option<String> {
    let inner = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    };
    if let Some(tel) = inner.strip_prefix("tel:") {
        return Some(tel.split(';').next().unwrap_or("").to_owned());
    }
    let uri = SipUri::from_str(inner).ok()?;
    match uri.user_part {
        ezk_sip_types::uri::SipUriUserPart::User(u) => Some(u.to_string()),
        ezk_sip_types::uri::SipUriUserPart::UserPw(up) => Some(up.user.to_string()),
        ezk_sip_types::uri::SipUriUserPart::Empty => None,
    }
}

use std::str::FromStr;

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:conclave@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:conclave@127.0.0.1>\r\n\
From: \"Alice\" <sip:+441234567123@127.0.0.1>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@127.0.0.1:5070>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn a_request_is_read_with_the_headers_a_transaction_needs() {
        let (used, m) = parse(INVITE.as_bytes(), true).unwrap();
        assert_eq!(used, INVITE.len());
        assert_eq!(m.method(), Some(&Method::INVITE));
        assert_eq!(m.call_id, "a84b4c76e66710@pc33");
        assert_eq!(m.cseq.cseq, 314159);
        assert_eq!(m.branch.as_deref(), Some("z9hG4bK776asdhds"));
        assert_eq!(&m.body[..], b"v=0\n");
        assert_eq!(m.content_type().as_deref(), Some("application/sdp"));
        assert_eq!(m.from.tag.as_deref(), Some("1928301774"));
        assert_eq!(
            uri_user(m.header("from").unwrap()).as_deref(),
            Some("+441234567123")
        );
        assert!(m.contact().is_some());
    }

    #[test]
    fn a_stream_waits_for_the_rest_and_a_datagram_does_not() {
        let cut = &INVITE.as_bytes()[..INVITE.len() - 2];
        assert_eq!(parse(cut, true).unwrap_err(), Malformed::Incomplete);
        assert!(matches!(
            parse(cut, false).unwrap_err(),
            Malformed::BadRequest(_)
        ));
        let head = &INVITE.as_bytes()[..40];
        assert_eq!(parse(head, true).unwrap_err(), Malformed::Incomplete);
        assert_eq!(parse(head, false).unwrap_err(), Malformed::Garbage);
        assert_eq!(
            parse(b"\x16\x03\x01garbage\r\n\r\n", false).unwrap_err(),
            Malformed::Garbage
        );
        let nul = INVITE.replace("To: <sip:", "To: \u{1}<sip:");
        assert_eq!(parse(nul.as_bytes(), true).unwrap_err(), Malformed::Garbage);
        let big = INVITE.replace("Content-Length: 4", "Content-Length: 999999");
        assert_eq!(
            parse(big.as_bytes(), true).unwrap_err(),
            Malformed::TooLarge
        );
    }

    #[test]
    fn responses_echo_the_transaction_and_tag_the_dialog() {
        let (_, m) = parse(INVITE.as_bytes(), false).unwrap();
        let out = response(
            &m,
            200,
            Some("abc"),
            &[],
            Some(("application/sdp", "v=0\r\n")),
        );
        let (_, r) = parse(&out, true).unwrap();
        assert_eq!(r.status(), Some(200));
        assert_eq!(r.to.tag.as_deref(), Some("abc"));
        assert_eq!(r.call_id, m.call_id);
        assert_eq!(r.branch, m.branch);
        assert_eq!(&r.body[..], b"v=0\r\n");
    }

    #[test]
    fn tel_and_sip_users_are_read() {
        assert_eq!(
            uri_user("<tel:+4412345;phone-context=x>").as_deref(),
            Some("+4412345")
        );
        assert_eq!(
            uri_user("sip:0612345678@gw;user=phone").as_deref(),
            Some("0612345678")
        );
        assert_eq!(uri_user("<sip:gw.example.com>"), None);
    }
}
