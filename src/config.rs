//! The service's configuration (`orderly serve`), read once at start.
//!
//! Precedence, lowest first: the built-in defaults ([`Config::default`]), then the file
//! (`orderly.toml`, or the one given with `--config`), then the `ORDERLY_*` environment
//! variables, one per key (`bind` is `ORDERLY_BIND`; `ORDERLY_TOKENS` holds the tokens as a JSON
//! array and replaces the file's list). Unknown keys are errors, not ignored, and every error
//! says where it is: `orderly.toml:3:1: ...` for the file, `ORDERLY_BIND=...: ...` for the
//! environment. Tokens are kept only as SHA-256 digests of their secrets. `docs/configuration.md`
//! is the operator's reference.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::diagnostics::did_you_mean;

mod users;
pub use users::{
    add_to_file, decoy_hash, hash_password, verify_password, User, BUILT_IN_ROLES, MIN_PASSWORD,
};

/// The configuration of `orderly serve`: defaults, then the file, then the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The store: `sqlite://...` or `postgres://...` (`database_url`, `ORDERLY_DATABASE_URL`).
    pub database_url: String,
    /// SQLite's durability (`sqlite_synchronous`: `full`, the default, or `normal`, which can
    /// lose the last acknowledged writes on a power failure). Ignored on PostgreSQL.
    pub sqlite_synchronous: crate::store::Synchronous,
    /// The address to listen on (`bind`, `ORDERLY_BIND`).
    pub bind: SocketAddr,
    /// The folder of `*.flow` files (`workflows`, `ORDERLY_WORKFLOWS`).
    pub workflows: PathBuf,
    /// The largest request body accepted, in bytes (`body_limit`, `ORDERLY_BODY_LIMIT`).
    pub body_limit: usize,
    /// How log lines are written (`log_format`, `ORDERLY_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// A tracing `EnvFilter` directive such as `info` or `orderly=debug,info` (`log_level`,
    /// `ORDERLY_LOG_LEVEL`); `RUST_LOG`, when set, wins over it.
    pub log_level: String,
    /// The API tokens (`[[tokens]]`, `ORDERLY_TOKENS`). None means every route is open.
    pub tokens: Vec<Token>,
    /// Staff users of the browser faces (`[[users]]`), each with a role.
    pub users: Vec<User>,
    /// How long a staff login lasts, in hours (`session_hours`, default 12).
    pub session_hours: u64,
    /// Whether session cookies are marked `Secure` (sent over HTTPS only): set it when a TLS
    /// proxy is in front (`secure_cookies`, default false).
    pub secure_cookies: bool,
    /// `/v1/track` requests allowed per client address per minute (`track_per_minute`).
    pub track_per_minute: u32,
    /// The store's name on the customer's order page `/track` (`track_name`).
    pub track_name: Option<String>,
    /// An `https://` image shown at the top of `/track` (`track_logo_url`).
    pub track_logo_url: Option<String>,
    /// A CSS file (a path, read when asked) that `/track` loads after its own, so the page looks
    /// like the store (`track_stylesheet`).
    pub track_stylesheet: Option<PathBuf>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`trusted_proxies`: addresses
    /// or networks such as `10.0.0.0/8`). Requests from anywhere else are keyed by their socket
    /// address, whatever they send.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How often due timers are fired, in milliseconds (`timer_interval_ms`).
    pub timer_interval_ms: u64,
    /// Quiet time after the last workflow file change before reloading (`reload_debounce_ms`).
    pub reload_debounce_ms: u64,
    /// Whether to watch the workflows folder and reload on change (`watch`).
    pub watch: bool,
    /// On SIGTERM, how long in-flight requests may take to finish (`shutdown_grace_seconds`).
    pub shutdown_grace_seconds: u64,
    /// Connections served at once (`max_connections`); more wait in the listen queue.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and how long a kept-alive
    /// connection may sit idle before its next request (`header_read_timeout_ms`).
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body (`body_read_timeout_ms`).
    pub body_read_timeout_ms: u64,
    /// The largest request head (request line and headers) accepted, in bytes
    /// (`max_header_size`, `ORDERLY_MAX_HEADER_SIZE`); larger is answered 431.
    pub max_header_size: usize,
    /// Webhook targets by name (`[webhooks.NAME]`), as workflows name them (`send webhook NAME`).
    pub webhooks: BTreeMap<String, WebhookSettings>,
    /// How the delivery worker paces itself (`[delivery]`).
    pub delivery: DeliverySettings,
    /// How emails are sent (`[email]`); without it, email messages wait in the outbox.
    pub email: Option<EmailSettings>,
    /// The file the configuration was read from; `None` for defaults and environment only.
    pub source: Option<PathBuf>,
}

/// A webhook target (`[webhooks.NAME]`).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Where messages are POSTed (`http://` or `https://`).
    pub url: String,
    /// The HMAC-SHA256 key the signature is made with (`secret`, or the variable `secret_env`
    /// names); at least 16 characters.
    pub secret: String,
    /// How long one attempt may take, in milliseconds (`timeout_ms`, default 5000).
    pub timeout_ms: u64,
    /// Attempts before the message is dead (`max_attempts`, default 8).
    pub max_attempts: u32,
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &self.url)
            .field("secret", &"***")
            .field("timeout_ms", &self.timeout_ms)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// How the delivery worker paces itself (`[delivery]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// How often due messages are looked for, in milliseconds (`interval_ms`, default 500).
    pub interval_ms: u64,
    /// The first retry's delay ceiling, doubled for each attempt (`backoff_base_ms`, 1000).
    pub backoff_base_ms: u64,
    /// The largest retry delay ceiling (`backoff_max_ms`, 300000).
    pub backoff_max_ms: u64,
    /// How long a claimed message is held by the process sending it: one that dies mid-send
    /// leaves the message due again after this (`lease_seconds`, 60).
    pub lease_seconds: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            interval_ms: 500,
            backoff_base_ms: 1000,
            backoff_max_ms: 300_000,
            lease_seconds: 60,
        }
    }
}

/// How emails are sent (`[email]`).
#[derive(Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// The SMTP server (`smtp_host`, required).
    pub smtp_host: String,
    /// Its port (`smtp_port`, default 25).
    pub smtp_port: u16,
    /// The sender address (`from`, required).
    pub from: String,
    /// The SMTP user (`username`).
    pub username: Option<String>,
    /// The SMTP password (`password`, or the variable `password_env` names).
    pub password: Option<String>,
    /// `false` (default): plain SMTP, for local relays and tests; `true`: STARTTLS.
    pub tls: bool,
    /// The templates folder (`templates`); `None`: `<workflows>/templates`.
    pub templates: Option<PathBuf>,
}

impl EmailSettings {
    /// The templates folder: `templates`, or `templates/` in the workflows folder.
    pub fn templates_dir(&self, workflows: &Path) -> PathBuf {
        self.templates.clone().unwrap_or_else(|| workflows.join("templates"))
    }
}

impl fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSettings")
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .field("templates", &self.templates)
            .finish()
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Readable lines for a terminal (`human`).
    #[default]
    Human,
    /// One JSON object per line, for log collectors (`json`).
    Json,
}

/// What a token may do. Written `orders:read`, `orders:write`, `events:write`,
/// `workflows:read`, `metrics:read`, `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `orders:read`: list and read orders.
    OrdersRead,
    /// `orders:write`: create orders, take locks, edit fulfillment actions.
    OrdersWrite,
    /// `events:write`: post events to orders.
    EventsWrite,
    /// `workflows:read`: read the active workflows.
    WorkflowsRead,
    /// `metrics:read`: scrape `/metrics`.
    MetricsRead,
    /// `admin`: everything, including reloading the workflows.
    Admin,
}

/// An API token: a name, the SHA-256 of its secret, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// A name for logs and messages, unique among the tokens.
    pub name: String,
    /// The SHA-256 digest of the secret (the secret itself is not kept).
    pub sha256: [u8; 32],
    /// What the token may do.
    pub scopes: Vec<Scope>,
    /// With `events:write`: the only event names this token may post (`None`: all of them).
    pub events: Option<Vec<String>>,
    /// Other actors this token may act for (`acts_for`, e.g. the clerks of a shared terminal):
    /// a request may name one of them as its `actor` or lock `holder`. Otherwise the token's
    /// own name is the actor.
    pub acts_for: Vec<String>,
}

/// Why the configuration could not be read. `Display` gives one message saying what and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A mistake in the file.
    #[error("{}:{line}:{column}: {message}", file.display())]
    File {
        /// The file, as given.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A mistake in an `ORDERLY_*` environment variable.
    #[error("{var}{}: {message}", value.as_ref().map(|v| format!("={v}")).unwrap_or_default())]
    Env {
        /// The variable.
        var: String,
        /// Its value, when it is safe to repeat (never for tokens or the database URL).
        value: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A non-loopback address without any token: the service would be open to the network.
    #[error(
        "refusing to listen on `{bind}` without tokens or users: every route, admin ones included, \
         would be open to anyone who can reach it; add a `[[tokens]]` table to the configuration \
         file (or set ORDERLY_TOKENS) or a staff user (`orderly user add NAME --role admin`), or \
         bind to a loopback address such as `127.0.0.1:{}`",
        bind.port()
    )]
    Exposure {
        /// The refused address.
        bind: SocketAddr,
    },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://orderly.db".into(),
            sqlite_synchronous: crate::store::Synchronous::Full,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workflows: PathBuf::from("workflows"),
            body_limit: 1_048_576,
            log_format: LogFormat::Human,
            log_level: "info".into(),
            tokens: Vec::new(),
            users: Vec::new(),
            session_hours: 12,
            secure_cookies: false,
            track_per_minute: 30,
            track_name: None,
            track_logo_url: None,
            track_stylesheet: None,
            trusted_proxies: Vec::new(),
            timer_interval_ms: 1000,
            reload_debounce_ms: 100,
            watch: true,
            shutdown_grace_seconds: 30,
            max_connections: 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            max_header_size: 128 * 1024,
            webhooks: BTreeMap::new(),
            delivery: DeliverySettings::default(),
            email: None,
            source: None,
        }
    }
}

impl Scope {
    /// Every scope, in the order they are documented.
    pub const ALL: [Scope; 6] = [
        Scope::OrdersRead,
        Scope::OrdersWrite,
        Scope::EventsWrite,
        Scope::WorkflowsRead,
        Scope::MetricsRead,
        Scope::Admin,
    ];

    /// How the scope is written: `orders:read`, ...
    pub fn code(self) -> &'static str {
        match self {
            Scope::OrdersRead => "orders:read",
            Scope::OrdersWrite => "orders:write",
            Scope::EventsWrite => "events:write",
            Scope::WorkflowsRead => "workflows:read",
            Scope::MetricsRead => "metrics:read",
            Scope::Admin => "admin",
        }
    }

    /// The scope written `s`, if any.
    pub fn from_code(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.code() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Scope::from_code(&s).ok_or_else(|| {
            let codes = Scope::ALL.map(Scope::code);
            let hint = did_you_mean(&s, codes).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default();
            serde::de::Error::custom(format!("unknown scope `{s}`{hint} (scopes: {})", codes.join(", ")))
        })
    }
}

impl Token {
    /// Whether the token has `scope`; `admin` allows everything.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }

    /// Whether the token may post `event`: `admin`, or `events:write` and the event is in its
    /// `events` list (or it has none).
    pub fn allows_event(&self, event: &str) -> bool {
        self.scopes.contains(&Scope::Admin)
            || (self.scopes.contains(&Scope::EventsWrite)
                && self.events.as_ref().is_none_or(|events| events.iter().any(|e| e == event)))
    }
}

impl Config {
    /// Reads `path` if given (error if missing), else `orderly.toml` in the current directory if
    /// it exists, else defaults; then applies env overrides read through `env` (pass
    /// `|k| std::env::var(k).ok()` in production; tests pass a closure over a map).
    pub fn load(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let default = Path::new("orderly.toml");
        let path = match path {
            Some(p) => p,
            None if default.is_file() => default,
            None => {
                let mut config = Config::default();
                config.apply_env(&env)?;
                return Ok(config);
            }
        };
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Config::from_toml(&text, path, env)
    }

    /// Reads the configuration from `text`, the contents of `file` (the name used in messages),
    /// then applies the environment overrides read through `env`.
    pub fn from_toml(
        text: &str,
        file: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let at = |span: Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            ConfigError::File { file: file.into(), line, column, message }
        };
        let mut raw: RawFile = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().lines().map(str::trim).collect::<Vec<_>>().join("; ");
            at(e.span().unwrap_or(0..0), unknown_key(&message))
        })?;
        let mut config = Config { source: Some(file.into()), ..Config::default() };
        for (key, value) in raw.scalars() {
            if let Some(value) = value {
                config.set(key, value.get_ref()).map_err(|m| at(value.span(), format!("`{key}` {m}")))?;
            }
        }
        if let Some(tokens) = raw.tokens {
            let tokens = tokens.0.into_iter().map(|t| (t.span(), t.into_inner()));
            config.tokens = tokens_from(tokens).map_err(|(span, m)| at(span, m))?;
        }
        let own_roles = raw.roles.map(Spanned::into_inner).unwrap_or_default();
        if let Some((name, _)) = own_roles.iter().find(|(_, scopes)| scopes.is_empty()) {
            let codes = Scope::ALL.map(Scope::code).join(", ");
            return Err(at(
                0..0,
                format!("role `{name}` in `[roles]` has no scopes: give it at least one of {codes}"),
            ));
        }
        if let Some(users) = raw.users {
            let roles = users::roles(&own_roles);
            let users = users.0.into_iter().map(|t| (t.span(), t.into_inner()));
            config.users = users::users_from(users, &roles).map_err(|(span, m)| at(span, m))?;
        }
        for (name, table) in raw.webhooks.unwrap_or_default() {
            let span = table.span();
            let hook = webhook(&name, table.into_inner(), &env).map_err(|(s, m)| at(s.unwrap_or(span), m))?;
            config.webhooks.insert(name, hook);
        }
        if let Some(d) = raw.delivery {
            config.delivery = delivery(d.into_inner()).map_err(|(s, m)| at(s, m))?;
        }
        if let Some(e) = raw.email {
            let span = e.span();
            config.email = Some(email(e.into_inner(), &env).map_err(|(s, m)| at(s.unwrap_or(span), m))?);
        }
        config.apply_env(&env)?;
        Ok(config)
    }

    /// Overrides the keys set by `ORDERLY_*` variables.
    fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for key in KEYS.iter().copied() {
            let var = format!("ORDERLY_{}", key.to_ascii_uppercase());
            if let Some(text) = env(&var) {
                self.set(key, &toml::Value::String(text.clone())).map_err(|message| ConfigError::Env {
                    var,
                    // A database URL may hold a password: never repeat it.
                    value: (key != "database_url").then_some(text),
                    message,
                })?;
            }
        }
        if let Some(json) = env("ORDERLY_TOKENS") {
            let error =
                |message: String| ConfigError::Env { var: "ORDERLY_TOKENS".into(), value: None, message };
            let raw: Vec<RawToken> = serde_json::from_str(&json).map_err(|e| error(json_message(&e)))?;
            self.tokens = tokens_from(raw.into_iter().map(|t| (0..0, t))).map_err(|(_, m)| error(m))?;
        }
        Ok(())
    }

    /// Sets `key` from `value` (environment values arrive as strings). The error message
    /// completes a sentence that starts with the key or the variable: "must be ...".
    fn set(&mut self, key: &str, value: &toml::Value) -> Result<(), String> {
        match key {
            "database_url" => self.database_url = text(value)?,
            "sqlite_synchronous" => {
                self.sqlite_synchronous = crate::store::Synchronous::parse(&text(value)?)
                    .ok_or("must be `full` (every acknowledged write survives a power failure) or `normal`")?
            }
            "bind" => {
                let text = text(value)?;
                self.bind =
                    text.parse().map_err(|e| format!("must be an address like `127.0.0.1:8080`: {e}"))?;
            }
            "workflows" => self.workflows = text(value)?.into(),
            "body_limit" => self.body_limit = byte_size(value)?,
            "log_format" => {
                self.log_format = match text(value)?.to_ascii_lowercase().as_str() {
                    "human" => LogFormat::Human,
                    "json" => LogFormat::Json,
                    _ => return Err("must be `human` or `json`".into()),
                }
            }
            "log_level" => {
                let filter = text(value)?;
                if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&filter) {
                    return Err(format!("must be a filter like `info` or `orderly=debug,info`: {e}"));
                }
                self.log_level = filter;
            }
            "track_per_minute" => self.track_per_minute = whole(value, 1)?,
            "track_name" => self.track_name = Some(text(value)?).filter(|t| !t.trim().is_empty()),
            "track_logo_url" => {
                let url = text(value)?;
                let ok = url.strip_prefix("https://").is_some_and(|rest| {
                    !rest.is_empty()
                        && !rest.starts_with('/')
                        && !url
                            .chars()
                            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ';'))
                });
                if !ok {
                    return Err("must be an `https://` address of an image".into());
                }
                self.track_logo_url = Some(url);
            }
            "track_stylesheet" => self.track_stylesheet = Some(text(value)?.into()),
            "trusted_proxies" => {
                let items: Vec<String> = match value {
                    toml::Value::Array(a) => a.iter().map(text).collect::<Result<_, _>>()?,
                    toml::Value::String(s) => {
                        s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
                    }
                    other => return Err(format!("must be a list of addresses, not {}", other.type_str())),
                };
                self.trusted_proxies = items
                    .iter()
                    .map(|p| {
                        p.parse::<ipnet::IpNet>()
                            .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                            .map_err(|_| format!("must list addresses or networks like `10.0.0.1` or `10.0.0.0/8`, not `{p}`"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "timer_interval_ms" => self.timer_interval_ms = whole(value, 1)?,
            "reload_debounce_ms" => self.reload_debounce_ms = whole(value, 0)?,
            "shutdown_grace_seconds" => self.shutdown_grace_seconds = whole(value, 0)?,
            "max_connections" => self.max_connections = whole(value, 1)?,
            "header_read_timeout_ms" => self.header_read_timeout_ms = whole(value, 100)?,
            "body_read_timeout_ms" => self.body_read_timeout_ms = whole(value, 100)?,
            "max_header_size" => {
                let size = byte_size(value)?;
                if !(MIN_HEADER_SIZE..=MAX_HEADER_SIZE).contains(&size) {
                    return Err(format!(
                        "must be between {MIN_HEADER_SIZE} bytes (1KiB) and {MAX_HEADER_SIZE} bytes (16MiB), not {size}"
                    ));
                }
                self.max_header_size = size;
            }
            "session_hours" => self.session_hours = whole(value, 1)?,
            "secure_cookies" => self.secure_cookies = flag(value)?,
            "watch" => self.watch = flag(value)?,
            _ => return Err("is not a configuration key".into()),
        }
        Ok(())
    }

    /// Whether the service is open: no tokens and no staff users, so every caller may do
    /// everything (the API as an anonymous caller, the pages as the local user); such a service
    /// listens on loopback only ([`Config::check_exposure`]).
    pub fn open(&self) -> bool {
        self.tokens.is_empty() && self.users.is_empty()
    }

    /// Finds the token whose secret is `presented` (compares SHA-256 digests).
    pub fn authenticate(&self, presented: &str) -> Option<&Token> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Every byte is compared, so the time taken does not tell where two digests differ.
        self.tokens.iter().find(|t| t.sha256.iter().zip(&digest).fold(0, |acc, (a, b)| acc | (a ^ b)) == 0)
    }

    /// Refuses a non-loopback `bind` when no token is configured (the service would be open to
    /// the network): the error says so and what to do.
    pub fn check_exposure(&self) -> Result<(), ConfigError> {
        if self.open() && !self.bind.ip().to_canonical().is_loopback() {
            return Err(ConfigError::Exposure { bind: self.bind });
        }
        Ok(())
    }
}

/// `true` or `false` (from the environment also `1` or `0`).
fn flag(value: &toml::Value) -> Result<bool, String> {
    match value {
        toml::Value::Boolean(b) => Ok(*b),
        toml::Value::String(s) if ["true", "1"].contains(&s.trim()) => Ok(true),
        toml::Value::String(s) if ["false", "0"].contains(&s.trim()) => Ok(false),
        _ => Err("must be `true` or `false` (or `1` or `0`)".into()),
    }
}

/// The bounds of `max_header_size`.
const MIN_HEADER_SIZE: usize = 1024;
const MAX_HEADER_SIZE: usize = 16 << 20;

/// The one table of the file's top-level keys besides the tables (`tokens`, `webhooks`,
/// `delivery`, `email`): each is a field of [`RawFile`], a member of [`KEYS`] (also set by
/// `ORDERLY_<KEY>`) and an arm of `Config::set`, from this one list.
macro_rules! top_level_keys {
    ($($key:ident),* $(,)?) => {
        /// The keys besides the tables, each also set by `ORDERLY_<KEY>`.
        const KEYS: &[&str] = &[$(stringify!($key)),*];

        /// The file as written: every key optional, unknown keys refused, spans kept for
        /// messages.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawFile {
            $($key: Value,)*
            tokens: Option<Tables<RawToken>>,
            users: Option<Tables<users::RawUser>>,
            roles: Option<Spanned<BTreeMap<String, Vec<Scope>>>>,
            webhooks: Option<BTreeMap<String, Spanned<RawWebhook>>>,
            delivery: Option<Spanned<RawDelivery>>,
            email: Option<Spanned<RawEmail>>,
        }

        impl RawFile {
            /// The top-level keys with their values, in the table's order.
            fn scalars(&mut self) -> Vec<(&'static str, Value)> {
                vec![$((stringify!($key), self.$key.take())),*]
            }
        }
    };
}

top_level_keys!(
    database_url,
    sqlite_synchronous,
    bind,
    workflows,
    body_limit,
    log_format,
    log_level,
    track_per_minute,
    track_name,
    track_logo_url,
    track_stylesheet,
    trusted_proxies,
    timer_interval_ms,
    reload_debounce_ms,
    watch,
    shutdown_grace_seconds,
    max_connections,
    header_read_timeout_ms,
    body_read_timeout_ms,
    max_header_size,
    session_hours,
    secure_cookies,
);

type Value = Option<Spanned<toml::Value>>;

/// A `[webhooks.NAME]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Value,
    secret: Value,
    secret_env: Value,
    timeout_ms: Value,
    max_attempts: Value,
}

/// The `[delivery]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    interval_ms: Value,
    backoff_base_ms: Value,
    backoff_max_ms: Value,
    lease_seconds: Value,
}

/// The `[email]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    smtp_host: Value,
    smtp_port: Value,
    from: Value,
    username: Value,
    password: Value,
    password_env: Value,
    tls: Value,
    templates: Value,
}

/// A mistake in a table: where (`None`: the table itself) and what.
type TableError = (Option<Range<usize>>, String);

/// Reads one value of a table with `read`; the message names `table.key`.
fn field<T>(
    table: &str,
    key: &str,
    value: &Value,
    read: impl Fn(&toml::Value) -> Result<T, String>,
) -> Result<Option<T>, TableError> {
    match value {
        None => Ok(None),
        Some(v) => read(v.get_ref()).map(Some).map_err(|m| (Some(v.span()), format!("`{table}.{key}` {m}"))),
    }
}

/// A secret given in the file (`key`) or through a variable (`key_env`), read with `env`.
fn secret(
    table: &str,
    key: &str,
    plain: &Value,
    from_env: &Value,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, TableError> {
    let plain = field(table, key, plain, text)?;
    let var = field(table, &format!("{key}_env"), from_env, text)?;
    match (plain, var) {
        (Some(_), Some(_)) => Err((None, format!("`{table}` has both `{key}` and `{key}_env`: keep one"))),
        (Some(s), None) => Ok(Some(s)),
        (None, Some(var)) => match env(&var) {
            Some(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            _ => Err((None, format!("`{table}.{key}_env` names `{var}`, which is not set"))),
        },
        (None, None) => Ok(None),
    }
}

fn webhook(
    name: &str,
    raw: RawWebhook,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<WebhookSettings, TableError> {
    let table = format!("webhooks.{name}");
    let url = field(&table, "url", &raw.url, |v| {
        let url = text(v)?;
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(url),
            Ok(_) => Err("must be an `http://` or `https://` URL".to_string()),
            Err(e) => Err(format!("must be an `http://` or `https://` URL: {e}")),
        }
    })?
    .ok_or_else(|| {
        (None, format!("webhook `{name}` has no `url`: give the address messages are POSTed to"))
    })?;
    let secret = secret(&table, "secret", &raw.secret, &raw.secret_env, env)?.ok_or_else(|| {
        (
            None,
            format!(
                "webhook `{name}` has no secret: give `secret` (at least 16 characters) or `secret_env` (a variable holding it)"
            ),
        )
    })?;
    if secret.chars().count() < 16 {
        return Err((
            None,
            format!(
                "webhook `{name}`: the secret is shorter than 16 characters; use a long random value, e.g. from `openssl rand -hex 32`"
            ),
        ));
    }
    Ok(WebhookSettings {
        url,
        secret,
        timeout_ms: field(&table, "timeout_ms", &raw.timeout_ms, |v| whole(v, 1))?.unwrap_or(5000),
        max_attempts: field(&table, "max_attempts", &raw.max_attempts, |v| whole(v, 1))?.unwrap_or(8),
    })
}

fn delivery(raw: RawDelivery) -> Result<DeliverySettings, (Range<usize>, String)> {
    let d = DeliverySettings::default();
    let read = |key: &str, value: &Value, min: i64, default: u64| {
        field("delivery", key, value, |v| whole(v, min))
            .map(|v| v.unwrap_or(default))
            .map_err(|(s, m)| (s.unwrap_or(0..0), m))
    };
    let settings = DeliverySettings {
        interval_ms: read("interval_ms", &raw.interval_ms, 1, d.interval_ms)?,
        backoff_base_ms: read("backoff_base_ms", &raw.backoff_base_ms, 0, d.backoff_base_ms)?,
        backoff_max_ms: read("backoff_max_ms", &raw.backoff_max_ms, 0, d.backoff_max_ms)?,
        lease_seconds: read("lease_seconds", &raw.lease_seconds, 1, d.lease_seconds)?,
    };
    Ok(settings)
}

fn email(raw: RawEmail, env: &impl Fn(&str) -> Option<String>) -> Result<EmailSettings, TableError> {
    let required = |key: &str, value: &Value| {
        field("email", key, value, text)?
            .ok_or_else(|| (None, format!("`[email]` has no `{key}`: it is required to send emails")))
    };
    let flag = |v: &toml::Value| match v {
        toml::Value::Boolean(b) => Ok(*b),
        _ => Err("must be `true` or `false`".to_string()),
    };
    Ok(EmailSettings {
        smtp_host: required("smtp_host", &raw.smtp_host)?,
        smtp_port: field("email", "smtp_port", &raw.smtp_port, |v| whole(v, 1))?.unwrap_or(25),
        from: required("from", &raw.from)?,
        username: field("email", "username", &raw.username, text)?,
        password: secret("email", "password", &raw.password, &raw.password_env, env)?,
        tls: field("email", "tls", &raw.tls, flag)?.unwrap_or(false),
        templates: field("email", "templates", &raw.templates, text)?.map(PathBuf::from),
    })
}

/// A list of `[[NAME]]` tables, with their places; says "two brackets" to a `[NAME]` table.
struct Tables<T>(Vec<Spanned<T>>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Tables<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct List<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for List<T> {
            type Value = Tables<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`[[tokens]]` or `[[users]]` tables (two brackets)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tables<T>, A::Error> {
                let mut tables = Vec::new();
                while let Some(table) = seq.next_element()? {
                    tables.push(table);
                }
                Ok(Tables(tables))
            }
        }
        d.deserialize_seq(List(std::marker::PhantomData))
    }
}

/// A `[[tokens]]` table, or one element of `ORDERLY_TOKENS`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a token (`name`, `secret` or `secret_sha256`, `scopes`)")]
struct RawToken {
    name: String,
    secret: Option<String>,
    secret_sha256: Option<String>,
    #[serde(default)]
    scopes: Vec<Scope>,
    events: Option<Vec<String>>,
    #[serde(default)]
    acts_for: Vec<String>,
}

/// A non-empty string, trimmed.
fn text(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) if s.trim().is_empty() => Err("must not be empty".into()),
        toml::Value::String(s) => Ok(s.trim().to_string()),
        other => Err(format!("must be a string, not {}", other.type_str())),
    }
}

/// A whole number, at least `min`, that fits `T`.
fn whole<T: TryFrom<i64>>(value: &toml::Value, min: i64) -> Result<T, String> {
    let n = match value {
        toml::Value::Integer(n) => *n,
        toml::Value::String(s) => s.trim().parse().map_err(|_| "must be a whole number".to_string())?,
        other => return Err(format!("must be a whole number, not {}", other.type_str())),
    };
    if n < min {
        return Err(format!("must be at least {min}"));
    }
    T::try_from(n).map_err(|_| format!("is too large: {n}"))
}

/// A number of bytes, or a size with a unit: `512KiB`, `2MiB`, `1MB` (units are case-insensitive).
fn byte_size(value: &toml::Value) -> Result<usize, String> {
    const UNITS: [(&str, u64); 7] = [
        ("b", 1),
        ("kb", 1000),
        ("kib", 1 << 10),
        ("mb", 1_000_000),
        ("mib", 1 << 20),
        ("gb", 1_000_000_000),
        ("gib", 1 << 30),
    ];
    let bytes = match value {
        toml::Value::String(s) if s.trim().chars().any(|c| !c.is_ascii_digit()) => {
            let s = s.trim();
            let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
            let unit = unit.trim().to_ascii_lowercase();
            let factor = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, f)| *f);
            match (digits.parse::<u64>(), factor) {
                (Ok(n), Some(f)) => {
                    n.checked_mul(f).and_then(|n| usize::try_from(n).ok()).ok_or("is too large")?
                }
                _ => return Err("must be a number of bytes or a size like `512KiB`, `2MiB` or `1MB`".into()),
            }
        }
        other => whole(other, 1)?,
    };
    if bytes == 0 {
        return Err("must be at least 1".into());
    }
    Ok(bytes)
}

/// Checks the tokens (`span` locates each in the file) and keeps only their digests.
fn tokens_from(
    raw: impl IntoIterator<Item = (Range<usize>, RawToken)>,
) -> Result<Vec<Token>, (Range<usize>, String)> {
    let mut tokens: Vec<Token> = Vec::new();
    for (span, t) in raw {
        let fail = |m: String| Err((span.clone(), m));
        let name = t.name.trim();
        if name.is_empty() {
            return fail("a token's `name` is empty".into());
        }
        if tokens.iter().any(|other| other.name == name) {
            return fail(format!("two tokens are named `{name}`: token names must be unique"));
        }
        let sha256 = match (t.secret, t.secret_sha256) {
            (Some(_), Some(_)) => {
                return fail(format!("token `{name}` has both `secret` and `secret_sha256`: keep one"));
            }
            (None, None) => {
                return fail(format!(
                    "token `{name}` has no secret: give `secret` (the plain text) or `secret_sha256` (its SHA-256 in hex)"
                ));
            }
            (Some(secret), None) if secret.chars().count() < 16 => {
                return fail(format!(
                    "token `{name}`: `secret` is shorter than 16 characters; use a long random value, e.g. from `openssl rand -hex 32`"
                ));
            }
            (Some(secret), None) => Sha256::digest(secret.as_bytes()).into(),
            (None, Some(hex)) => match parse_hex(hex.trim()) {
                Some(digest) => digest,
                None => {
                    return fail(format!(
                        "token `{name}`: `secret_sha256` must be 64 hexadecimal characters, as printed by `printf %s 'the secret' | sha256sum`"
                    ));
                }
            },
        };
        if t.scopes.is_empty() {
            let codes = Scope::ALL.map(Scope::code).join(", ");
            return fail(format!("token `{name}` has no scopes: give it at least one of {codes}"));
        }
        if t.events.is_some() && !t.scopes.contains(&Scope::EventsWrite) {
            return fail(format!(
                "token `{name}` lists `events` but lacks the `events:write` scope: add the scope or remove `events`"
            ));
        }
        if t.events.as_ref().is_some_and(Vec::is_empty) {
            return fail(format!(
                "token `{name}` has an empty `events` list, so it could post no event: list the event names, or remove `events` to allow all"
            ));
        }
        let acts_for: Vec<String> = t.acts_for.iter().map(|a| a.trim().to_string()).collect();
        if acts_for.iter().any(String::is_empty) {
            return fail(format!("token `{name}` has an empty name in `acts_for`"));
        }
        tokens.push(Token { name: name.to_string(), sha256, scopes: t.scopes, events: t.events, acts_for });
    }
    Ok(tokens)
}

/// 64 hexadecimal characters as 32 bytes.
fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// `unknown field `bnd`, expected one of `bind`, ...` (serde's words) becomes
/// `unknown key `bnd`; did you mean `bind`?`, or lists the keys when none is close.
fn unknown_key(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else { return message.to_string() };
    let Some((field, expected)) = rest.split_once("`, expected ") else { return message.to_string() };
    let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match did_you_mean(field, keys.iter().copied()) {
        Some(key) => format!("unknown key `{field}`; did you mean `{key}`?"),
        None => {
            let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
            format!("unknown key `{field}`; the keys are {}", keys.join(", "))
        }
    }
}

/// serde_json's message with its place in front, an unknown key turned into a did-you-mean, and
/// an example when the text is not an array of tokens.
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let mut message = unknown_key(full.strip_suffix(&suffix).unwrap_or(&full));
    if e.is_syntax() || e.is_eof() || message.starts_with("invalid type") {
        message.push_str(
            "; the value must be a JSON array like `[{\"name\": \"ci\", \"secret\": \"...\", \"scopes\": [\"orders:read\"]}]`",
        );
    }
    match (e.line(), e.column()) {
        (_, 0) => message,
        (1, column) => format!("at column {column}: {message}"),
        (line, column) => format!("at line {line}, column {column}: {message}"),
    }
}

/// The 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}
