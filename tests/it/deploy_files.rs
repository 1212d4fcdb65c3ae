//! The deploy kit is checked like code: nobody can run Docker, a cluster or
//! systemd here, so what can be checked without them is checked on every
//! test run. Every YAML and JSON file under `deploy/` parses, every TOML file
//! is a valid sessiongate config, and the Dockerfile, compose file, manifests
//! and systemd unit keep the lines operators rely on (non-root user, probes
//! on the admin port, stop grace above `server.shutdown_grace`).
//!
//! The walk is generic over `deploy/`, so files other engineers add there
//! (Grafana dashboards, Prometheus rules) are parsed too.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sessiongate::config::Config;
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, recursively, in a stable order.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn extension(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or("")
}

fn yaml_docs(rel: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn config(rel: &str) -> Config {
    Config::from_toml_str(&read(rel)).unwrap_or_else(|errors| panic!("{}", errors.render(rel)))
}

/// A duration as compose and systemd write them (`40s`, `2min`).
fn duration(text: &str) -> Duration {
    humantime::parse_duration(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// The strings of the YAML list `list` (anything else in it is skipped);
/// panics when it is not a list.
fn strings(list: &Yaml) -> Vec<&str> {
    list.as_vec()
        .unwrap_or_else(|| panic!("not a list: {list:?}"))
        .iter()
        .filter_map(Yaml::as_str)
        .collect()
}

#[test]
fn every_yaml_json_and_toml_file_under_deploy_parses() {
    let root = repo().join("deploy");
    let mut checked = 0;
    for path in files_under(&root) {
        let rel = path.strip_prefix(repo()).unwrap().display().to_string();
        match extension(&path) {
            "yaml" | "yml" => {
                let docs = yaml_docs(&rel);
                assert!(!docs.is_empty(), "{rel}: no YAML document");
                for doc in &docs {
                    assert!(doc.is_hash(), "{rel}: a document that is not a mapping");
                }
            }
            "json" => {
                let value: serde_json::Value =
                    serde_json::from_str(&read(&rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
                assert!(value.is_object(), "{rel}: not a JSON object");
            }
            "toml" => {
                let cfg = config(&rel);
                // Deployed configs are probed from outside the process's
                // network namespace: a loopback admin listener would fail
                // every probe and hide the metrics.
                assert!(
                    !cfg.admin.listen.ip().is_loopback(),
                    "{rel}: admin.listen is loopback"
                );
            }
            _ => continue,
        }
        checked += 1;
    }
    // compose.yaml, two TOML configs, four Kubernetes files at least.
    assert!(checked >= 7, "only {checked} files checked under deploy/");
}

#[test]
fn dockerfile_builds_locked_and_runs_as_non_root() {
    let text = read("Dockerfile");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("FROM rust:1-bookworm AS build"))
    );
    assert!(text.contains("cargo build --release --locked"));
    // The manual and completions come from the binary itself (tested in
    // cli::manual), so they never drift from the command line.
    for generated in [
        "sessiongate man --dir /out/usr/local/share/man/man1",
        "sessiongate completions bash >",
        "sessiongate completions zsh >",
        "sessiongate completions fish >",
    ] {
        assert!(text.contains(generated), "the image lacks `{generated}`");
    }
    let user = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("Dockerfile sets no USER");
    let name = user.split(':').next().unwrap().trim();
    assert!(
        !["root", "0", ""].contains(&name),
        "the final USER is root: {user}"
    );
    assert!(
        name.chars().all(|c| c.is_ascii_digit()),
        "USER {user} is not numeric: Kubernetes' runAsNonRoot cannot verify a name"
    );
    assert!(lines.contains(&"EXPOSE 8080 9090"));
    assert!(lines.contains(&r#"ENTRYPOINT ["sessiongate"]"#));
    assert!(lines.contains(&r#"CMD ["run", "--config", "/etc/sessiongate/sessiongate.toml"]"#));
    // The image rewrites the example's admin listener with sed: the line it
    // matches must still be in the example config.
    assert!(
        read("config/sessiongate.example.toml")
            .lines()
            .any(|l| l == r#"listen = "127.0.0.1:9090""#),
        "the Dockerfile's sed no longer matches config/sessiongate.example.toml"
    );

    let ignore = read(".dockerignore");
    for entry in ["target/", ".git", "**/node_modules"] {
        assert!(
            ignore.lines().any(|l| l == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

#[test]
fn compose_runs_the_gateway_with_a_healthy_redis() {
    let docs = yaml_docs("deploy/compose.yaml");
    let services = &docs[0]["services"];
    let gate = &services["sessiongate"];
    let redis = &services["redis"];
    assert!(!gate.is_badvalue() && !redis.is_badvalue() && !services["app"].is_badvalue());
    let image = redis["image"].as_str().unwrap();
    assert!(image.starts_with("redis:7"), "redis image {image}");
    assert!(redis["healthcheck"]["test"].as_vec().is_some());
    assert_eq!(
        gate["depends_on"]["redis"]["condition"].as_str(),
        Some("service_healthy")
    );
    let mounts = strings(&gate["volumes"]);
    assert!(
        mounts.contains(&"./compose/sessiongate.toml:/etc/sessiongate/sessiongate.toml:ro"),
        "{mounts:?}"
    );

    // The example app is the demo app from the gateway's own image, on the
    // port the gateway's upstream names.
    let app = &services["app"];
    assert_eq!(app["image"].as_str(), gate["image"].as_str());
    let command = strings(&app["command"]);
    assert_eq!(command, ["demo-app", "--listen", "0.0.0.0:8000"]);

    let cfg = config("deploy/compose/sessiongate.toml");
    assert_eq!(cfg.upstream.url.to_string(), "http://app:8000/");
    assert_eq!(cfg.store.url, "redis://redis:6379/0");
    assert_eq!(cfg.admin.listen.port(), 9090);
    assert!(cfg.routes.iter().any(|r| r.path == "/login" && r.public));
    let stop = duration(gate["stop_grace_period"].as_str().unwrap());
    assert!(
        stop > cfg.server.shutdown_grace,
        "stop_grace_period {stop:?}"
    );
}

#[test]
fn kubernetes_manifests_probe_the_admin_port_and_keep_a_replica() {
    let kustomization = &yaml_docs("deploy/kubernetes/kustomization.yaml")[0];
    let resources = strings(&kustomization["resources"]);
    let mut kinds = Vec::new();
    for resource in &resources {
        for doc in yaml_docs(&format!("deploy/kubernetes/{resource}")) {
            assert!(
                doc["apiVersion"].as_str().is_some(),
                "{resource}: apiVersion"
            );
            assert!(
                doc["metadata"]["name"].as_str().is_some(),
                "{resource}: name"
            );
            kinds.push((doc["kind"].as_str().unwrap().to_owned(), doc));
        }
    }
    let generated = &kustomization["configMapGenerator"][0]["files"][0];
    let config_file = generated.as_str().expect("configMapGenerator file");
    let cfg = config(&format!("deploy/kubernetes/{config_file}"));

    let get = |kind: &str| {
        &kinds
            .iter()
            .find(|(k, _)| k == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
            .1
    };
    let deployment = get("Deployment");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"].as_i64(), Some(2));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
    assert!(Duration::from_secs(grace as u64) > cfg.server.shutdown_grace);
    let container = &pod["containers"][0];
    let admin_port = container["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("admin"))
        .expect("admin port")["containerPort"]
        .as_i64();
    assert_eq!(admin_port, Some(i64::from(cfg.admin.listen.port())));
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"].as_str(), Some("admin"));
    }
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(security["capabilities"]["drop"][0].as_str(), Some("ALL"));
    // The TOML from the generated ConfigMap; the Redis URL from a Secret.
    let config_map = &pod["volumes"][0]["configMap"]["name"];
    assert_eq!(
        config_map.as_str(),
        kustomization["configMapGenerator"][0]["name"].as_str()
    );
    let env = &container["env"][0];
    assert_eq!(env["name"].as_str(), Some("SESSIONGATE_STORE_URL"));
    assert_eq!(
        env["valueFrom"]["secretKeyRef"]["name"].as_str(),
        Some("sessiongate-redis")
    );

    let service_ports: Vec<i64> = get("Service")["spec"]["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|p| p["port"].as_i64())
        .collect();
    assert_eq!(service_ports, [8080, 9090]);
    assert_eq!(
        get("PodDisruptionBudget")["spec"]["minAvailable"].as_i64(),
        Some(1)
    );
}

#[test]
fn systemd_unit_has_the_key_lines() {
    let text = read("deploy/systemd/sessiongate.service");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for line in [
        "ExecStart=/usr/local/bin/sessiongate run --config /etc/sessiongate/sessiongate.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "CapabilityBoundingSet=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
        "LockPersonality=yes",
        "Restart=on-failure",
        "WantedBy=multi-user.target",
    ] {
        assert!(lines.contains(&line), "the unit lacks {line:?}");
    }
    let stop = lines
        .iter()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("TimeoutStopSec");
    // The unit runs the example config; its shutdown_grace is the default.
    let cfg = config("config/sessiongate.example.toml");
    assert!(
        duration(stop) > cfg.server.shutdown_grace,
        "TimeoutStopSec={stop}"
    );
}

/// The socket units hold the example config's addresses, named as the
/// gateway expects (tested with inherited sockets in cli::socket_activation).
#[test]
fn systemd_socket_units_match_the_example_config() {
    let cfg = config("config/sessiongate.example.toml");
    for (unit, name, addr) in [
        (
            "deploy/systemd/sessiongate.socket",
            "proxy",
            cfg.server.listen,
        ),
        (
            "deploy/systemd/sessiongate-admin.socket",
            "admin",
            cfg.admin.listen,
        ),
    ] {
        let text = read(unit);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for line in [
            format!("ListenStream={addr}"),
            format!("FileDescriptorName={name}"),
            "Service=sessiongate.service".to_owned(),
            "WantedBy=sockets.target".to_owned(),
        ] {
            assert!(lines.contains(&line.as_str()), "{unit} lacks {line:?}");
        }
    }
}

/// The compose stack without Docker: `sessiongate demo-app` (the binary, as
/// the `app` service runs it), a real Redis in place of the `redis` service,
/// and the gateway on deploy/compose/sessiongate.toml with only the two
/// service addresses replaced. A visitor is sent to login, signs in, and
/// reaches the page first asked for with a session kept in Redis.
#[tokio::test]
async fn the_compose_stack_signs_a_visitor_in() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use crate::support::gateway::TestGateway;
    use crate::support::redis::RedisServer;

    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let redis = RedisServer::start();
    let mut app = Killed(
        Command::new(env!("CARGO_BIN_EXE_sessiongate"))
            .args(["demo-app", "--listen", "127.0.0.1:0"])
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sessiongate demo-app"),
    );
    let mut lines = BufReader::new(app.0.stderr.take().unwrap()).lines();
    let app_addr = loop {
        let line = lines
            .next()
            .expect("demo-app exited before listening")
            .unwrap();
        if let Some((_, addr)) = line.split_once("demo app listening on ") {
            break addr.trim().to_owned();
        }
    };

    let text = read("deploy/compose/sessiongate.toml")
        .replace("redis://redis:6379/0", &redis.url())
        .replace("http://app:8000", &format!("http://{app_addr}"));
    let cfg = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{}", e.render("compose")));
    let gw = TestGateway::start(cfg).await;

    let client = reqwest_like::Client::new();
    // As the compose file's healthcheck waits: ready once Redis answers
    // (the first connection can take longer than op_timeout on a busy machine).
    crate::support::records::until("the gateway is ready", async || {
        client.get(&gw.admin_url("/readyz"), None).await.0 == 200
    })
    .await;
    let (status, headers, _) = client.get(&gw.url("/account"), None).await;
    assert_eq!(status, 302);
    assert_eq!(headers["location"], "/login?next=/account");
    let (status, _, body) = client.get(&gw.url("/login?next=%2Faccount"), None).await;
    assert_eq!(status, 200);
    assert!(body.contains("login-form"), "{body}");
    let (status, _, _) = client.get(&gw.url("/assets/app.css"), None).await;
    assert_eq!(status, 200, "the login page's assets are public");

    let (status, headers, _) = client
        .post_form(
            &gw.url("/login"),
            "username=demo&password=sessiongate&next=%2Faccount",
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/account");
    let cookie = headers["set-cookie"].to_str().unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let id = pair
        .strip_prefix("sessiongate=")
        .expect("the gateway's cookie");
    let stored: i64 = redis.query(&["EXISTS", &format!("sessiongate:{id}")]);
    assert_eq!(stored, 1, "the session lives in Redis");

    let (status, _, body) = client.get(&gw.url("/account"), Some(&pair)).await;
    assert_eq!(status, 200);
    assert!(body.contains("demo"), "{body}");
}

/// Just enough HTTP/1.1 client for the compose test.
mod reqwest_like {
    use http::HeaderMap;

    use crate::support::http::{Answer, Http};

    pub struct Client(Http);

    impl Client {
        pub fn new() -> Self {
            Client(Http::new())
        }

        pub async fn get(&self, url: &str, cookie: Option<&str>) -> (u16, HeaderMap, String) {
            let mut headers = vec![("accept", "text/html")];
            if let Some(cookie) = cookie {
                headers.push(("cookie", cookie));
            }
            parts(self.0.get(url, &headers).await)
        }

        pub async fn post_form(&self, url: &str, form: &str) -> (u16, HeaderMap, String) {
            parts(
                self.0
                    .post_form(url, &[("accept", "text/html")], form)
                    .await,
            )
        }
    }

    fn parts(ans: Answer) -> (u16, HeaderMap, String) {
        let text = ans.text().into_owned();
        (ans.status.as_u16(), ans.headers, text)
    }
}
