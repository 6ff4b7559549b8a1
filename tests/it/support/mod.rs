//! Test support: run one async test body against every backend.
//!
//! SQLite always runs, on a fresh file in a temporary folder. PostgreSQL runs when
//! `ORDERLY_TEST_POSTGRES_URL` names a server (an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`): each test gets a fresh database,
//! `orderly_t_<unique>`, dropped afterwards. Without the variable, the PostgreSQL half is skipped
//! with a loud line on stderr.

use orderly::store::Store;
use sqlx::{Connection, Executor, PgConnection};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the PostgreSQL server for tests.
pub(crate) const POSTGRES_ENV: &str = "ORDERLY_TEST_POSTGRES_URL";

/// Runs `body` on a fresh SQLite store, then on a fresh PostgreSQL store when one is configured.
/// A panic in the body fails the test, naming the backend.
pub(crate) async fn on_both<F, Fut>(name: &str, body: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    on_both_at(name, |store, _url| body(store)).await
}

/// [`on_both`], also giving the body the database's URL (to open a second store on it, or to
/// reach the database behind the store's back).
#[allow(dead_code)] // not every test binary uses it
pub(crate) async fn on_both_at<F, Fut>(name: &str, body: F)
where
    F: Fn(Store, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("orderly.db").display());
    let store = Store::connect(&url).await.expect("SQLite store connects");
    run(name, "SQLite", body(store.clone(), url.clone()))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    store.close().await;

    match std::env::var(POSTGRES_ENV) {
        Ok(admin) if !admin.trim().is_empty() => {
            let db = TestDatabase::create(&admin).await;
            let store = Store::connect(&db.url).await.expect("PostgreSQL store connects");
            let outcome = run(name, "PostgreSQL", body(store.clone(), db.url.clone())).await;
            store.close().await;
            db.drop_database().await;
            outcome.unwrap_or_else(|e| std::panic::resume_unwind(e));
        }
        _ => eprintln!(
            "\n*** SKIPPED PostgreSQL: set {POSTGRES_ENV} to run {name} on PostgreSQL \
             (e.g. {POSTGRES_ENV}=postgres://postgres@127.0.0.1:5432/postgres) ***\n"
        ),
    }
}

/// Runs the body as its own task, so a panic comes back as a value (and the PostgreSQL database
/// can still be dropped).
async fn run<Fut>(name: &str, backend: &str, body: Fut) -> Result<(), Box<dyn std::any::Any + Send>>
where
    Fut: Future<Output = ()> + Send + 'static,
{
    match tokio::spawn(body).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_panic() => {
            eprintln!("{name} FAILED on {backend}");
            Err(e.into_panic())
        }
        Err(e) => panic!("{name} on {backend}: the test task did not finish: {e}"),
    }
}

/// A PostgreSQL database made for one test.
struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    async fn create(admin: &str) -> TestDatabase {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Only digits and `_`: safe to splice into the statement (identifiers cannot be bound).
        let name =
            format!("orderly_t_{}_{}_{}", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut conn = PgConnection::connect(admin)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={admin}: cannot connect: {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        conn.close().await.ok();
        let url = with_database(admin, &name);
        TestDatabase { admin: admin.to_string(), name, url }
    }

    /// Drops the database; a failure only warns (the name is unique, a leftover does no harm).
    async fn drop_database(self) {
        match PgConnection::connect(&self.admin).await {
            Ok(mut conn) => {
                if let Err(e) =
                    conn.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str()).await
                {
                    eprintln!("warning: cannot drop test database {}: {e}", self.name);
                }
                conn.close().await.ok();
            }
            Err(e) => eprintln!("warning: cannot drop test database {}: {e}", self.name),
        }
    }
}

/// The admin URL with its database replaced by `name`.
fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// A TCP forwarder on a loopback port to a database server: cut, the port refuses connections
/// and every connection through it is dropped (the server is gone, as far as a client can tell);
/// restored, the same port forwards again (it came back).
#[allow(dead_code)] // not every test binary uses it
pub(crate) struct Proxy {
    port: u16,
    target: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[allow(dead_code)]
impl Proxy {
    /// A forwarder to the server `url` names (`postgres://user@host:port/db`).
    pub(crate) async fn start(url: &str) -> Proxy {
        let target = server_of(url).unwrap_or_else(|| panic!("no host:port in {url}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a proxy port");
        let port = listener.local_addr().expect("proxy address").port();
        let task = Some(tokio::spawn(forward(listener, target.clone())));
        Proxy { port, target, task }
    }

    /// `url` with its server replaced by this forwarder.
    pub(crate) fn url(&self, url: &str) -> String {
        let server = server_of(url).unwrap_or_default();
        url.replacen(&server, &format!("127.0.0.1:{}", self.port), 1)
    }

    /// Stops forwarding: the port is closed and every forwarded connection dropped.
    pub(crate) async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Forwards again, on the same port.
    pub(crate) async fn restore(&mut self) {
        let listener =
            tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.expect("bind the proxy port again");
        self.task = Some(tokio::spawn(forward(listener, self.target.clone())));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accepts and forwards until aborted; aborting drops the listener and, with the `JoinSet`,
/// every connection.
async fn forward(listener: tokio::net::TcpListener, target: String) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else { return };
        let target = target.clone();
        connections.spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(target.as_str()).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
        while connections.try_join_next().is_some() {}
    }
}

/// `host:port` of a database URL (`scheme://[user[:password]@]host:port/...`).
fn server_of(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let authority = rest.split(['/', '?']).next()?;
    let server = authority.rsplit('@').next()?;
    Some(if server.contains(':') { server.to_string() } else { format!("{server}:5432") })
}

/// The moment the tests' manual clocks start at: 2026-03-02 09:00 UTC.
pub(crate) fn t0() -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().expect("a valid time")
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// Copies a folder and everything in it.
pub(crate) fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}
