//! Real multi-process Redis topologies for the scale-out tests.
//!
//! ```ignore
//! let cluster = RedisCluster::start();     // 3 masters, all 16384 slots
//! cluster.url();                           // redis+cluster://127.0.0.1:P1,…
//! let sentinel = RedisSentinel::start();   // 1 master, 1 replica, 3 sentinels
//! sentinel.url();                          // redis+sentinel://…/mymaster/0
//! sentinel.kill_master();                  // SIGKILL: the sentinels fail over
//! ```
//!
//! Every process is a `redis-server` (Sentinel is `redis-server CONF
//! --sentinel`, the same binary) in a temporary directory, keeping nothing
//! on disk, killed by PID on drop. A missing binary fails the test.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::redis::{Started, spawn_redis_server, until_ready};

/// How long a topology may take to form (processes up, slots assigned,
/// sentinels aware of each other and of the replica).
const FORM_TIMEOUT: Duration = Duration::from_secs(20);

/// The master name the sentinels monitor.
pub const MASTER_NAME: &str = "mymaster";

/// One `redis-server` process, killed on drop.
struct Process {
    child: Option<Child>,
    port: u16,
}

impl Process {
    fn spawn(port: u16, dir: &Path, args: &[&str]) -> Self {
        let mut cmd = Command::new("redis-server");
        cmd.args(args)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--daemonize", "no", "--logfile", ""])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = spawn_redis_server(&mut cmd);
        match until_ready(&mut child, FORM_TIMEOUT, || {
            try_query::<String>(port, &["PING"]).is_ok()
        }) {
            Started::Ready => Self {
                child: Some(child),
                port,
            },
            Started::Exited(status) => panic!("redis-server on port {port} exited: {status}"),
            Started::TimedOut => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("redis-server on port {port} never answered PING")
            }
        }
    }

    /// A data node: no persistence.
    fn data(port: u16, dir: &Path, extra: &[&str]) -> Self {
        let mut args = vec!["--save", "", "--appendonly", "no"];
        args.extend_from_slice(extra);
        Self::spawn(port, dir, &args)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A 3-master Redis Cluster without replicas.
pub struct RedisCluster {
    nodes: Vec<Process>,
    _dir: TempDir,
}

impl RedisCluster {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let nodes: Vec<Process> = (0..3)
            .map(|i| {
                let port = free_port();
                // The default bus port (port + 10000) may be out of range.
                let bus_port = free_port().to_string();
                let node_dir = dir.path().join(format!("node{i}"));
                std::fs::create_dir(&node_dir).expect("create node directory");
                Process::data(
                    port,
                    &node_dir,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                        "--cluster-port",
                        &bus_port,
                    ],
                )
            })
            .collect();
        let cluster = Self { nodes, _dir: dir };
        let addrs: Vec<String> = cluster.addrs();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run redis-cli (part of redis-tools): {e}"));
        assert!(status.success(), "redis-cli --cluster create failed");
        let started = Instant::now();
        while !cluster.nodes.iter().all(|node| {
            try_query::<String>(node.port, &["CLUSTER", "INFO"])
                .is_ok_and(|info| info.contains("cluster_state:ok"))
        }) {
            assert!(started.elapsed() < FORM_TIMEOUT, "the cluster never formed");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    fn addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect()
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`
    pub fn url(&self) -> String {
        format!("redis+cluster://{}", self.addrs().join(","))
    }

    /// The ports of the three masters.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// Runs one command on node `index` (a plain connection: the command
    /// must be about that node's own slots, or keyless).
    pub fn query<T: ::redis::FromRedisValue>(&self, index: usize, args: &[&str]) -> T {
        query(self.nodes[index].port, args)
    }

    /// The port of the master that owns `key`'s slot, by `CLUSTER KEYSLOT`
    /// and `CLUSTER NODES`.
    pub fn owner_of(&self, key: &str) -> u16 {
        let slot: u16 = self.query(0, &["CLUSTER", "KEYSLOT", key]);
        let nodes: String = self.query(0, &["CLUSTER", "NODES"]);
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") {
                continue;
            }
            let port = fields[1]
                .split('@')
                .next()
                .and_then(|addr| addr.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .expect("a node address in CLUSTER NODES");
            let owns = fields[8..].iter().any(|range| {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if (lo..=hi).contains(&slot))
            });
            if owns {
                return port;
            }
        }
        panic!("no master owns slot {slot}");
    }
}

/// One master, one replica and three sentinels (`down-after-milliseconds`
/// 1000, `failover-timeout` 3000, quorum 2).
pub struct RedisSentinel {
    master: Process,
    replica: Process,
    sentinels: Vec<Process>,
    _dir: TempDir,
}

impl RedisSentinel {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let master = Process::data(free_port(), dir.path(), &[]);
        let master_port = master.port.to_string();
        let replica_dir = dir.path().join("replica");
        std::fs::create_dir(&replica_dir).expect("create replica directory");
        let replica = Process::data(
            free_port(),
            &replica_dir,
            &["--replicaof", "127.0.0.1", &master_port],
        );
        let sentinels = (0..3)
            .map(|i| {
                let port = free_port();
                let sentinel_dir = dir.path().join(format!("sentinel{i}"));
                std::fs::create_dir(&sentinel_dir).expect("create sentinel directory");
                // Sentinel rewrites its config file: it must be writable.
                let conf = sentinel_dir.join("sentinel.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
                         sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                         sentinel failover-timeout {MASTER_NAME} 3000\n\
                         sentinel parallel-syncs {MASTER_NAME} 1\n"
                    ),
                )
                .expect("write sentinel.conf");
                let conf = conf.to_str().expect("UTF-8 temporary path").to_owned();
                Process::spawn(port, &sentinel_dir, &[&conf, "--sentinel"])
            })
            .collect();
        let topology = Self {
            master,
            replica,
            sentinels,
            _dir: dir,
        };
        topology.wait_formed();
        topology
    }

    /// Waits until the replica is in sync and every sentinel knows the
    /// replica and the two other sentinels (else a failover cannot happen).
    fn wait_formed(&self) {
        let started = Instant::now();
        loop {
            let synced = try_query::<String>(self.replica.port, &["INFO", "replication"])
                .is_ok_and(|info| info.contains("master_link_status:up"));
            let aware = self.sentinels.iter().all(|s| {
                let master: Result<Vec<String>, _> =
                    try_query(s.port, &["SENTINEL", "MASTER", MASTER_NAME]);
                master.is_ok_and(|fields| {
                    let field = |name: &str| {
                        fields
                            .chunks(2)
                            .find(|kv| kv[0] == name)
                            .map(|kv| kv[1].clone())
                    };
                    field("num-slaves").as_deref() == Some("1")
                        && field("num-other-sentinels").as_deref() == Some("2")
                })
            });
            if synced && aware {
                return;
            }
            assert!(
                started.elapsed() < FORM_TIMEOUT,
                "the sentinel set-up never formed (replica synced: {synced})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/mymaster/0`
    pub fn url(&self) -> String {
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{MASTER_NAME}/0", sentinels.join(","))
    }

    pub fn master_port(&self) -> u16 {
        self.master.port
    }

    pub fn replica_port(&self) -> u16 {
        self.replica.port
    }

    /// Waits until the replica acknowledged every write so far (`WAIT 1
    /// 1000` on the master) and panics if it did not.
    pub fn wait_replicated(&self) {
        let acked: i64 = query(self.master.port, &["WAIT", "1", "1000"]);
        assert_eq!(acked, 1, "the replica did not acknowledge the writes");
    }

    /// Kills the master with SIGKILL: the sentinels promote the replica.
    pub fn kill_master(&mut self) {
        self.master.kill();
    }

    /// Commands the three sentinels processed so far (`INFO stats`
    /// `total_commands_processed`; their own chatter included).
    pub fn sentinel_commands(&self) -> u64 {
        self.sentinels
            .iter()
            .map(|s| {
                let info: String = query(s.port, &["INFO", "stats"]);
                info.lines()
                    .find_map(|l| l.strip_prefix("total_commands_processed:"))
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .expect("total_commands_processed in INFO stats")
            })
            .sum()
    }

    /// The port of the master the sentinels name now.
    pub fn current_master_port(&self) -> u16 {
        let addr: Vec<String> = query(
            self.sentinels[0].port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
        );
        addr[1].parse().expect("a port")
    }
}

/// Runs one command on `127.0.0.1:port` with 5 s timeouts, panicking on error.
pub fn query<T: ::redis::FromRedisValue>(port: u16, args: &[&str]) -> T {
    try_query(port, args).unwrap_or_else(|e| panic!("{args:?} on port {port} failed: {e}"))
}

fn try_query<T: ::redis::FromRedisValue>(port: u16, args: &[&str]) -> ::redis::RedisResult<T> {
    let client = ::redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut conn = client.get_connection_with_timeout(Duration::from_millis(500))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let (name, rest) = args.split_first().expect("a command");
    ::redis::cmd(name).arg(rest).query(&mut conn)
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}
