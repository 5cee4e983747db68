//! The socket's routing, UDP and TCP, over real sockets on loopback.

use super::*;
use std::time::Duration;

/// A STUN binding request with USERNAME `<ufrag>:client`.
fn binding_request(ufrag: &str) -> Vec<u8> {
    let username = format!("{ufrag}:client");
    let mut attr = vec![0x00, 0x06];
    attr.extend_from_slice(&(username.len() as u16).to_be_bytes());
    attr.extend_from_slice(username.as_bytes());
    attr.resize(attr.len().div_ceil(4) * 4, 0);
    let mut p = vec![0x00, 0x01];
    p.extend_from_slice(&(attr.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
    p.extend_from_slice(&[1; 12]);
    p.extend_from_slice(&attr);
    p
}

#[tokio::test]
async fn datagrams_reach_the_room_their_ufrag_or_address_names() {
    let loopback = IpAddr::from([127, 0, 0, 1]);
    let socket = MediaSocket::bind(loopback, 48300, 48399, None, TcpChoice::Off).unwrap();
    assert_eq!(socket.announced.ip(), loopback);
    tokio::spawn(socket.clone().run_reader());
    let (inbox, mut room) = tokio::sync::mpsc::channel(16);
    let conn = socket.register("roomUfrag", inbox);
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = socket.announced;
    let next = |room: &mut tokio::sync::mpsc::Receiver<Datagram>| {
        let got = room.try_recv();
        got.ok().map(|d| (d.conn, d.from.addr, d.bytes.to_vec()))
    };

    // Unknown address, not STUN: nowhere. An unknown ufrag: nowhere.
    stranger.send_to(&[0x80; 20], to).await.unwrap();
    client.send_to(&binding_request("other"), to).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(next(&mut room), None);

    // The binding request finds the room, and teaches its address.
    let request = binding_request("roomUfrag");
    client.send_to(&request, to).await.unwrap();
    client.send_to(&[0x80; 30], to).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let me = client.local_addr().unwrap();
    assert_eq!(next(&mut room), Some((conn, me, request)));
    assert_eq!(next(&mut room), Some((conn, me, vec![0x80; 30])));
    stranger.send_to(&[0x80; 20], to).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(next(&mut room), None, "another address is not the client");

    // The address moves to another connection (a port reused, an ICE
    // restart): forgetting the first leaves it the second's.
    let (inbox2, mut room2) = tokio::sync::mpsc::channel(16);
    let conn2 = socket.register("otherConn", inbox2);
    assert_ne!(conn, conn2);
    let request2 = binding_request("otherConn");
    client.send_to(&request2, to).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(next(&mut room2), Some((conn2, me, request2)));
    socket.forget("roomUfrag");
    client.send_to(&[0x81; 30], to).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(next(&mut room2), Some((conn2, me, vec![0x81; 30])));
    assert_eq!(next(&mut room), None);

    // Once forgotten, nothing reaches either room.
    socket.forget("otherConn");
    client.send_to(&[0x80; 30], to).await.unwrap();
    client
        .send_to(&binding_request("roomUfrag"), to)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(next(&mut room), None);
    assert_eq!(next(&mut room2), None);

    // Batched sends arrive, in order.
    let mut out: Vec<_> = (0..100u8)
        .map(|i| (Peer::udp(me), BytesMut::from(&[i; 10][..])))
        .collect();
    socket.send_all(&mut out).await;
    assert!(out.is_empty());
    let mut buf = [0u8; 64];
    for i in 0..100u8 {
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
            .await
            .expect("every datagram of the batch arrives")
            .unwrap();
        assert_eq!((from.port(), &buf[..n]), (to.port(), &[i; 10][..]));
    }
}

/// One RFC 4571 frame.
fn framed(d: &[u8]) -> Vec<u8> {
    let mut f = (d.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(d);
    f
}

#[tokio::test]
async fn tcp_connections_route_as_udp_does_and_close_with_their_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let loopback = IpAddr::from([127, 0, 0, 1]);
    let socket = MediaSocket::bind(loopback, 48400, 48499, None, TcpChoice::SameAsUdp).unwrap();
    let tcp_at = socket.candidates().tcp.expect("a TCP port");
    assert_eq!(tcp_at, socket.announced, "the same number as the UDP port");
    tokio::spawn(socket.clone().run_reader());
    tokio::spawn(crate::tcp::run_listener(socket.clone()));
    let (inbox, mut room) = tokio::sync::mpsc::channel(16);
    let conn = socket.register("tcpUfrag", inbox);
    let wait = || tokio::time::sleep(Duration::from_millis(100));
    let closed = |mut s: TcpStream| async move {
        let mut b = [0u8; 16];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), s.read(&mut b)).await,
            Ok(Ok(0) | Err(_))
        )
    };

    // A first frame that names no connection ends the connection.
    let mut stranger = TcpStream::connect(tcp_at).await.unwrap();
    stranger.write_all(&framed(&[0x80; 20])).await.unwrap();
    assert!(closed(stranger).await, "a stranger is hung up on");
    // So does a frame no client sends.
    let mut oversized = TcpStream::connect(tcp_at).await.unwrap();
    oversized.write_all(&[0xff, 0xff, 0, 0]).await.unwrap();
    assert!(closed(oversized).await);
    assert!(room.try_recv().is_err(), "neither reached the room");

    // The binding request routes, split across writes as TCP may.
    let mut client = TcpStream::connect(tcp_at).await.unwrap();
    let me = Peer::tcp(client.local_addr().unwrap());
    let request = binding_request("tcpUfrag");
    let mut stream = framed(&request);
    stream.extend(framed(&[0x80; 30]));
    let (a, b) = stream.split_at(7);
    client.write_all(a).await.unwrap();
    wait().await;
    client.write_all(b).await.unwrap();
    wait().await;
    let got: Vec<_> = std::iter::from_fn(|| room.try_recv().ok())
        .map(|d| (d.conn, d.from, d.bytes.to_vec()))
        .collect();
    assert_eq!(got, vec![(conn, me, request), (conn, me, vec![0x80; 30])]);

    // What goes to it is framed on its connection, not sent by UDP.
    let mut out = vec![(me, BytesMut::from(&b"hello"[..]))];
    socket.send_all(&mut out).await;
    let mut back = [0u8; 7];
    tokio::time::timeout(Duration::from_secs(2), client.read_exact(&mut back))
        .await
        .expect("the frame arrives")
        .unwrap();
    assert_eq!(&back, &framed(b"hello")[..]);

    // Forgotten, its connection closes.
    socket.forget("tcpUfrag");
    assert!(
        closed(client).await,
        "the connection ends with its ICE connection"
    );
    assert_eq!(socket.tcp.as_ref().unwrap().open(), 0);
}

#[tokio::test]
async fn a_range_without_a_free_tcp_port_starts_on_udp_alone() {
    let loopback = IpAddr::from([127, 0, 0, 1]);
    // Hold TCP on the range's only port.
    let held = std::net::TcpListener::bind((loopback, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let socket = MediaSocket::bind(loopback, port, port, None, TcpChoice::SameAsUdp).unwrap();
    assert_eq!(socket.announced.port(), port);
    assert_eq!(
        socket.candidates().tcp,
        None,
        "ICE-TCP is off, media is not"
    );
    // A TCP port of its own that is taken stops the start.
    let err = MediaSocket::bind(loopback, 48500, 48599, None, TcpChoice::Port(port));
    assert!(err.is_err());
}

#[test]
fn a_media_socket_sends_with_dont_fragment_and_no_path_mtu_discovery() {
    let socket = udp(IpAddr::from([127, 0, 0, 1]), 0).unwrap();
    let mut mode: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the option is read into a live c_int of the length passed.
    let got = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            std::ptr::from_mut(&mut mode).cast(),
            &mut len,
        )
    };
    assert_eq!(got, 0);
    assert_eq!(mode, libc::IP_PMTUDISC_PROBE);
}
