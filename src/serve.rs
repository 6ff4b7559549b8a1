//! `orderly serve`: the configuration, the database (created and migrated on start), the
//! workflows (checked; a broken set refuses to start), the HTTP API, the timer loop, hot reload
//! (file watcher, SIGHUP), the delivery worker (outbox messages: webhooks, emails) and a
//! graceful shutdown on SIGTERM or Ctrl-C (stop accepting, let
//! requests in flight finish, exit 0). `raw`: the answers hyper gives by itself (a head it
//! cannot read, too long or too large), sent as JSON errors like every other.

use crate::config::Config;
use crate::delivery::Worker;
use crate::http::{app, AppState};
use crate::metrics::Metrics;
use crate::registry::{Registry, RegistryError};
use crate::reload::Reloader;
use crate::service::{Service, SystemClock};
use crate::store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

mod deadline;
mod raw;

/// Why the service could not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The database cannot be opened or migrated.
    #[error("database `{url}`: {source}")]
    Store {
        /// The URL (without its password).
        url: String,
        /// What failed.
        source: crate::store::StoreError,
    },
    /// The workflows cannot become active; the text holds the rendered findings.
    #[error("{0}")]
    Workflows(String),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Sets up logging as configured (`RUST_LOG`, when set, wins over `log_level`): see
/// [`crate::logging`].
pub(crate) fn init_tracing(config: &Config) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A second call (tests) keeps the first subscriber.
    let _ =
        tracing::subscriber::set_global_default(crate::logging::subscriber(config, std::io::stderr, ansi));
}

/// A database URL with its password hidden, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}://{}:***{}", &url[..scheme], &userinfo[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Runs the service until SIGTERM or Ctrl-C.
pub(crate) async fn run(config: Config) -> Result<(), ServeError> {
    config.check_exposure()?;
    let options = crate::store::ConnectOptions {
        synchronous: config.sqlite_synchronous,
        ..crate::store::ConnectOptions::default()
    };
    let store = Store::connect_with(&config.database_url, options)
        .await
        .map_err(|source| ServeError::Store { url: redact(&config.database_url), source })?;
    let registry = match Registry::load(&config.workflows, &store).await {
        Ok(r) => r,
        Err(RegistryError::Invalid(reports)) => {
            let rendered: String = reports.iter().map(|r| r.render(false)).collect();
            return Err(ServeError::Workflows(format!(
                "{rendered}the workflows in `{}` have errors; fix them and start again",
                config.workflows.display()
            )));
        }
        Err(e) => {
            return Err(ServeError::Workflows(format!("workflows `{}`: {e}", config.workflows.display())))
        }
    };
    let active: Vec<String> = registry.all().map(|a| format!("{}@{}", a.workflow.name, a.version)).collect();
    let service = Arc::new(Service::serving(store.clone(), registry, Arc::new(SystemClock)));
    let reloader = Arc::new(Reloader::new(service.clone(), config.workflows.clone()));
    let _watch = if config.watch {
        match reloader.watch(Duration::from_millis(config.reload_debounce_ms)) {
            Ok(guard) => Some(guard),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the workflows folder; reload with SIGHUP or POST /v1/workflows/reload");
                None
            }
        }
    } else {
        None
    };
    let sighup = reloader.on_sighup();
    let metrics = Arc::new(Metrics::new());
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServeError::Bind { addr: config.bind, source })?;
    let addr = listener.local_addr()?;
    if config.open() {
        tracing::warn!(
            "no tokens or users configured: every request may do everything (pages open as the local user), \
             so the service listens on loopback only (add [[tokens]] or `orderly user add` to open it to \
             the network; see docs/configuration.md)"
        );
    } else if config.users.is_empty() {
        tracing::warn!("no staff users configured: the studio's login takes nobody (add one with `orderly user add NAME --role admin`)");
    }
    tracing::info!(
        address = %addr,
        database = %redact(&config.database_url),
        workflows = %active.join(", "),
        "orderly listening on http://{addr} with workflows {}",
        active.join(", ")
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let timers = tokio::spawn(timer_loop(
        service.clone(),
        metrics.clone(),
        Duration::from_millis(config.timer_interval_ms.max(10)),
        stop_rx.clone(),
    ));
    let worker = Worker::new(service.clone(), &config, Some(metrics.clone()));
    let missing = worker.missing_targets();
    if !missing.is_empty() {
        tracing::warn!(
            targets = %missing.join(", "),
            "webhook targets named in the workflows have no [webhooks.NAME] table in the configuration: \
             their messages wait in the outbox (GET /v1/outbox?state=pending) until one is added and the service restarts"
        );
    }
    if config.email.is_none() {
        tracing::info!("no [email] configured: email messages wait in the outbox");
    }
    let delivery =
        tokio::spawn(worker.run(Duration::from_millis(config.delivery.interval_ms.max(10)), stop_rx.clone()));
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let limits = Limits {
        max_connections: config.max_connections,
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        body_read_timeout: Duration::from_millis(config.body_read_timeout_ms),
        max_header_size: config.max_header_size,
    };
    let state = AppState::new(service.clone(), config, metrics, Some(reloader));
    let pages = state.clone();
    let per_client = deadline::PerClient::new(
        (limits.max_connections / CLIENT_SHARE).max(1),
        pages.config.trusted_proxies.clone(),
    );
    let router = app(state);
    let server = tokio::spawn(accept_loop(listener, router, limits, per_client, stop_rx.clone()));
    shutdown_signal().await;
    tracing::info!("shutting down: no new connections; finishing requests in flight (up to {grace:?})");
    let _ = stop_tx.send(true);
    // The boards' live streams would hold their connections open to the end of the grace.
    pages.pages.live.close();
    let mut server = server;
    match tokio::time::timeout(grace, &mut server).await {
        Ok(Ok(())) => {}
        Ok(Err(join)) => tracing::error!(error = %join, "the server task failed"),
        Err(_) => {
            // The grace is over: requests still running are cancelled where they wait (a
            // transaction not yet committed rolls back; a client that sent an idempotency
            // key can retry safely).
            tracing::warn!("requests still running after {grace:?}: cancelling them");
            server.abort();
            let _ = server.await;
        }
    }
    let _ = timers.await;
    let _ = delivery.await;
    sighup.abort();
    // Connections the cancelled requests held go back as they drop; do not wait past a second.
    if tokio::time::timeout(Duration::from_secs(1), store.close()).await.is_err() {
        tracing::warn!("the database pool did not close within 1 s; exiting anyway");
    }
    tracing::info!("stopped");
    Ok(())
}

/// What one client can hold: connections served at once, how long a client may take to
/// send headers (or sit idle between requests) and a body, and how large a request's head may be.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_connections: usize,
    header_read_timeout: Duration,
    body_read_timeout: Duration,
    max_header_size: usize,
}

/// One client address may hold at most `max_connections / CLIENT_SHARE` connections
/// (trusted proxies excepted).
const CLIENT_SHARE: usize = 4;

/// hyper's own read buffer (8 KiB + 100 × 4 KiB): a request head must fit in it, so a larger
/// `max_header_size` grows it.
const HYPER_BUFFER: usize = 8192 + 4096 * 100;

/// Accepts connections while fewer than `max_connections` are open (the rest wait in the
/// listen queue, so open files stay bounded) and serves each with hyper: a client that does not
/// send its headers within `header_read_timeout`, or sits idle that long between requests, is
/// disconnected; a body must arrive whole within `body_read_timeout` of the request's start, and
/// one client address holds at most a share of the slots (`deadline`); a head larger than
/// `max_header_size` is answered 431 (hyper's bare answers are
/// sent as JSON errors, see `raw`). On stop, no new connection is accepted and open ones finish
/// their requests; aborting this task cancels them.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: Limits,
    per_client: deadline::PerClient,
    mut stop: watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .max_header_size(limits.max_header_size)
        .max_buf_size(HYPER_BUFFER.max(limits.max_header_size + 8192));
    let bodies = raw::Bodies::new(limits.max_header_size);
    let stopping = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopping);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut stopping => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopping => break,
        };
        // One address holds at most its share of the slots: past it, the connection is closed
        // at once (the client may try again when one of its own finishes).
        let Some(held) = per_client.admit(peer.ip()) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let body_deadline = limits.body_read_timeout;
        let service =
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                let mut router = router.clone();
                async move {
                    use tower::Service as _;
                    // The whole body within `body_read_timeout` of the request's start.
                    let request = request.map(|b| {
                        axum::body::Body::new(deadline::Deadline::new(
                            axum::body::Body::new(b),
                            body_deadline,
                        ))
                    });
                    router.call(request).await
                }
            });
        let io = TokioIo::new(raw::JsonAnswers::new(stream, bodies.clone()));
        let connection = http.serve_connection(io, service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            let _held = held;
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Fires due timers every `every` until told to stop.
async fn timer_loop(
    service: Arc<Service>,
    metrics: Arc<Metrics>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let mut observe = |lag: chrono::Duration| {
            metrics.timer_fired(lag.to_std().map_or(0.0, |d| d.as_secs_f64()));
        };
        match service.fire_due_timers_with(&mut observe).await {
            Ok(()) => {}
            Err(e) => tracing::error!(error = %e, "firing due timers failed; trying again next tick"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/orders"), "postgres://app:***@db:5432/orders");
        assert_eq!(redact("postgres://postgres@127.0.0.1/x"), "postgres://postgres@127.0.0.1/x");
        assert_eq!(redact("sqlite://orderly.db"), "sqlite://orderly.db");
    }
}
