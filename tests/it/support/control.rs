//! A gateway with session control on (SPEC §9), as the session-control and
//! CLI tests drive it: a managed-mode upstream that logs users in with
//! `Sessiongate-Login`, a public `/login` route, and the admin token file.

use std::path::{Path, PathBuf};

use http::StatusCode;

use super::gateway::{GatewayToml, TestGateway};
use super::http::{Answer, Http};
use super::upstream::TestUpstream;

/// The admin token the gateway's token file holds.
pub const TOKEN: &str = "s3cret-admin-token";

/// A gateway, its upstream, and a directory holding its token file (and
/// whatever else a test writes there).
pub struct ControlEnv {
    pub gw: TestGateway,
    pub dir: tempfile::TempDir,
    pub http: Http,
    _upstream: TestUpstream,
}

/// Writes `text` to `dir/name` with mode 0600; its path.
pub fn private_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

impl ControlEnv {
    /// A gateway on `store_url` with extra `[session]` keys; `token`:
    /// whether the session API is on (a token file holding [`TOKEN`]).
    pub async fn start(store_url: &str, session: &str, token: bool) -> ControlEnv {
        let upstream = TestUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let token_line = if token {
            let file = private_file(dir.path(), "gateway-token", &format!("  {TOKEN}\n"));
            format!("token_file = {:?}", file.to_str().unwrap())
        } else {
            String::new()
        };
        let gw = GatewayToml::new()
            .sections(&format!("[admin]\n{token_line}"))
            .store(store_url)
            .op_timeout("2s")
            .session(session)
            .start(&upstream.url())
            .await;
        ControlEnv {
            gw,
            dir,
            http: Http::new(),
            _upstream: upstream,
        }
    }

    /// Logs `user` in through the gateway; the session cookie pair.
    pub async fn login(&self, user: &str) -> String {
        let ans = self
            .http
            .get(self.gw.url(&format!("/login?user={user}")), &[])
            .await;
        assert_eq!(ans.status, StatusCode::OK, "{}", ans.text());
        ans.session_pair()
    }

    /// A protected page with `cookie`, as an API client asks: its answer.
    pub async fn page(&self, cookie: &str) -> Answer {
        self.http
            .get(
                self.gw.url("/app"),
                &[("cookie", cookie), ("accept", "application/json")],
            )
            .await
    }

    /// Whether `cookie` still opens a protected page.
    pub async fn signed_in(&self, cookie: &str) -> bool {
        let ans = self.page(cookie).await;
        match ans.status {
            StatusCode::OK => true,
            StatusCode::UNAUTHORIZED => false,
            other => panic!("{other}: {}", ans.text()),
        }
    }
}
