//! The demo's live clock: a WebSocket at `/live/clock` that sends the time
//! (UTC, `HH:MM:SS`) every second. It never sends anything about sessions:
//! when the session ends, the gateway closes the WebSocket (SPEC §10), and
//! the page (`clock.js`) shows why.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, UPGRADE};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::reply::{Body, text};
use crate::live::frames::{Frames, close_frame};
use crate::upstream::websocket;

pub(super) const PATH: &str = "/live/clock";

/// Accepts the clock's WebSocket handshake (for a signed-in user).
pub(super) fn answer(mut req: Request<Incoming>, signed_in: bool) -> Response<Body> {
    if !signed_in {
        return text(StatusCode::UNAUTHORIZED, "not signed in\n");
    }
    let Some(key) = websocket::request_key(req.headers()) else {
        return text(StatusCode::BAD_REQUEST, "a WebSocket handshake, please\n");
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            tick(TokioIo::new(upgraded)).await;
        }
    });
    let mut resp = Response::new(Body::default());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(CONNECTION, http::HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, http::HeaderValue::from_static("websocket"));
    if let Ok(accept) = websocket::accept_for(key.as_bytes()).parse() {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    resp
}

/// Sends the time every second until the other side closes.
async fn tick<S: AsyncRead + AsyncWrite>(io: S) {
    let (mut r, mut w) = tokio::io::split(io);
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let mut frames = Frames::default();
    let mut buf = [0u8; 256];
    loop {
        tokio::select! {
            _ = every.tick() => {
                if w.write_all(&text_frame(&now_hms())).await.is_err() {
                    return;
                }
            }
            read = r.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    frames.feed(&buf[..n]);
                    if frames.saw_close() {
                        let _ = w.write_all(&close_frame(1000, "", None)).await;
                        return;
                    }
                }
            },
        }
    }
}

/// An unmasked text frame (servers never mask) of a short `text`.
fn text_frame(text: &str) -> Vec<u8> {
    let mut frame = vec![0x81, text.len().min(125) as u8];
    frame.extend_from_slice(&text.as_bytes()[..text.len().min(125)]);
    frame
}

fn now_hms() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_goes_out_as_one_text_frame() {
        let frame = text_frame("12:34:56 UTC");
        assert_eq!(frame[..2], [0x81, 12]);
        assert_eq!(&frame[2..], b"12:34:56 UTC");
        assert_eq!(now_hms().len(), 12);
    }
}
