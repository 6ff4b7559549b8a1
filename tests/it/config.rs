//! The service configuration: defaults, `orderly.toml`, `ORDERLY_*` overrides, tokens, and the
//! messages every mistake gets.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use orderly::config::{Config, ConfigError, LogFormat, Scope, Token};

/// `printf %s 'reader-secret-0123456789' | sha256sum`
const READER_SHA256: &str = "e37c4e779555ce6c5238bbd719816a8713f38fb0750f6ee04fd92f482f721e8f";

fn no_env(_: &str) -> Option<String> {
    None
}

/// An environment holding only `pairs`.
fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("orderly.toml"), no_env)
}

fn error(text: &str) -> String {
    match parse(text) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn env_error(pairs: &[(&str, &str)]) -> String {
    match Config::from_toml("", Path::new("orderly.toml"), env(pairs)) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a test address")
}

fn token(scopes: &[Scope], events: Option<&[&str]>) -> Token {
    Token {
        acts_for: Vec::new(),
        name: "t".into(),
        sha256: [0; 32],
        scopes: scopes.to_vec(),
        events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
    }
}

const FULL: &str = r#"
database_url = "postgres://orderly@db/orderly"
bind = "0.0.0.0:9000"
workflows = "/srv/orderly/workflows"
body_limit = "2MiB"
log_format = "json"
log_level = "orderly=debug,info"
track_per_minute = 10
timer_interval_ms = 250
reload_debounce_ms = 500
watch = false
shutdown_grace_seconds = 5

[[tokens]]
name = "reporting"
secret_sha256 = "e37c4e779555ce6c5238bbd719816a8713f38fb0750f6ee04fd92f482f721e8f"
scopes = ["orders:read", "workflows:read"]

[[tokens]]
name = "payments"
secret = "poster-secret-abcdefghij"
scopes = ["events:write"]
events = ["payment_confirmed", "shipped"]
"#;

#[test]
fn defaults() {
    let c = Config::default();
    assert_eq!(c.database_url, "sqlite://orderly.db");
    assert_eq!(c.bind, addr("127.0.0.1:8080"));
    assert_eq!(c.workflows, PathBuf::from("workflows"));
    assert_eq!(c.body_limit, 1_048_576);
    assert_eq!(c.log_format, LogFormat::Human);
    assert_eq!(c.log_level, "info");
    assert!(c.tokens.is_empty());
    assert_eq!(c.track_per_minute, 30);
    assert_eq!(c.timer_interval_ms, 1000);
    assert_eq!(c.reload_debounce_ms, 100);
    assert!(c.watch);
    assert_eq!(c.shutdown_grace_seconds, 30);
    assert_eq!(c.max_header_size, 128 * 1024);
    assert_eq!(c.source, None);
    assert!(c.check_exposure().is_ok());

    // An empty file changes nothing but the source.
    let empty = parse("").expect("an empty file is valid");
    assert_eq!(empty, Config { source: Some("orderly.toml".into()), ..Config::default() });

    // Without a path and without `orderly.toml` here, the defaults (and the environment) apply.
    if !Path::new("orderly.toml").exists() {
        assert_eq!(Config::load(None, no_env).expect("defaults"), Config::default());
        let c = Config::load(None, env(&[("ORDERLY_TRACK_PER_MINUTE", "7")])).expect("env only");
        assert_eq!(c.track_per_minute, 7);
        assert_eq!(c.source, None);
    }
}

#[test]
fn full_file() {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(FULL.as_bytes()).expect("written");
    let c = Config::load(Some(file.path()), no_env).expect("the full file is valid");
    assert_eq!(c.database_url, "postgres://orderly@db/orderly");
    assert_eq!(c.bind, addr("0.0.0.0:9000"));
    assert_eq!(c.workflows, PathBuf::from("/srv/orderly/workflows"));
    assert_eq!(c.body_limit, 2 * 1024 * 1024);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.log_level, "orderly=debug,info");
    assert_eq!(c.track_per_minute, 10);
    assert_eq!(c.timer_interval_ms, 250);
    assert_eq!(c.reload_debounce_ms, 500);
    assert!(!c.watch);
    assert_eq!(c.shutdown_grace_seconds, 5);
    assert_eq!(c.source.as_deref(), Some(file.path()));

    assert_eq!(c.tokens.len(), 2);
    assert_eq!(c.tokens[0].name, "reporting");
    assert_eq!(c.tokens[0].scopes, vec![Scope::OrdersRead, Scope::WorkflowsRead]);
    assert_eq!(c.tokens[0].events, None);
    assert_eq!(c.tokens[1].name, "payments");
    assert_eq!(c.tokens[1].events, Some(vec!["payment_confirmed".to_string(), "shipped".to_string()]));
    assert!(c.check_exposure().is_ok(), "tokens make a public address acceptable");
}

#[test]
fn a_given_file_must_exist() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let missing = dir.path().join("nope.toml");
    let e = Config::load(Some(&missing), no_env).expect_err("missing file");
    let message = e.to_string();
    assert!(message.starts_with(&format!("cannot read `{}`: ", missing.display())), "{message}");
}

#[test]
fn environment_overrides_the_file() {
    let vars = [
        ("ORDERLY_DATABASE_URL", "sqlite://other.db"),
        ("ORDERLY_BIND", "127.0.0.1:7000"),
        ("ORDERLY_WORKFLOWS", "flows"),
        ("ORDERLY_BODY_LIMIT", "512KiB"),
        ("ORDERLY_LOG_FORMAT", "human"),
        ("ORDERLY_LOG_LEVEL", "warn"),
        ("ORDERLY_TRACK_PER_MINUTE", "60"),
        ("ORDERLY_TIMER_INTERVAL_MS", "2000"),
        ("ORDERLY_RELOAD_DEBOUNCE_MS", "0"),
        ("ORDERLY_WATCH", "1"),
        ("ORDERLY_SHUTDOWN_GRACE_SECONDS", "60"),
    ];
    let c = Config::from_toml(FULL, Path::new("orderly.toml"), env(&vars)).expect("valid");
    assert_eq!(c.database_url, "sqlite://other.db");
    assert_eq!(c.bind, addr("127.0.0.1:7000"));
    assert_eq!(c.workflows, PathBuf::from("flows"));
    assert_eq!(c.body_limit, 512 * 1024);
    assert_eq!(c.log_format, LogFormat::Human);
    assert_eq!(c.log_level, "warn");
    assert_eq!(c.track_per_minute, 60);
    assert_eq!(c.timer_interval_ms, 2000);
    assert_eq!(c.reload_debounce_ms, 0);
    assert!(c.watch);
    assert_eq!(c.shutdown_grace_seconds, 60);
    assert_eq!(c.tokens.len(), 2, "the file's tokens stay without ORDERLY_TOKENS");

    for (value, expected) in [("true", true), ("false", false), ("0", false), ("1", true)] {
        let c =
            Config::from_toml("watch = true", Path::new("orderly.toml"), env(&[("ORDERLY_WATCH", value)]))
                .expect("valid");
        assert_eq!(c.watch, expected, "ORDERLY_WATCH={value}");
    }
}

#[test]
fn tokens_from_the_environment_replace_the_file_list() {
    let json = format!(
        r#"[{{"name": "ci", "secret_sha256": "{READER_SHA256}", "scopes": ["admin"]}},
            {{"name": "shop", "secret": "poster-secret-abcdefghij", "scopes": ["events:write"], "events": ["shipped"]}}]"#
    );
    let c =
        Config::from_toml(FULL, Path::new("orderly.toml"), env(&[("ORDERLY_TOKENS", &json)])).expect("valid");
    let names: Vec<&str> = c.tokens.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ci", "shop"]);
    assert_eq!(c.authenticate("reader-secret-0123456789").map(|t| t.name.as_str()), Some("ci"));
    assert!(c.tokens[1].allows_event("shipped"));
    assert!(!c.tokens[1].allows_event("payment_confirmed"));

    let c =
        Config::from_toml(FULL, Path::new("orderly.toml"), env(&[("ORDERLY_TOKENS", "[]")])).expect("valid");
    assert!(c.tokens.is_empty(), "an empty array removes the file's tokens");
    assert!(c.check_exposure().is_err(), "and 0.0.0.0 is then refused");
}

#[test]
fn unknown_keys_get_a_did_you_mean() {
    assert_eq!(
        error("database_url = \"sqlite://x.db\"\n\nbnd = \"127.0.0.1:1\"\n"),
        "orderly.toml:3:1: unknown key `bnd`; did you mean `bind`?"
    );
    assert_eq!(
        error("  log_formt = \"json\""),
        "orderly.toml:1:3: unknown key `log_formt`; did you mean `log_format`?"
    );
    assert_eq!(
        error("colour = true"),
        "orderly.toml:1:1: unknown key `colour`; the keys are `database_url`, `sqlite_synchronous`, `bind`, `workflows`, \
         `body_limit`, `log_format`, `log_level`, `track_per_minute`, `track_name`, `track_logo_url`, `track_stylesheet`, `trusted_proxies`, `timer_interval_ms`, \
         `reload_debounce_ms`, `watch`, `shutdown_grace_seconds`, `max_connections`, `header_read_timeout_ms`, \
         `body_read_timeout_ms`, `max_header_size`, `session_hours`, `secure_cookies`, `tokens`, `users`, `roles`, `webhooks`, `delivery`, `email`"
    );
    assert_eq!(
        error("[[tokens]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nscope = [\"admin\"]\n"),
        "orderly.toml:4:1: unknown key `scope`; did you mean `scopes`?"
    );
    assert_eq!(
        error("[[tokens]]\nname = \"a\"\nexpires = 3\n"),
        "orderly.toml:3:1: unknown key `expires`; the keys are `name`, `secret`, `secret_sha256`, `scopes`, `events`, `acts_for`"
    );
}

#[test]
fn bad_values_name_the_key_and_the_place() {
    assert_eq!(
        error("# the service\n\n\nworkflows = \"w\"\nbind = \"localhost:x\"\n"),
        "orderly.toml:5:8: `bind` must be an address like `127.0.0.1:8080`: invalid socket address syntax"
    );
    assert_eq!(error("bind = 8080"), "orderly.toml:1:8: `bind` must be a string, not integer");
    assert_eq!(error("log_format = \"yaml\""), "orderly.toml:1:14: `log_format` must be `human` or `json`");
    assert_eq!(error("track_per_minute = 0"), "orderly.toml:1:20: `track_per_minute` must be at least 1");
    assert_eq!(error("timer_interval_ms = -5"), "orderly.toml:1:21: `timer_interval_ms` must be at least 1");
    assert_eq!(
        error("track_per_minute = 5000000000"),
        "orderly.toml:1:20: `track_per_minute` is too large: 5000000000"
    );
    assert_eq!(
        error("watch = \"maybe\""),
        "orderly.toml:1:9: `watch` must be `true` or `false` (or `1` or `0`)"
    );
    assert_eq!(error("database_url = \"  \""), "orderly.toml:1:16: `database_url` must not be empty");
    let level = error("log_level = \"info,orderly=loud\"");
    assert!(
        level.starts_with(
            "orderly.toml:1:13: `log_level` must be a filter like `info` or `orderly=debug,info`: "
        ),
        "{level}"
    );
}

#[test]
fn unknown_scope() {
    let text =
        "[[tokens]]\nname = \"ci\"\nsecret = \"0123456789abcdef\"\n\n\n\n\n\nscopes = [\"order:read\"]\n";
    assert_eq!(
        error(text),
        "orderly.toml:9:10: unknown scope `order:read`; did you mean `orders:read`? (scopes: orders:read, \
         orders:write, events:write, workflows:read, metrics:read, admin)"
    );
    assert_eq!(
        error("[[tokens]]\nname = \"ci\"\nsecret = \"0123456789abcdef\"\nscopes = [\"everything\"]\n"),
        "orderly.toml:4:10: unknown scope `everything` (scopes: orders:read, orders:write, events:write, \
         workflows:read, metrics:read, admin)"
    );
}

#[test]
fn syntax_errors_give_the_place_and_toml_message() {
    let message = error("bind = \"127.0.0.1:8080\"\nwatch = \n");
    assert!(message.starts_with("orderly.toml:2:9: "), "{message}");
    assert!(message.contains("invalid string"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");

    let message = error("bind = \"127.0.0.1:8080\"\nbind = \"127.0.0.1:9090\"\n");
    assert_eq!(message, "orderly.toml:2:1: duplicate key `bind` in document root");
}

#[test]
fn bad_tokens_are_named() {
    let both = format!(
        "[[tokens]]\nname = \"ci\"\nsecret = \"0123456789abcdef\"\nsecret_sha256 = \"{READER_SHA256}\"\nscopes = [\"admin\"]"
    );
    assert_eq!(error(&both), "orderly.toml:1:1: token `ci` has both `secret` and `secret_sha256`: keep one");
    assert_eq!(
        error("[[tokens]]\nname = \"ci\"\nscopes = [\"admin\"]"),
        "orderly.toml:1:1: token `ci` has no secret: give `secret` (the plain text) or `secret_sha256` (its SHA-256 in hex)"
    );
    assert_eq!(
        error("[[tokens]]\nname = \"ci\"\nsecret = \"short\"\nscopes = [\"admin\"]"),
        "orderly.toml:1:1: token `ci`: `secret` is shorter than 16 characters; use a long random value, \
         e.g. from `openssl rand -hex 32`"
    );
    for bad in ["abc", &READER_SHA256.replace('e', "g"), &format!("{READER_SHA256}00")] {
        let text = format!("[[tokens]]\nname = \"ci\"\nsecret_sha256 = \"{bad}\"\nscopes = [\"admin\"]");
        assert_eq!(
            error(&text),
            "orderly.toml:1:1: token `ci`: `secret_sha256` must be 64 hexadecimal characters, as printed by \
             `printf %s 'the secret' | sha256sum`"
        );
    }
    let duplicate = "[[tokens]]\nname = \"ci\"\nsecret = \"0123456789abcdef\"\nscopes = [\"admin\"]\n\n\
                     [[tokens]]\nname = \"ci\"\nsecret = \"fedcba9876543210\"\nscopes = [\"orders:read\"]\n";
    assert_eq!(error(duplicate), "orderly.toml:6:1: two tokens are named `ci`: token names must be unique");
    assert_eq!(
        error("[[tokens]]\nname = \"ci\"\nsecret = \"0123456789abcdef\"\n"),
        "orderly.toml:1:1: token `ci` has no scopes: give it at least one of orders:read, orders:write, \
         events:write, workflows:read, metrics:read, admin"
    );
    assert_eq!(
        error("[[tokens]]\nname = \"ci\"\nsecret = \"0123456789abcdef\"\nscopes = []\n"),
        "orderly.toml:1:1: token `ci` has no scopes: give it at least one of orders:read, orders:write, \
         events:write, workflows:read, metrics:read, admin"
    );
    assert_eq!(
        error("[[tokens]]\nname = \"ci\"\nsecret = \"0123456789abcdef\"\nscopes = [\"orders:read\"]\nevents = [\"shipped\"]"),
        "orderly.toml:1:1: token `ci` lists `events` but lacks the `events:write` scope: add the scope or remove `events`"
    );
    assert_eq!(
        error("[[tokens]]\nname = \"ci\"\nsecret = \"0123456789abcdef\"\nscopes = [\"events:write\"]\nevents = []"),
        "orderly.toml:1:1: token `ci` has an empty `events` list, so it could post no event: list the event \
         names, or remove `events` to allow all"
    );
    assert_eq!(
        error("[[tokens]]\nname = \" \"\nsecret = \"0123456789abcdef\"\nscopes = [\"admin\"]"),
        "orderly.toml:1:1: a token's `name` is empty"
    );
    assert_eq!(
        error("[[tokens]]\nsecret = \"0123456789abcdef\"\nscopes = [\"admin\"]"),
        "orderly.toml:1:1: missing field `name`"
    );
}

#[test]
fn bad_environment_values_name_the_variable() {
    assert_eq!(
        env_error(&[("ORDERLY_BIND", "localhost:x")]),
        "ORDERLY_BIND=localhost:x: must be an address like `127.0.0.1:8080`: invalid socket address syntax"
    );
    assert_eq!(
        env_error(&[("ORDERLY_TRACK_PER_MINUTE", "lots")]),
        "ORDERLY_TRACK_PER_MINUTE=lots: must be a whole number"
    );
    assert_eq!(
        env_error(&[("ORDERLY_WATCH", "yes")]),
        "ORDERLY_WATCH=yes: must be `true` or `false` (or `1` or `0`)"
    );
    assert_eq!(
        env_error(&[("ORDERLY_LOG_FORMAT", "xml")]),
        "ORDERLY_LOG_FORMAT=xml: must be `human` or `json`"
    );
    assert_eq!(env_error(&[("ORDERLY_DATABASE_URL", "")]), "ORDERLY_DATABASE_URL: must not be empty");
    // The environment wins, so its mistakes are reported even when the file is fine.
    let e =
        Config::from_toml("bind = \"127.0.0.1:1\"", Path::new("orderly.toml"), env(&[("ORDERLY_BIND", "x")]))
            .expect_err("bad env");
    assert!(matches!(e, ConfigError::Env { .. }), "{e:?}");
}

#[test]
fn bad_environment_tokens() {
    let message = env_error(&[("ORDERLY_TOKENS", "[{\"name\": \"ci\",}]")]);
    assert!(message.starts_with("ORDERLY_TOKENS: at column 16: "), "{message}");
    assert!(message.contains("the value must be a JSON array like"), "{message}");

    assert_eq!(
        env_error(&[(
            "ORDERLY_TOKENS",
            r#"[{"name": "ci", "secret": "0123456789abcdef", "scope": ["admin"]}]"#
        )]),
        "ORDERLY_TOKENS: at column 53: unknown key `scope`; did you mean `scopes`?"
    );
    let unknown_scope = env_error(&[(
        "ORDERLY_TOKENS",
        r#"[{"name": "ci", "secret": "0123456789abcdef", "scopes": ["amdin"]}]"#,
    )]);
    assert!(
        unknown_scope
            .starts_with("ORDERLY_TOKENS: at column 65: unknown scope `amdin`; did you mean `admin`?"),
        "{unknown_scope}"
    );
    assert_eq!(
        env_error(&[("ORDERLY_TOKENS", r#"[{"name": "ci", "secret": "short", "scopes": ["admin"]}]"#)]),
        "ORDERLY_TOKENS: token `ci`: `secret` is shorter than 16 characters; use a long random value, \
         e.g. from `openssl rand -hex 32`"
    );
    let message = env_error(&[(
        "ORDERLY_TOKENS",
        r#"[{"name": "ci", "secret": "a-long-secret-value!!", "scopes": []}]"#,
    )]);
    assert!(message.starts_with("ORDERLY_TOKENS: token `ci` has no scopes"), "{message}");
    assert!(!message.contains("a-long-secret-value"), "secrets are never repeated: {message}");
}

#[test]
fn authenticate_compares_digests() {
    let c = parse(FULL).expect("valid");
    assert_eq!(c.authenticate("reader-secret-0123456789").map(|t| t.name.as_str()), Some("reporting"));
    assert_eq!(c.authenticate("poster-secret-abcdefghij").map(|t| t.name.as_str()), Some("payments"));
    assert!(c.authenticate("poster-secret-abcdefghiJ").is_none());
    assert!(c.authenticate("").is_none());
    assert!(Config::default().authenticate("reader-secret-0123456789").is_none());

    // Upper-case hex is the same digest.
    let upper = format!(
        "[[tokens]]\nname = \"r\"\nsecret_sha256 = \"{}\"\nscopes = [\"orders:read\"]",
        READER_SHA256.to_uppercase()
    );
    let c = parse(&upper).expect("valid");
    assert!(c.authenticate("reader-secret-0123456789").is_some());
}

#[test]
fn scopes_and_events() {
    for scope in Scope::ALL {
        assert_eq!(Scope::from_code(scope.code()), Some(scope));
    }
    assert_eq!(Scope::from_code("orders:read"), Some(Scope::OrdersRead));
    assert_eq!(Scope::from_code("Admin"), None);

    let reader = token(&[Scope::OrdersRead], None);
    assert!(reader.allows(Scope::OrdersRead));
    assert!(!reader.allows(Scope::OrdersWrite));
    assert!(!reader.allows(Scope::Admin));
    assert!(!reader.allows_event("shipped"));

    let admin = token(&[Scope::Admin], None);
    assert!(Scope::ALL.iter().all(|s| admin.allows(*s)));
    assert!(admin.allows_event("anything"));

    let poster = token(&[Scope::EventsWrite], None);
    assert!(poster.allows(Scope::EventsWrite));
    assert!(!poster.allows(Scope::OrdersRead));
    assert!(poster.allows_event("shipped"));

    let limited = token(&[Scope::EventsWrite], Some(&["payment_confirmed", "shipped"]));
    assert!(limited.allows_event("shipped"));
    assert!(limited.allows_event("payment_confirmed"));
    assert!(!limited.allows_event("void"));
}

#[test]
fn exposure_needs_tokens_off_loopback() {
    let open = Config { bind: addr("0.0.0.0:8080"), ..Config::default() };
    let message = open.check_exposure().expect_err("refused").to_string();
    assert!(message.starts_with("refusing to listen on `0.0.0.0:8080` without tokens"), "{message}");
    assert!(message.contains("[[tokens]]") && message.contains("`127.0.0.1:8080`"), "{message}");
    assert!(Config { bind: addr("[::]:8080"), ..Config::default() }.check_exposure().is_err());
    assert!(Config { bind: addr("192.168.1.4:8080"), ..Config::default() }.check_exposure().is_err());

    let guarded = Config { tokens: vec![token(&[Scope::Admin], None)], ..open };
    assert!(guarded.check_exposure().is_ok());

    for local in ["127.0.0.1:8080", "[::1]:8080", "127.0.0.2:80", "[::ffff:127.0.0.1]:8080"] {
        let c = Config { bind: addr(local), ..Config::default() };
        assert!(c.check_exposure().is_ok(), "{local}");
    }
}

#[test]
fn body_limit_sizes() {
    for (text, bytes) in [
        ("body_limit = 4096", 4096),
        ("body_limit = \"4096\"", 4096),
        ("body_limit = \"512KiB\"", 512 * 1024),
        ("body_limit = \"2MiB\"", 2 * 1024 * 1024),
        ("body_limit = \"1MB\"", 1_000_000),
        ("body_limit = \"10kb\"", 10_000),
        ("body_limit = \"1 GiB\"", 1 << 30),
        ("body_limit = \"300B\"", 300),
    ] {
        assert_eq!(parse(text).expect(text).body_limit, bytes, "{text}");
    }
    let c = Config::from_toml("", Path::new("orderly.toml"), env(&[("ORDERLY_BODY_LIMIT", "64KiB")]))
        .expect("valid");
    assert_eq!(c.body_limit, 64 * 1024);

    for bad in ["\"2XB\"", "\"MiB\"", "\"1.5MiB\"", "true"] {
        let text = format!("body_limit = {bad}");
        let message = error(&text);
        assert!(message.starts_with("orderly.toml:1:14: `body_limit` must be"), "{text}: {message}");
    }
    assert_eq!(error("body_limit = 0"), "orderly.toml:1:14: `body_limit` must be at least 1");
    assert_eq!(error("body_limit = \"0KiB\""), "orderly.toml:1:14: `body_limit` must be at least 1");
    assert_eq!(
        env_error(&[("ORDERLY_BODY_LIMIT", "lots")]),
        "ORDERLY_BODY_LIMIT=lots: must be a number of bytes or a size like `512KiB`, `2MiB` or `1MB`"
    );
}

#[test]
fn max_header_size_is_a_size_within_bounds() {
    assert_eq!(parse("max_header_size = \"64KiB\"").expect("valid").max_header_size, 64 * 1024);
    let c = Config::from_toml("", Path::new("orderly.toml"), env(&[("ORDERLY_MAX_HEADER_SIZE", "8192")]))
        .expect("valid");
    assert_eq!(c.max_header_size, 8192);
    assert_eq!(
        error("max_header_size = 100"),
        "orderly.toml:1:19: `max_header_size` must be between 1024 bytes (1KiB) and 16777216 bytes (16MiB), not 100"
    );
    assert!(error("max_header_size = \"1GiB\"").contains("must be between"));
}

/// The fenced block after `marker` in docs/configuration.md.
fn doc_block(marker: &str) -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"))
        .expect("docs/configuration.md");
    let start = doc.find(marker).expect("the block's opening fence") + marker.len();
    let end = doc[start..].find("```").expect("the block's closing fence");
    doc[start..start + end].to_string()
}

#[test]
fn the_documented_example_is_valid() {
    let example = doc_block("```toml\n");
    let c = Config::from_toml(&example, Path::new("orderly.toml"), no_env).expect("the documented example");
    assert_eq!(c.tokens.len(), 2);
    assert!(c.authenticate("reader-secret-0123456789").is_some_and(|t| t.allows(Scope::OrdersRead)));
    let poster = c.authenticate("poster-secret-abcdefghij").expect("the integrations token");
    assert!(poster.allows_event("payment_confirmed") && poster.allows_event("shipped"));
    assert!(!poster.allows_event("void") && !poster.allows(Scope::OrdersRead));
    assert!(c.check_exposure().is_ok());

    let shell = doc_block("```sh\nexport ORDERLY_TOKENS='");
    let json = shell.split('\'').next().expect("the quoted JSON");
    let from_env = Config::from_toml("", Path::new("orderly.toml"), env(&[("ORDERLY_TOKENS", json)]))
        .expect("the documented ORDERLY_TOKENS");
    assert_eq!(from_env.tokens, c.tokens);
}

/// `[webhooks.NAME]`, `[delivery]` and `[email]`: defaults, secrets from the environment, and
/// mistakes that name the table and key.
#[test]
fn webhooks_delivery_and_email() {
    let c = parse(
        "[webhooks.crm]\nurl = \"https://crm.example.com/hooks/orderly\"\nsecret = \"0123456789abcdef\"\n\n\
         [webhooks.erp]\nurl = \"http://127.0.0.1:9000/in\"\nsecret_env = \"ERP_SECRET\"\ntimeout_ms = 250\nmax_attempts = 3\n",
    );
    assert!(c.is_err(), "secret_env names a variable that is not set");
    let text = "[webhooks.crm]\nurl = \"https://crm.example.com/hooks/orderly\"\nsecret = \"0123456789abcdef\"\n\n\
                [webhooks.erp]\nurl = \"http://127.0.0.1:9000/in\"\nsecret_env = \"ERP_SECRET\"\ntimeout_ms = 250\nmax_attempts = 3\n\n\
                [delivery]\ninterval_ms = 100\nbackoff_base_ms = 0\n\n\
                [email]\nsmtp_host = \"127.0.0.1\"\nfrom = \"shop@example.com\"\n";
    let c =
        Config::from_toml(text, Path::new("orderly.toml"), env(&[("ERP_SECRET", "erp-secret-0123456789")]))
            .expect("valid");
    let crm = &c.webhooks["crm"];
    assert_eq!((crm.timeout_ms, crm.max_attempts), (5000, 8), "defaults");
    assert_eq!(c.webhooks["erp"].secret, "erp-secret-0123456789");
    assert_eq!((c.webhooks["erp"].timeout_ms, c.webhooks["erp"].max_attempts), (250, 3));
    assert!(!format!("{c:?}").contains("0123456789abcdef"), "secrets stay out of Debug");
    assert_eq!(c.delivery.interval_ms, 100);
    assert_eq!(c.delivery.backoff_base_ms, 0);
    assert_eq!((c.delivery.backoff_max_ms, c.delivery.lease_seconds), (300_000, 60), "defaults");
    let email = c.email.as_ref().expect("email");
    assert_eq!((email.smtp_port, email.tls, email.username.as_deref()), (25, false, None));
    assert_eq!(email.templates_dir(Path::new("workflows")), PathBuf::from("workflows/templates"));
    assert!(Config::default().webhooks.is_empty() && Config::default().email.is_none());

    assert_eq!(
        error("[webhooks.crm]\nurl = \"https://x.example\"\nsceret = \"0123456789abcdef\"\n"),
        "orderly.toml:3:1: unknown key `sceret`; did you mean `secret`?"
    );
    assert_eq!(
        error("[webhooks.crm]\nurl = \"ftp://x.example\"\nsecret = \"0123456789abcdef\"\n"),
        "orderly.toml:2:7: `webhooks.crm.url` must be an `http://` or `https://` URL"
    );
    assert!(error("[webhooks.crm]\nurl = \"https://x.example\"\nsecret = \"short\"\n")
        .contains("webhook `crm`: the secret is shorter than 16 characters"),);
    assert!(error("[webhooks.crm]\nurl = \"https://x.example\"\n").contains("webhook `crm` has no secret"));
    assert_eq!(
        error("[delivery]\nintervl_ms = 5\n"),
        "orderly.toml:2:1: unknown key `intervl_ms`; did you mean `interval_ms`?"
    );
    assert_eq!(
        error("[delivery]\nlease_seconds = 0\n"),
        "orderly.toml:2:17: `delivery.lease_seconds` must be at least 1"
    );
    assert!(error("[email]\nfrom = \"a@b.c\"\n").contains("`[email]` has no `smtp_host`"));
    assert_eq!(
        error("[email]\nsmtp_host = \"h\"\nfrom = \"a@b.c\"\nsmtp_prot = 2525\n"),
        "orderly.toml:4:1: unknown key `smtp_prot`; did you mean `smtp_port`?"
    );
}

#[test]
fn trusted_proxies_are_addresses_or_networks() {
    let c = parse("trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\"]").expect("valid");
    assert_eq!(c.trusted_proxies.len(), 2);
    assert!(c.trusted_proxies[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().expect("ip")));
    let c = Config::load(None, env(&[("ORDERLY_TRUSTED_PROXIES", "127.0.0.1, ::1")])).expect("env");
    assert_eq!(c.trusted_proxies.len(), 2);
    let e = parse("trusted_proxies = [\"10.0.0.0/33\"]").expect_err("not a network").to_string();
    assert!(
        e.contains("`trusted_proxies` must list addresses or networks") && e.contains("10.0.0.0/33"),
        "{e}"
    );
}

/// SQLite is durable by default (`full`: an answered write survives a power failure); `normal`
/// is a choice, from the file or the environment; anything else says what is accepted.
#[test]
fn sqlite_synchronous_is_full_unless_chosen() {
    use orderly::store::Synchronous;
    assert_eq!(parse("").expect("valid").sqlite_synchronous, Synchronous::Full);
    assert_eq!(
        parse("sqlite_synchronous = \"NORMAL\"").expect("valid").sqlite_synchronous,
        Synchronous::Normal
    );
    let c =
        Config::from_toml("", Path::new("orderly.toml"), env(&[("ORDERLY_SQLITE_SYNCHRONOUS", "normal")]))
            .expect("valid");
    assert_eq!(c.sqlite_synchronous, Synchronous::Normal);
    let e = error("sqlite_synchronous = \"off\"");
    assert!(e.starts_with("orderly.toml:1:") && e.contains("must be `full`"), "{e}");
}
