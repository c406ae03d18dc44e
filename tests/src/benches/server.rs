//! `verity serve` as users run it: the release binary in its own process, on a fresh database,
//! with a configuration file written here, reached over loopback HTTP only.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use verity_store::testing::{Backend, TestDatabase, fresh_database};

use super::procfs;

/// A running `verity serve` child process and what the benchmark needs to drive it.
pub struct ServerProcess {
    child: Child,
    /// `http://localhost:<port>`, also the server's public URL.
    pub url: String,
    /// The loopback port it listens on.
    pub port: u16,
    /// The admin token written into its configuration.
    pub admin_token: String,
    /// HTTP client for the RP and admin calls.
    pub http: reqwest::Client,
    /// Which store it runs on.
    pub backend: Backend,
    /// The Postgres database name, whose backend processes [`ServerProcess::db_cpu_ticks`] sums.
    pub db_name: Option<String>,
    /// Where its stdout and stderr go.
    pub log_path: PathBuf,
    // Dropped after the child is stopped: the Postgres database is removed then, and the
    // directory holds the SQLite file, the configuration and the log.
    db: Option<TestDatabase>,
    dir: Option<tempfile::TempDir>,
}

/// The configuration file the benchmark writes: development mode with an explicit KEK and admin
/// token (as `verity init` plus the secrets a deployment sets), a public URL on the chosen
/// loopback port, and `[resolver]` allowing exactly that plain-http origin, so the server can
/// verify its own credentials and status lists the way `verity init` sets it up. The rate
/// limits are off: every request of the load comes from one loopback address.
pub fn config_toml(
    port: u16,
    data_dir: &Path,
    database_url: &str,
    kek: &str,
    admin_token: &str,
) -> String {
    format!(
        "mode = \"development\"\n\n\
         [server]\nbind = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\"\n\
         data_dir = {data_dir}\nshutdown_timeout_secs = 2\n\n\
         [database]\nurl = {database_url}\n\n\
         [keys]\nkek = \"{kek}\"\ndefault_algorithm = \"ES256\"\n\n\
         [auth]\nadmin_token = \"{admin_token}\"\n\n\
         [resolver]\nallow_loopback = true\nallow_http_hosts = [\"localhost:{port}\"]\n\n\
         [limits]\noauth_token_per_minute = 0\noauth_client_failures_per_minute = 0\n\
         openid4vci_token_per_minute = 0\nholder_request_per_minute = 0\n\
         presentation_response_per_minute = 0\nface_check_per_minute = 0\n\
         api_client_per_minute = 0\n",
        data_dir = toml_string(&data_dir.display().to_string()),
        database_url = toml_string(database_url),
    )
}

/// A TOML basic string holding `s` (paths and URLs may hold quotes or backslashes).
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A loopback port nobody listens on right now (the OS picks it; the server binds it next).
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read the free port: {e}"))
}

/// The `verity` binary next to the running `bench` binary (both in target/release).
pub fn default_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("verity")))
        .unwrap_or_else(|| PathBuf::from("verity"))
}

impl ServerProcess {
    /// Creates a fresh database on `backend`, writes the configuration, starts `binary serve`
    /// and waits until `/health/ready` answers 200.
    pub async fn start(backend: Backend, binary: &Path) -> Result<ServerProcess, String> {
        if !binary.is_file() {
            return Err(format!(
                "{} not found: build it with `cargo build --release -p verity -p verity-tests --bin verity --bin bench` or pass --verity <path>",
                binary.display()
            ));
        }
        let db = fresh_database(backend).await.ok_or_else(|| {
            "Postgres needs VERITY_TEST_POSTGRES_URL (a server the benchmark may create a database on)"
                .to_owned()
        })?;
        let db_name = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => db
                .url
                .rsplit('/')
                .next()
                .map(|s| s.split('?').next().unwrap_or_default().to_owned()),
        };
        let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let data_dir = dir.path().join("data");
        let database_url = match backend {
            // Next to the configuration, so one directory holds the whole deployment.
            Backend::Sqlite => format!("sqlite://{}", data_dir.join("verity.db").display()),
            Backend::Postgres => db.url.clone(),
        };
        let port = free_port()?;
        let admin_token = format!("vrt_admin_bench_{}", uuid::Uuid::new_v4().simple());
        let kek = verity_jose::KeyEncryptionKey::generate().1;
        let config_path = dir.path().join("verity.toml");
        std::fs::write(
            &config_path,
            config_toml(port, &data_dir, &database_url, &kek, &admin_token),
        )
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot share {}: {e}", log_path.display()))?;
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(&config_path)
            .arg("serve")
            .current_dir(dir.path());
        // The configuration file is the whole configuration: no VERITY__* from the caller.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("VERITY_") {
                command.env_remove(key);
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Below the server's keep-alive, so a pooled connection is never reused just as the
            // server closes it (a POST is not retried on such a race).
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let mut server = ServerProcess {
            child,
            url: format!("http://localhost:{port}"),
            port,
            admin_token,
            http,
            backend,
            db_name,
            log_path,
            db: Some(db),
            dir: Some(dir),
        };
        server.wait_ready(Duration::from_secs(60)).await?;
        Ok(server)
    }

    /// Polls `/health/ready` until it answers 200, the process exits, or `limit` passes.
    async fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        let url = format!("{}/health/ready", self.url);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "verity serve exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                ));
            }
            if let Ok(resp) = self.http.get(&url).send().await
                && resp.status().as_u16() == 200
            {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "verity serve was not ready after {limit:?}:\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's CPU time so far (utime + stime), in clock ticks.
    pub fn cpu_ticks(&self) -> Result<u64, String> {
        procfs::process_cpu_ticks(self.pid())
    }

    /// CPU ticks of the Postgres backends serving this server's database (0 on SQLite, whose
    /// work happens inside the server process).
    pub fn db_cpu_ticks(&self) -> u64 {
        match &self.db_name {
            Some(name) => procfs::processes_matching(&format!(" {name} "))
                .iter()
                .map(|(_, t)| t)
                .sum(),
            None => 0,
        }
    }

    /// The first authority's DID, created on first start for the public URL.
    pub fn authority(&self) -> String {
        format!("did:web:localhost%3A{}", self.port)
    }

    /// An admin API call; returns status and JSON body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let mut req = self
            .http
            .request(method, format!("{}/admin/v1{path}", self.url))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        send(req).await
    }

    /// Creates an API client and returns an access token for it (what an RP app does once).
    pub async fn access_token(&self) -> Result<String, String> {
        let (status, client) = self
            .admin(
                reqwest::Method::POST,
                "/clients",
                Some(json!({ "name": "bench-rp" })),
            )
            .await?;
        if status != 201 {
            return Err(format!("creating an API client: {status} {client}"));
        }
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client["clientId"].as_str().unwrap_or_default()),
            (
                "client_secret",
                client["clientSecret"].as_str().unwrap_or_default(),
            ),
        ];
        let (status, token) = send(
            self.http
                .post(format!("{}/oauth2/token", self.url))
                .form(&form),
        )
        .await?;
        token["access_token"]
            .as_str()
            .filter(|_| status == 200)
            .map(str::to_owned)
            .ok_or_else(|| format!("token endpoint: {status} {token}"))
    }

    /// Creates the idTokenHint example contract for the first authority; returns its id.
    pub async fn create_contract(&self) -> Result<String, String> {
        let mut contract: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/contracts/id-token-hint.json"
        )))
        .map_err(|e| format!("examples/contracts/id-token-hint.json: {e}"))?;
        contract["authority"] = json!(self.authority());
        let (status, body) = self
            .admin(reqwest::Method::POST, "/contracts", Some(contract))
            .await?;
        body["id"]
            .as_str()
            .filter(|_| status == 201)
            .map(str::to_owned)
            .ok_or_else(|| format!("creating the contract: {status} {body}"))
    }

    /// Stops the server gracefully (SIGTERM, so SQLite checkpoints its WAL and Postgres
    /// connections close; SIGKILL after 10 s) and removes its database.
    pub async fn stop(mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // Drop kills it if it is still running, then removes the database and directory.
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Never leave a server behind, also when the benchmark fails half way.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.db.take();
        self.dir.take();
    }
}

/// Sends a request; returns status + JSON body (Null when empty, a string when not JSON).
pub async fn send(req: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
    let resp = req
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .await
        .map_err(|e| format!("reading the response: {e}"))?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_valid_and_allows_only_its_own_origin() {
        let text = config_toml(
            4321,
            Path::new("/tmp/a \"b\"/data"),
            "sqlite:///tmp/x.db",
            &verity_jose::KeyEncryptionKey::generate().1,
            "vrt_admin_bench_0123456789abcdef0123456789",
        );
        let config = verity_server::Config::from_toml(&text).unwrap();
        assert_eq!(config.server.bind.port(), 4321);
        assert_eq!(config.public_url_for_port(4321), "http://localhost:4321");
        assert_eq!(config.server.data_dir, Path::new("/tmp/a \"b\"/data"));
        assert!(config.resolver.allow_loopback);
        assert_eq!(config.resolver.allow_http_hosts, vec!["localhost:4321"]);
        assert!(config.keys.kek.is_some());
        assert!(config.auth.admin_token.is_some());
    }
}
