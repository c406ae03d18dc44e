//! Replicas as operators run them: N `verity serve` processes (a real binary each) on ONE
//! Postgres database with the same KEK, admin token and public URL, behind a round-robin
//! reverse proxy on loopback that sends every HTTP request to the next replica. The proxy's
//! origin is the service's public URL, so wallets, RPs and the replicas' own did:web all go
//! through it; [`Cluster::direct`] reaches one replica on its own port (with the public Host).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use verity_store::testing::{Backend, TestDatabase, fresh_database};

/// A loopback reverse proxy that forwards each HTTP/1.1 request to the next backend in turn
/// (request by request, not connection by connection: it answers with `connection: close`).
pub struct RoundRobinProxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    served: Arc<Vec<AtomicUsize>>,
    task: JoinHandle<()>,
}

impl Drop for RoundRobinProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RoundRobinProxy {
    /// Binds 127.0.0.1:0; backends are set with [`RoundRobinProxy::serve`].
    pub async fn bind() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    /// Starts forwarding connections of `listener` to `backends`, round robin.
    pub fn serve(listener: TcpListener, backends: Vec<SocketAddr>) -> RoundRobinProxy {
        let port = listener.local_addr().unwrap().port();
        let served: Arc<Vec<AtomicUsize>> =
            Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let backends = Arc::new(backends);
        let counts = served.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (backends, next, counts) = (backends.clone(), next.clone(), counts.clone());
                tokio::spawn(async move {
                    let _ = forward(stream, &backends, &next, &counts).await;
                });
            }
        });
        RoundRobinProxy { port, served, task }
    }

    /// Requests forwarded to each backend so far.
    pub fn served(&self) -> Vec<usize> {
        self.served
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .collect()
    }
}

/// Reads one request (head + `content-length` body) from `client`, sends it to the next
/// backend with `connection: close`, and copies the backend's answer back until it closes.
async fn forward(
    mut client: TcpStream,
    backends: &[SocketAddr],
    next: &AtomicUsize,
    counts: &[AtomicUsize],
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut out = format!("{}\r\n", lines.next().unwrap_or_default());
    let mut len = 0usize;
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        let lower = name.to_ascii_lowercase();
        if lower == "content-length" {
            len = line[name.len() + 1..].trim().parse().unwrap_or(0);
        }
        if matches!(
            lower.as_str(),
            "connection" | "keep-alive" | "proxy-connection"
        ) {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("connection: close\r\n\r\n");
    while buf.len() < head_end + len {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let i = next.fetch_add(1, Ordering::SeqCst) % backends.len();
    counts[i].fetch_add(1, Ordering::SeqCst);
    let mut backend = TcpStream::connect(backends[i]).await?;
    backend.write_all(out.as_bytes()).await?;
    backend.write_all(&buf[head_end..]).await?;
    tokio::io::copy(&mut backend, &mut client).await?;
    client.shutdown().await
}

/// One `verity serve` child process of a [`Cluster`].
pub struct Replica {
    child: Child,
    /// The port it binds (127.0.0.1).
    pub port: u16,
    /// Where its stdout and stderr go (appended to across restarts).
    pub log_path: PathBuf,
    config_path: PathBuf,
    /// The log's length when this process started (its own lines come after).
    log_from: usize,
}

/// Starts `binary --config <config_path> serve` in `dir`, its output appended to `log_path`,
/// with no `VERITY_*` variable of the test's environment, and `VERITY_TEST_CRASH_POINT` set
/// to `crash_point` when given (test builds of the binary stop there, see
/// `verity_store::arm_crash_point`).
fn spawn_serve(
    binary: &Path,
    config_path: &Path,
    dir: &Path,
    log_path: &Path,
    crash_point: Option<&str>,
) -> Result<Child, String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(|e| e.to_string())?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(config_path)
        .arg("serve")
        .current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VERITY_") {
            command.env_remove(key);
        }
    }
    if let Some(point) = crash_point {
        command.env("VERITY_TEST_CRASH_POINT", point);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))
}

impl Replica {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of its log (of every start).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The last lines the running (or last) process wrote.
    pub fn own_log_tail(&self) -> String {
        let log = std::fs::read(&self.log_path).unwrap_or_default();
        let own = String::from_utf8_lossy(log.get(self.log_from..).unwrap_or(&[])).to_string();
        let lines: Vec<&str> = own.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// N replicas on one Postgres database behind a [`RoundRobinProxy`].
pub struct Cluster {
    /// `http://localhost:<proxy port>`: the public URL every replica is configured with.
    pub url: String,
    pub proxy: RoundRobinProxy,
    pub replicas: Vec<Replica>,
    pub admin_token: String,
    /// The Postgres database name (whose backend processes the bench measures).
    pub db_name: String,
    /// Client for RP and admin calls (no redirects, short idle pool).
    pub http: reqwest::Client,
    binary: PathBuf,
    // Dropped after the replicas (field order): the database and the directories.
    db: Option<TestDatabase>,
    dir: Option<tempfile::TempDir>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.replicas.clear();
        self.db.take();
        self.dir.take();
    }
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// The configuration of one replica: its own bind port and data directory; the shared
/// database, KEK, admin token and public URL (the proxy); `[resolver]` allowing exactly the
/// public origin; `extra` appended (more sections).
pub fn replica_toml(
    port: u16,
    public_port: u16,
    data_dir: &Path,
    database_url: &str,
    kek: &str,
    admin_token: &str,
    extra: &str,
) -> String {
    format!(
        "mode = \"development\"\n\n\
         [server]\nbind = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{public_port}\"\n\
         data_dir = {data_dir}\nshutdown_timeout_secs = 2\n\n\
         [database]\nurl = {database_url}\n\n\
         [keys]\nkek = \"{kek}\"\ndefault_algorithm = \"ES256\"\n\n\
         [auth]\nadmin_token = \"{admin_token}\"\n\n\
         [resolver]\nallow_loopback = true\nallow_http_hosts = [\"localhost:{public_port}\"]\n\n\
         {extra}",
        data_dir = toml_string(&data_dir.display().to_string()),
        database_url = toml_string(database_url),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// Starts `n` replicas of `binary` at the same time on a fresh Postgres database, with
    /// `extra` TOML appended to each configuration; waits until each answers `/health/ready`.
    /// `Ok(None)` when Postgres is not configured (the skip is printed).
    pub async fn start(n: usize, binary: &Path, extra: &str) -> Result<Option<Cluster>, String> {
        Self::start_on(Backend::Postgres, n, binary, extra).await
    }

    /// [`Cluster::start`] on `backend` (SQLite: one file, so `n` should be 1).
    pub async fn start_on(
        backend: Backend,
        n: usize,
        binary: &Path,
        extra: &str,
    ) -> Result<Option<Cluster>, String> {
        if !binary.is_file() {
            return Err(format!("{} not found", binary.display()));
        }
        let Some(db) = fresh_database(backend).await else {
            return Ok(None);
        };
        let db_name = db
            .url
            .rsplit('/')
            .next()
            .map(|s| s.split('?').next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (listener, public_port) = RoundRobinProxy::bind().await;
        let admin_token = format!("vrt_admin_replicas_{}", uuid::Uuid::new_v4().simple());
        let kek = verity_jose::KeyEncryptionKey::generate().1;
        let mut replicas = Vec::new();
        for i in 0..n {
            let port = free_port();
            let data_dir = dir.path().join(format!("data-{i}"));
            let config_path = dir.path().join(format!("verity-{i}.toml"));
            let toml = replica_toml(
                port,
                public_port,
                &data_dir,
                &db.url,
                &kek,
                &admin_token,
                extra,
            );
            std::fs::write(&config_path, toml).map_err(|e| e.to_string())?;
            let log_path = dir.path().join(format!("replica-{i}.log"));
            let child = spawn_serve(binary, &config_path, dir.path(), &log_path, None)?;
            replicas.push(Replica {
                child,
                port,
                log_path,
                config_path,
                log_from: 0,
            });
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let backends = replicas
            .iter()
            .map(|r| SocketAddr::from(([127, 0, 0, 1], r.port)))
            .collect();
        let mut cluster = Cluster {
            url: format!("http://localhost:{public_port}"),
            proxy: RoundRobinProxy::serve(listener, backends),
            replicas,
            admin_token,
            db_name,
            http,
            binary: binary.to_owned(),
            db: Some(db),
            dir: Some(dir),
        };
        for i in 0..n {
            cluster.wait_ready(i, Duration::from_secs(60)).await?;
        }
        Ok(Some(cluster))
    }

    /// Kills replica `i` with SIGKILL (no shutdown of any kind) and reaps it.
    pub fn kill(&mut self, i: usize) {
        let child = &mut self.replicas[i].child;
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// Starts replica `i` again (after [`Cluster::kill`]) on the same port, configuration and
    /// database, stopping at `crash_point` when given; waits until it is ready.
    pub async fn restart(&mut self, i: usize, crash_point: Option<&str>) -> Result<(), String> {
        self.kill(i);
        let dir = self
            .dir
            .as_ref()
            .map(|d| d.path().to_owned())
            .ok_or("the cluster's directory is gone")?;
        let replica = &mut self.replicas[i];
        replica.log_from = std::fs::metadata(&replica.log_path)
            .map(|m| usize::try_from(m.len()).unwrap_or(usize::MAX))
            .unwrap_or(0);
        replica.child = spawn_serve(
            &self.binary,
            &replica.config_path,
            &dir,
            &replica.log_path,
            crash_point,
        )?;
        self.wait_ready(i, Duration::from_secs(60)).await
    }

    /// Rewrites replica `i`'s configuration file (read at its next start) with `edit`.
    pub fn edit_config(&self, i: usize, edit: impl FnOnce(&str) -> String) {
        let path = &self.replicas[i].config_path;
        let text = std::fs::read_to_string(path).unwrap();
        std::fs::write(path, edit(&text)).unwrap();
    }

    /// Replica `i`'s configuration file as it is now.
    pub fn config_text(&self, i: usize) -> String {
        std::fs::read_to_string(&self.replicas[i].config_path).unwrap()
    }

    /// Waits (up to `limit`) until replica `i` printed that it reached the crash point `name`
    /// and stopped there; then kills it with SIGKILL.
    pub async fn kill_at_crash_point(
        &mut self,
        i: usize,
        name: &str,
        limit: Duration,
    ) -> Result<(), String> {
        let line = format!("{} {name}", verity_store::CRASH_POINT_REACHED);
        let start = Instant::now();
        loop {
            let log = std::fs::read(&self.replicas[i].log_path).unwrap_or_default();
            let own = String::from_utf8_lossy(log.get(self.replicas[i].log_from..).unwrap_or(&[]));
            if own.lines().any(|l| l.trim_end() == line) {
                self.kill(i);
                return Ok(());
            }
            if let Ok(Some(status)) = self.replicas[i].child.try_wait() {
                return Err(format!(
                    "replica {i} exited ({status}) before the crash point `{name}`:\n{}",
                    self.replicas[i].log_tail()
                ));
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "replica {i} did not reach the crash point `{name}` in {limit:?}:\n{}",
                    self.replicas[i].log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_ready(&mut self, i: usize, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.replicas[i].child.try_wait() {
                return Err(format!(
                    "replica {i} exited ({status}) before it was ready:\n{}",
                    self.replicas[i].own_log_tail()
                ));
            }
            let url = format!("http://127.0.0.1:{}/health/ready", self.replicas[i].port);
            if let Ok(resp) = self.http.get(&url).send().await
                && resp.status().as_u16() == 200
            {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "replica {i} was not ready after {limit:?}:\n{}",
                    self.replicas[i].own_log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The proxy's port (the public URL's).
    pub fn public_port(&self) -> u16 {
        self.proxy.port
    }

    /// The authority every replica serves at `/.well-known/did.json` (created on first start).
    pub fn authority(&self) -> String {
        format!("did:web:localhost%3A{}", self.proxy.port)
    }

    /// A request straight to replica `i` (not through the proxy), with the public `Host`.
    pub fn direct(&self, i: usize, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(
                method,
                format!("http://127.0.0.1:{}{path}", self.replicas[i].port),
            )
            .header("host", format!("localhost:{}", self.proxy.port))
    }

    /// Creates the example contract `name` (examples/contracts/) for the cluster's authority
    /// through the proxy; its id.
    pub async fn create_contract(&self, name: &str) -> String {
        let definition = crate::issuance::example_contract(name, &self.authority());
        let (status, created) = self
            .admin(reqwest::Method::POST, "/contracts", Some(definition))
            .await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().unwrap().to_owned()
    }

    /// An issuance request body for the `VerifiedCredentialExpert` contract `contract` (the
    /// `id-token-hint` example), calling back `callback` with state `issue-<n>`.
    pub fn issuance_body(&self, callback: &str, contract: &str, n: usize) -> Value {
        json!({
            "authority": self.authority(),
            "includeQRCode": false,
            "registration": { "clientName": "Contoso HR" },
            "callback": { "url": callback, "state": format!("issue-{n}") },
            "type": crate::presentation::EXPERT,
            "manifest": format!("{}/v1.0/manifests/{contract}", self.url),
            "claims": { "given_name": format!("Megan {n}"), "family_name": "Bowen" },
        })
    }

    /// A presentation request body asking for a `VerifiedCredentialExpert` of the cluster's
    /// authority, calling back `callback` with state `present-<n>`.
    pub fn presentation_body(&self, callback: &str, n: usize) -> Value {
        json!({
            "authority": self.authority(),
            "includeQRCode": false,
            "registration": { "clientName": "Helpdesk" },
            "callback": { "url": callback, "state": format!("present-{n}") },
            "requestedCredentials": [crate::presentation::requested(
                crate::presentation::EXPERT,
                &[&self.authority()],
            )],
        })
    }

    /// POSTs create{Issuance,Presentation}Request (`kind`) with the access token `token`
    /// through the proxy; asserts 201 and returns (requestId, url).
    pub async fn create_request(&self, token: &str, kind: &str, body: &Value) -> (String, String) {
        let (status, created) = crate::send(
            self.http
                .post(format!(
                    "{}/v1.0/verifiableCredentials/create{kind}Request",
                    self.url
                ))
                .bearer_auth(token)
                .json(body),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        (
            created["requestId"].as_str().unwrap().to_owned(),
            created["url"].as_str().unwrap().to_owned(),
        )
    }

    /// An admin API call through the proxy.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/admin/v1{path}", self.url))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        crate::send(req).await
    }

    /// An admin API call straight to replica `i`.
    pub async fn admin_on(
        &self,
        i: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .direct(i, method, &format!("/admin/v1{path}"))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        crate::send(req).await
    }

    /// Creates an API client (through the proxy) and returns an access token for it.
    pub async fn access_token(&self) -> String {
        let (status, client) = self
            .admin(
                reqwest::Method::POST,
                "/clients",
                Some(json!({ "name": "replicas-rp" })),
            )
            .await;
        assert_eq!(status, 201, "{client}");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client["clientId"].as_str().unwrap()),
            ("client_secret", client["clientSecret"].as_str().unwrap()),
        ];
        let (status, token) = crate::send(
            self.http
                .post(format!("{}/oauth2/token", self.url))
                .form(&form),
        )
        .await;
        assert_eq!(status, 200, "{token}");
        token["access_token"].as_str().unwrap().to_owned()
    }

    /// The last log lines of every replica, for failure messages.
    pub fn logs(&self) -> String {
        self.replicas
            .iter()
            .enumerate()
            .map(|(i, r)| format!("--- replica {i} ---\n{}", r.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
