//! The fault script: a fixed cycle of SIGHUPs (valid and invalid configs
//! alternating), Redis killed and restarted, Redis stopped (SIGSTOP) past
//! `op_timeout`, and the upstream stopped and restarted, a pause between
//! steps, until the load's quiet tail. Each fault is recorded as a window
//! from its start to the moment its part is back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::process::{GatewayProcess, Variant, config_text};
use super::record::{Record, Reload, Window};
use super::upstream::RestartableUpstream;
use crate::support::redis::RedisServer;

/// How long each fault keeps its part away.
const REDIS_DOWN: Duration = Duration::from_millis(1500);
const REDIS_STOPPED: Duration = Duration::from_millis(1500);
const UPSTREAM_DOWN: Duration = Duration::from_millis(1000);
/// The pause after each step.
const GAP: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Copy)]
enum Step {
    Hup(Variant),
    KillRedis,
    StopRedis,
    RestartUpstream,
}

const CYCLE: [Step; 8] = [
    Step::Hup(Variant::B),
    Step::KillRedis,
    Step::Hup(Variant::Invalid),
    Step::StopRedis,
    Step::Hup(Variant::A),
    Step::RestartUpstream,
    Step::Hup(Variant::Invalid),
    Step::KillRedis,
];

/// What the script drives.
pub struct Parts {
    pub redis: Arc<Mutex<RedisServer>>,
    pub upstream: tokio::sync::Mutex<RestartableUpstream>,
    pub gateway: Arc<Mutex<GatewayProcess>>,
    pub redis_url: String,
    pub upstream_url: String,
}

/// Runs the cycle from `from` until no step fits before `until`.
pub async fn run(parts: &Parts, record: &Record, from: Instant, until: Instant) {
    sleep(from.saturating_duration_since(Instant::now())).await;
    for step in CYCLE.iter().cycle() {
        // The longest step plus its gap must end before the quiet tail.
        if Instant::now() + REDIS_DOWN + GAP + Duration::from_secs(3) > until {
            break;
        }
        match *step {
            Step::Hup(variant) => {
                let text = config_text(&parts.redis_url, &parts.upstream_url, variant);
                parts.gateway.lock().unwrap().reload(&text);
                record.reloads.lock().unwrap().push(Reload {
                    at_ms: record.now_ms(),
                    valid: variant != Variant::Invalid,
                });
            }
            Step::KillRedis => {
                let start = record.now_ms();
                let redis = parts.redis.clone();
                tokio::task::spawn_blocking(move || {
                    redis.lock().unwrap().kill();
                    std::thread::sleep(REDIS_DOWN);
                    redis.lock().unwrap().restart();
                })
                .await
                .expect("restart redis");
                window(record, "redis-kill", start);
            }
            Step::StopRedis => {
                let start = record.now_ms();
                parts.redis.lock().unwrap().pause();
                sleep(REDIS_STOPPED).await;
                parts.redis.lock().unwrap().resume();
                window(record, "redis-sigstop", start);
            }
            Step::RestartUpstream => {
                let start = record.now_ms();
                let mut upstream = parts.upstream.lock().await;
                upstream.stop().await;
                sleep(UPSTREAM_DOWN).await;
                upstream.restart().await;
                window(record, "upstream-restart", start);
            }
        }
        sleep(GAP).await;
    }
}

fn window(record: &Record, fault: &'static str, start_ms: u32) {
    record.windows.lock().unwrap().push(Window {
        fault,
        start_ms,
        back_ms: record.now_ms(),
    });
}
