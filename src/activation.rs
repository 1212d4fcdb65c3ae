//! Listeners handed over by systemd socket activation (`sd_listen_fds(3)`):
//! with `sessiongate.socket` holding the ports, a restart for a binary
//! upgrade never refuses a connection (they wait in the socket's backlog).
//!
//! systemd passes the sockets as file descriptors from 3 on, with
//! `LISTEN_FDS` (how many), `LISTEN_PID` (for which process) and
//! `LISTEN_FDNAMES` (the units' `FileDescriptorName=`). A socket named
//! `proxy` or `admin` is that listener; unnamed ones are taken in order,
//! the proxy first. A listener not handed over is bound from the config as
//! usual.

use std::net::TcpListener;

/// The listeners systemd passed, if any.
#[derive(Debug, Default)]
pub struct Activated {
    pub proxy: Option<TcpListener>,
    pub admin: Option<TcpListener>,
}

/// Why the inherited sockets cannot be used. Each message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error(
        "systemd passed {0} sockets (LISTEN_FDS); sessiongate takes at most two: \
         the proxy and the admin listener"
    )]
    TooMany(usize),
    #[error(
        "LISTEN_FDNAMES names {names:?}: name the sockets proxy and admin \
         (FileDescriptorName= in the .socket units), or pass them unnamed, the proxy first"
    )]
    Names { names: String },
    #[error("the inherited socket for the {which} listener is not a TCP listening socket")]
    NotTcp {
        which: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Takes the sockets systemd passed to this process (none when `LISTEN_FDS`
/// is unset or names another process).
pub fn take_from_env() -> Result<Activated, ActivationError> {
    let mut fds = listenfd::ListenFd::from_env();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    let (proxy, admin) = assign(fds.len(), names.as_deref())?;
    let mut take = |index: Option<usize>, which| match index {
        None => Ok(None),
        Some(index) => fds
            .take_tcp_listener(index)
            .map_err(|source| ActivationError::NotTcp { which, source }),
    };
    Ok(Activated {
        proxy: take(proxy, "proxy")?,
        admin: take(admin, "admin")?,
    })
}

/// Which of `count` inherited sockets is the proxy's and which the admin
/// listener's, by name when every socket has a known one, else by order.
fn assign(
    count: usize,
    names: Option<&str>,
) -> Result<(Option<usize>, Option<usize>), ActivationError> {
    if count > 2 {
        return Err(ActivationError::TooMany(count));
    }
    let by_order = ((count > 0).then_some(0), (count > 1).then_some(1));
    let Some(names) = names.filter(|n| !n.is_empty()) else {
        return Ok(by_order);
    };
    let names: Vec<&str> = names.split(':').take(count).collect();
    let known = |name: &&str| matches!(*name, "proxy" | "admin");
    if !names.iter().any(known) {
        // systemd's default names (the unit names): the order decides.
        return Ok(by_order);
    }
    let position = |wanted| names.iter().position(|n| *n == wanted);
    let (proxy, admin) = (position("proxy"), position("admin"));
    let all_known = names.iter().all(known);
    if !all_known || (count == 2 && (proxy.is_none() || admin.is_none())) {
        return Err(ActivationError::Names {
            names: names.join(":"),
        });
    }
    Ok((proxy, admin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_sockets_are_taken_in_order() {
        assert_eq!(assign(0, None).unwrap(), (None, None));
        assert_eq!(assign(1, None).unwrap(), (Some(0), None));
        assert_eq!(assign(2, None).unwrap(), (Some(0), Some(1)));
        assert_eq!(assign(2, Some("")).unwrap(), (Some(0), Some(1)));
        // systemd's default names are the units': the order decides.
        let units = Some("sessiongate.socket:sessiongate-admin.socket");
        assert_eq!(assign(2, units).unwrap(), (Some(0), Some(1)));
    }

    #[test]
    fn named_sockets_are_taken_by_name() {
        assert_eq!(assign(2, Some("admin:proxy")).unwrap(), (Some(1), Some(0)));
        assert_eq!(assign(2, Some("proxy:admin")).unwrap(), (Some(0), Some(1)));
        assert_eq!(assign(1, Some("admin")).unwrap(), (None, Some(0)));
        assert_eq!(assign(1, Some("proxy")).unwrap(), (Some(0), None));
    }

    #[test]
    fn ambiguous_names_and_too_many_sockets_are_errors() {
        for names in ["proxy:proxy", "proxy:metrics", "admin:admin"] {
            assert!(
                matches!(assign(2, Some(names)), Err(ActivationError::Names { .. })),
                "{names}"
            );
        }
        assert!(matches!(assign(3, None), Err(ActivationError::TooMany(3))));
    }
}
