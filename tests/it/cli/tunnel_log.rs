//! The access log records a WebSocket tunnel when it closes (SPEC §10):
//! with its duration and why it closed, never a session id.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

use super::{Running, listening_addr};
use crate::support::signal::SIGTERM;
use crate::support::upstream::TestUpstream;

#[test]
fn a_closed_tunnel_is_logged_with_its_duration_and_reason() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let upstream = rt.block_on(TestUpstream::start());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessiongate.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [log]\nformat = \"json\"\n[upstream]\nurl = \"{}\"\n\
             [[route]]\nname = \"live\"\npath = \"/\"\npublic = true\n",
            upstream.url()
        ),
    )
    .unwrap();
    let mut gw = Running::start(&["run", "--config", path.to_str().unwrap()]);
    let addr = listening_addr(&gw.wait_for("listening on"));
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp)
            .await
            .unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        assert!(matches!(ws.next().await, Some(Ok(Message::Text(_)))));
        ws.close(None).await.unwrap();
        while let Some(Ok(_)) = ws.next().await {}
    });
    let line = gw.wait_for("\"connection\":\"websocket\"");
    gw.signal(SIGTERM);
    assert!(gw.wait().success());
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(entry["target"], "sessiongate::access", "{line}");
    let fields = &entry["fields"];
    assert_eq!(fields["reason"], "client", "{line}");
    assert!(
        fields["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{line}"
    );
}
