//! A WebRTC client connection on loopback, speaking what the server speaks
//! (its media engine), with keyframe requests from the far end handed to
//! the application as the server's forwarder gets them. Shared by
//! `tests/media/` and the load tool's media scenario (included by path).

use std::sync::Arc;

use conclave_media::peer::{media_engine, Feedback};
use conclave_media::rtc::interceptor::Slot;
use conclave_media::webrtc::peer_connection::{
    register_default_interceptors, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, Registry, SettingEngineBuilder,
};

/// `reactor_threads`: 0 runs the connection's driver on the caller's
/// runtime; more spreads drivers over that many threads of webrtc's own.
pub async fn loopback_peer(
    handler: Arc<dyn PeerConnectionEventHandler>,
    reactor_threads: usize,
) -> Arc<dyn PeerConnection> {
    let mut engine = media_engine().expect("the server's codecs register");
    let registry = register_default_interceptors(Registry::new(), &mut engine)
        .expect("the default interceptors register")
        .with(Slot::from(14_000), Feedback::keyframes());
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(
            SettingEngineBuilder::new()
                .with_include_loopback_candidate(true)
                .build(),
        )
        .with_handler(handler)
        .with_dedicated_reactor_pool_size(reactor_threads)
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .build()
        .await
        .expect("a loopback peer connection");
    Arc::new(pc)
}
