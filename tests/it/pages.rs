//! The browser faces from the outside (without a browser: tests/browser/studio.py drives
//! Chromium): staff logins and sessions on both backends, form tokens on every change, roles,
//! the open local service, and the studio's calls (check, simulate, scenarios, save through the
//! reload).

use crate::support;
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use orderly::config::{hash_password, Config};
use orderly::http::{app, AppState};
use orderly::metrics::Metrics;
use orderly::registry::Registry;
use orderly::reload::Reloader;
use orderly::service::{Service, SystemClock};
use orderly::store::{OrderKey, Store};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

/// One argon2 hash for every test user (hashing is the slow part).
fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD).unwrap())
}

/// An API token the tests read the service with.
const READER: &str = "a-reader-token-0123456789";

fn config_with_users() -> Config {
    let text = format!(
        "[[users]]\nname = \"ana\"\npassword_hash = \"{h}\"\nrole = \"admin\"\n\n\
         [[users]]\nname = \"vic\"\npassword_hash = \"{h}\"\nrole = \"viewer\"\n\n\
         [[users]]\nname = \"carl\"\npassword_hash = \"{h}\"\nrole = \"clerk\"\n\n\
         [[users]]\nname = \"cora\"\npassword_hash = \"{h}\"\nrole = \"clerk\"\n\n\
         [[tokens]]\nname = \"reader\"\nsecret = \"{READER}\"\nscopes = [\"workflows:read\"]\n",
        h = hash()
    );
    Config::from_toml(&text, Path::new("orderly.toml"), |_| None).unwrap()
}

async fn router(store: Store, config: Config, dir: &Path) -> Router {
    with_service(store, config, dir).await.0
}

async fn with_service(store: Store, config: Config, dir: &Path) -> (Router, Arc<Service>) {
    let registry = Registry::load(dir, &store).await.expect("workflows load");
    let service = Arc::new(Service::serving(store, registry, Arc::new(SystemClock)));
    let reloader = Arc::new(Reloader::new(service.clone(), dir.to_path_buf()));
    let config = Config { workflows: dir.to_path_buf(), ..config };
    (app(AppState::new(service.clone(), config, Arc::new(Metrics::new()), Some(reloader))), service)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The value a `Set-Cookie` header gives `name`, with the whole header.
    fn cookie(&self, name: &str) -> Option<(String, String)> {
        self.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| (v.to_string(), c.to_string()))
        })
    }

    /// The value of the first `name="csrf"` or `data-csrf` in the page.
    fn csrf(&self) -> String {
        for marker in ["name=\"csrf\" value=\"", "data-csrf=\""] {
            if let Some(rest) = self.body.split(marker).nth(1) {
                return rest.split('"').next().unwrap().to_string();
            }
        }
        panic!("no form token in the page: {}", self.body)
    }
}

async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 16 << 20).await.unwrap();
    Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", orderly::pages::session::encode_component(v).replace('/', "%2F")))
        .collect::<Vec<_>>()
        .join("&")
}

/// Posts a form with a cookie.
async fn post_form(app: &Router, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Answer {
    let headers = [("content-type", "application/x-www-form-urlencoded"), ("cookie", cookie)];
    send(app, Method::POST, path, &headers, Some(form(fields))).await
}

/// Logs in as `name` and gives the session cookie's `name=value` and the page's form token.
async fn login(app: &Router, name: &str) -> (String, String) {
    let page = send(app, Method::GET, "/login?next=/studio", &[], None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (login_cookie, _) = page.cookie("orderly_login").expect("the login form sets its token cookie");
    let csrf = page.csrf();
    let cookie = format!("orderly_login={login_cookie}");
    let res = post_form(
        app,
        "/login",
        &cookie,
        &[("name", name), ("password", PASSWORD), ("csrf", &csrf), ("next", "/studio")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/studio");
    let (secret, header) = res.cookie("orderly_session").expect("a session cookie");
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Strict"), "{header}");
    let session = format!("orderly_session={secret}");
    let page = send(app, Method::GET, "/studio", &[("cookie", &session)], None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    (session, page.csrf())
}

async fn studio_call(app: &Router, path: &str, session: &str, csrf: &str, body: Value) -> Answer {
    send(
        app,
        Method::POST,
        path,
        &[("content-type", "application/json"), ("cookie", session), ("x-csrf-token", csrf)],
        Some(body.to_string()),
    )
    .await
}

#[tokio::test]
async fn staff_log_in_to_sessions_every_process_on_the_database_knows_and_log_out() {
    support::on_both_at("pages_sessions", |store, url| async move {
        let app = router(store, config_with_users(), Path::new("workflows")).await;
        // Without a session, a page sends to the login, a studio call is 401.
        let res = send(&app, Method::GET, "/studio", &[], None).await;
        assert_eq!((res.status, res.location()), (StatusCode::SEE_OTHER, "/login?next=/studio"));
        let res =
            studio_call(&app, "/studio/api/check", "", "", json!({"file": "retail.flow", "text": ""})).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);

        // A wrong password and a name that is no user get the same answer.
        let page = send(&app, Method::GET, "/login", &[], None).await;
        let (token, _) = page.cookie("orderly_login").unwrap();
        let cookie = format!("orderly_login={token}");
        let mut answers = Vec::new();
        for (name, password) in [("ana", "not it at all"), ("nobody", PASSWORD)] {
            let res = post_form(
                &app,
                "/login",
                &cookie,
                &[("name", name), ("password", password), ("csrf", &token)],
            )
            .await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED);
            assert!(res.cookie("orderly_session").is_none());
            answers.push(res.body.contains("Wrong name or password."));
        }
        assert_eq!(answers, [true, true]);
        // A login posted without the form's own token (from another site) is refused.
        let res = post_form(
            &app,
            "/login",
            &cookie,
            &[("name", "ana"), ("password", PASSWORD), ("csrf", "forged")],
        )
        .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        assert!(res.cookie("orderly_session").is_none());

        let (session, csrf) = login(&app, "ana").await;
        // The pages name the user; the API stays for tokens only.
        let page = send(&app, Method::GET, "/studio", &[("cookie", &session)], None).await;
        assert!(page.body.contains("ana") && page.body.contains("retail"), "{}", page.body);
        let res = send(&app, Method::GET, "/v1/orders", &[("cookie", &session)], None).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "a session cookie is not an API token");

        // Another process on the same database knows the session.
        let other = Store::connect(&url).await.unwrap();
        let second = router(other, config_with_users(), Path::new("workflows")).await;
        let res = send(&second, Method::GET, "/studio", &[("cookie", &session)], None).await;
        assert_eq!(res.status, StatusCode::OK);

        // Logging out ends it everywhere.
        let res = post_form(&app, "/logout", &session, &[("csrf", &csrf)]).await;
        assert_eq!((res.status, res.location()), (StatusCode::SEE_OTHER, "/login"));
        for app in [&app, &second] {
            let res = send(app, Method::GET, "/studio", &[("cookie", &session)], None).await;
            assert_eq!(res.status, StatusCode::SEE_OTHER, "the session ended");
        }
    })
    .await;
}

#[tokio::test]
async fn every_change_needs_the_form_token_and_the_role_that_may_make_it() {
    support::on_both("pages_tokens", |store| async move {
        let app = router(store, config_with_users(), Path::new("workflows")).await;
        let (session, csrf) = login(&app, "ana").await;
        let body = json!({"file": "retail.flow", "text": "workflow x\n"});
        for (token, site) in [("", "same-origin"), ("0123", "same-origin"), (csrf.as_str(), "cross-site")] {
            let res = send(
                &app,
                Method::POST,
                "/studio/api/check",
                &[
                    ("content-type", "application/json"),
                    ("cookie", &session),
                    ("x-csrf-token", token),
                    ("sec-fetch-site", site),
                ],
                Some(body.to_string()),
            )
            .await;
            assert_eq!(res.status, StatusCode::FORBIDDEN, "token {token:?} from {site}");
            assert_eq!(res.json()["error"], "bad_form_token");
        }
        let res = studio_call(&app, "/studio/api/check", &session, &csrf, body.clone()).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);

        // A viewer looks but does not save.
        let (viewer, viewer_csrf) = login(&app, "vic").await;
        let res = studio_call(&app, "/studio/api/check", &viewer, &viewer_csrf, body.clone()).await;
        assert_eq!(res.status, StatusCode::OK);
        let res = studio_call(&app, "/studio/api/save", &viewer, &viewer_csrf, body).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        assert!(res.json()["message"].as_str().unwrap().contains("`admin`"), "{}", res.body);
        // A form token is the session's own: ana's does not pass for vic.
        let res = studio_call(
            &app,
            "/studio/api/check",
            &viewer,
            &csrf,
            json!({"file": "retail.flow", "text": ""}),
        )
        .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn logins_from_one_address_are_limited() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let app = router(store, config_with_users(), Path::new("workflows")).await;
    let page = send(&app, Method::GET, "/login", &[], None).await;
    let (token, _) = page.cookie("orderly_login").unwrap();
    let cookie = format!("orderly_login={token}");
    let mut statuses = Vec::new();
    for _ in 0..=orderly::pages::LOGINS_PER_MINUTE {
        let res = post_form(
            &app,
            "/login",
            &cookie,
            &[("name", "ana"), ("password", "wrong wrong wrong"), ("csrf", &token)],
        )
        .await;
        statuses.push(res.status);
    }
    assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn an_open_service_opens_pages_as_the_local_user_but_still_needs_the_form_token() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let app = router(store, Config::default(), Path::new("workflows")).await;
    let page = send(&app, Method::GET, "/studio/edit/retail.flow", &[], None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(">local<"), "the local user: {}", page.body);
    let csrf = page.csrf();
    let body = json!({"file": "retail.flow", "text": "workflow x\n"});
    let res = studio_call(&app, "/studio/api/check", "", "", body.clone()).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "another site cannot post to the local service");
    let res = studio_call(&app, "/studio/api/check", "", &csrf, body).await;
    assert_eq!(res.status, StatusCode::OK);
    // Pages carry their protections.
    let csp = page.headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    // Files outside the folder, or of kinds the studio does not edit, are not there.
    for bad in ["../Cargo.toml", "..%2FCargo.toml", "hooks/..%2F..%2FCargo.toml", "nothing.flow"] {
        let res = send(&app, Method::GET, &format!("/studio/edit/{bad}"), &[], None).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{bad}: {}", res.body);
    }
}

#[tokio::test]
async fn the_studio_checks_simulates_runs_scenarios_and_saves_through_the_reload() {
    support::on_both("pages_studio", |store| async move {
        let dir = tempfile::tempdir().unwrap();
        support::copy_dir(Path::new("workflows"), dir.path());
        let (app, service) = with_service(store, config_with_users(), dir.path()).await;
        let (session, csrf) = login(&app, "ana").await;
        let text = std::fs::read_to_string(dir.path().join("retail.flow")).unwrap();

        // A misspelled status: found on its line, with a one-click fix.
        let typo = text.replacen("start in awaiting_payment when paid by check", "start in awaiting_paymnt when paid by check", 1);
        let line = typo[..typo.find("awaiting_paymnt").unwrap()].matches('\n').count() + 1;
        let res = studio_call(&app, "/studio/api/check", &session, &csrf, json!({"file": "retail.flow", "text": typo})).await;
        let checked = res.json();
        assert_eq!(checked["ok"], false);
        let finding = &checked["findings"][0];
        assert_eq!((finding["code"].as_str(), finding["line"].as_u64()), (Some("unknown-status"), Some(line as u64)));
        assert_eq!(finding["fix"]["text"], "awaiting_payment");
        let (from, to) = (finding["fix"]["from"].as_u64().unwrap() as usize, finding["fix"]["to"].as_u64().unwrap() as usize);
        assert_eq!(&typo[from..to], "awaiting_paymnt", "the fix replaces the word (ASCII text: bytes are UTF-16 units)");
        let res = studio_call(&app, "/studio/api/check", &session, &csrf, json!({"file": "retail.flow", "text": text})).await;
        let checked = res.json();
        assert_eq!((checked["ok"].as_bool(), checked["findings"].as_array().map(Vec::len)), (Some(true), Some(0)));
        assert!(checked["svg"].as_str().unwrap().contains("<svg"));

        // A hook's mistakes are found as one types too, on their lines.
        let hook = std::fs::read_to_string(dir.path().join("hooks/purchase_orders.rhai")).unwrap();
        let res = studio_call(&app, "/studio/api/check", &session, &csrf, json!({"file": "hooks/purchase_orders.rhai", "text": format!("{hook}\nlet x = ;\n")})).await;
        let checked = res.json();
        assert_eq!(checked["ok"], false, "{checked}");
        assert_eq!(checked["findings"][0]["code"], "hook-syntax", "{checked}");
        assert_eq!(checked["findings"][0]["line"].as_u64(), Some(hook.lines().count() as u64 + 2), "{checked}");
        let res = studio_call(&app, "/studio/api/check", &session, &csrf, json!({"file": "hooks/purchase_orders.rhai", "text": hook})).await;
        assert_eq!(res.json()["ok"], true);

        // A simulated order: two events, a refusal that says why, a timer fast-forwarded.
        let order = json!({"channel": "website", "customer": {"email": "s@example.com"},
            "payment": {"method": "check", "outcome": "pending"},
            "lines": [{"sku": "G-1", "qty": "1", "unit_price": "499.00"}]});
        let steps = json!([
            {"event": "payment_received", "data": {"method": "check", "outcome": "approved", "amount": "499.00"}},
            {"event": "mark_ready_to_process"},
            {"event": "payment_confirmed"},
        ]);
        let res = studio_call(&app, "/studio/api/simulate", &session, &csrf, json!({"file": "retail.flow", "text": text, "order": order, "steps": steps})).await;
        let sim = res.json();
        assert_eq!(res.status, StatusCode::OK, "{sim}");
        let taken: Vec<(&str, &str)> = sim["steps"].as_array().unwrap().iter().map(|s| (s["input"].as_str().unwrap(), s["to"].as_str().unwrap())).collect();
        assert_eq!(taken[..2], [("created", "awaiting_payment"), ("event payment_received", "ready_to_process")]);
        let refused = &sim["steps"][2]["refused"];
        assert_eq!(refused["code"], "no_transition", "{sim}");
        assert!(refused["reasons"][0].as_str().unwrap().contains("awaiting_payment"), "where it is taken instead: {refused}");
        assert_ne!(sim["status"], "ready_to_process", "payment_confirmed moved the order on: {sim}");
        let res = studio_call(&app, "/studio/api/simulate", &session, &csrf, json!({"file": "retail.flow", "text": text, "order": order, "steps": [{"timer": "payment_overdue"}]})).await;
        let sim = res.json();
        assert_eq!(sim["steps"][1]["input"], "timer payment_overdue", "{sim}");
        assert!(sim["steps"][1]["refused"].is_null(), "{sim}");
        assert!(sim["timers"].as_array().unwrap().iter().all(|t| t[0] != "payment_overdue"), "{sim}");
        assert!(sim["flags"].as_array().unwrap().iter().any(|f| f == "overdue"), "the overdue timer flagged the order: {sim}");

        // The scenarios, against the editor's text.
        let res = studio_call(&app, "/studio/api/scenarios", &session, &csrf, json!({"file": "retail.flow", "text": text})).await;
        let run = res.json();
        assert!(run["passed"].as_u64().unwrap() > 20 && run["failed"] == 0, "{run}");
        let broken = text.replacen("start in awaiting_payment when paid by check", "start in ready_to_process when paid by check", 1);
        let res = studio_call(&app, "/studio/api/scenarios", &session, &csrf, json!({"file": "retail.flow", "text": broken})).await;
        let run = res.json();
        assert!(run["failed"].as_u64().unwrap() >= 1, "a check order no longer waits for payment: {run}");
        assert_eq!(std::fs::read_to_string(dir.path().join("retail.flow")).unwrap(), text, "scenarios never touch the folder");

        // Saving: a text with errors writes nothing; a good one is reloaded and served.
        let res = studio_call(&app, "/studio/api/save", &session, &csrf, json!({"file": "retail.flow", "text": typo})).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert_eq!(res.json()["error"], "workflow_invalid");
        assert_eq!(std::fs::read_to_string(dir.path().join("retail.flow")).unwrap(), text);
        let relabelled = text.replacen("\"Awaiting Payment\"", "\"Awaiting Your Payment\"", 1);
        let res = studio_call(&app, "/studio/api/save", &session, &csrf, json!({"file": "retail.flow", "text": relabelled})).await;
        let saved = res.json();
        assert_eq!(res.status, StatusCode::OK, "{saved}");
        assert!(saved["serving"].as_array().unwrap().iter().any(|v| v == "retail@2"), "{saved}");
        // The reload names who saved.
        let bearer = format!("Bearer {READER}");
        let res = send(&app, Method::GET, "/v1/workflows", &[("authorization", &bearer)], None).await;
        let listed = res.json();
        assert_eq!((listed["last_reload"]["trigger"].as_str(), listed["last_reload"]["by"].as_str()), (Some("studio"), Some("ana")), "{listed}");
        assert_eq!(std::fs::read_to_string(dir.path().join("retail.flow")).unwrap(), relabelled);

        // A save that would strand orders (their status removed) is refused by the reload, and
        // the file keeps the text that runs.
        let order = json!({"channel": "website", "number": "STRAND-1", "customer": {"email": "s@example.com"},
            "payment": {"method": "check", "outcome": "pending"}, "lines": [{"sku": "G-1", "qty": 1, "unit_price": "10.00"}]});
        service.create_order(&serde_json::from_value(order).unwrap()).await.expect("an order in awaiting_payment");

        // What-if: the recorded order replayed through the editor's text; a changed start rule
        // names it, the saved text changes nothing.
        let res = studio_call(&app, "/studio/api/whatif", &session, &csrf, json!({"file": "retail.flow", "text": relabelled})).await;
        let same = res.json();
        assert_eq!((res.status, same["replayed"].as_u64(), same["differing"].as_u64()), (StatusCode::OK, Some(1), Some(0)), "{same}");
        let changed = relabelled.replacen("start in awaiting_payment when paid by check", "start in ready_to_process when paid by check", 1);
        let res = studio_call(&app, "/studio/api/whatif", &session, &csrf, json!({"file": "retail.flow", "text": changed})).await;
        let differs = res.json();
        assert_eq!(differs["differing"], 1, "{differs}");
        assert_eq!(differs["groups"][0]["orders"], json!(["STRAND-1"]), "{differs}");
        let stranding = relabelled.replace("status awaiting_payment ", "status awaiting_money ").replace(" awaiting_payment", " awaiting_money");
        assert_ne!(stranding, relabelled);
        let res = studio_call(&app, "/studio/api/save", &session, &csrf, json!({"file": "retail.flow", "text": stranding})).await;
        let refused = res.json();
        assert_eq!((res.status, refused["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reload_failed")), "{refused}");
        assert!(refused["message"].as_str().unwrap().contains("awaiting_payment"), "{refused}");
        assert_eq!(std::fs::read_to_string(dir.path().join("retail.flow")).unwrap(), relabelled, "the old text is back");

        // A new workflow, from the starter: written, reloaded, opened in the editor.
        let new = |name: &str| form(&[("name", name), ("csrf", &csrf)]);
        let headers = [("content-type", "application/x-www-form-urlencoded"), ("cookie", session.as_str())];
        let res = send(&app, Method::POST, "/studio/new", &headers, Some(new("bike_shop"))).await;
        assert_eq!((res.status, res.location()), (StatusCode::SEE_OTHER, "/studio/edit/bike_shop.flow"), "{}", res.body);
        let page = send(&app, Method::GET, "/studio", &[("cookie", &session)], None).await;
        assert!(page.body.contains("data-workflow=\"bike_shop\""), "{}", page.body);
        for (name, why) in [("bike_shop", "already"), ("Bike Shop", "not a workflow name"), ("../x", "not a workflow name")] {
            let res = send(&app, Method::POST, "/studio/new", &headers, Some(new(name))).await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
            assert!(res.body.contains(why), "{name}: {}", res.body);
        }
    })
    .await;
}

#[tokio::test]
async fn the_board_counts_orders_by_phase_and_status_and_filters_them() {
    support::on_both("pages_board", |store| async move {
        let (app, service) = with_service(store, config_with_users(), Path::new("workflows")).await;
        let res = send(&app, Method::GET, "/", &[], None).await;
        assert_eq!((res.status, res.location()), (StatusCode::SEE_OTHER, "/login?next=/"));
        let (session, _) = login(&app, "vic").await;
        for (number, method, outcome) in [("B-1", "check", "pending"), ("B-2", "credit_card", "approved")] {
            let order = json!({"channel": "website", "number": number, "customer": {"email": format!("{number}@example.com")},
                "payment": {"method": method, "outcome": outcome}, "lines": [{"sku": "G-1", "qty": 1, "unit_price": "10.00"}]});
            service.create_order(&serde_json::from_value(order).unwrap()).await.unwrap();
        }
        let page = send(&app, Method::GET, "/", &[("cookie", &session)], None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Payment Processing") && page.body.contains("Awaiting Payment"), "{}", page.body);
        assert!(page.body.contains("data-number=\"B-1\"") && page.body.contains("data-number=\"B-2\""), "{}", page.body);
        let retail = page.body.split("aria-label=\"Workflow retail\"").nth(1).unwrap();
        let count = retail.split("data-status=\"awaiting_payment\">Awaiting Payment</a> <span class=\"count\">").nth(1).unwrap();
        assert!(count.starts_with("1<"), "one order awaits payment: {count:.40}");
        let waiting = send(&app, Method::GET, "/?workflow=retail&status=awaiting_payment", &[("cookie", &session)], None).await;
        assert!(waiting.body.contains("data-number=\"B-1\"") && !waiting.body.contains("data-number=\"B-2\""), "{}", waiting.body);
        let page = send(&app, Method::GET, "/?status=shipped&channel=website", &[("cookie", &session)], None).await;
        assert!(page.body.contains("No orders match these filters"), "{}", page.body);
        // Each row opens the order's page: status, lines, money, the history as a timeline.
        let row = waiting.body.split("<td><a href=\"/orders/").nth(1).unwrap().split('"').next().unwrap().to_string();
        let order = send(&app, Method::GET, &format!("/orders/{row}"), &[("cookie", &session)], None).await;
        assert_eq!(order.status, StatusCode::OK, "{}", order.body);
        assert!(order.body.contains("data-number=\"B-1\"") && order.body.contains("data-status=\"awaiting_payment\""), "{}", order.body);
        assert!(order.body.contains("<code>G-1</code>") && order.body.contains("id=\"balance\">10.00<"), "{}", order.body);
        assert!(order.body.contains("data-kind=\"created\""), "{}", order.body);
        let by_number = send(&app, Method::GET, "/orders/B-2", &[("cookie", &session)], None).await;
        assert!(by_number.body.contains("data-number=\"B-2\""), "{}", by_number.body);
        for missing in ["/orders/NOPE", "/orders/id:999999", "/orders/id:x"] {
            let res = send(&app, Method::GET, missing, &[("cookie", &session)], None).await;
            assert_eq!(res.status, StatusCode::NOT_FOUND, "{missing}");
        }
        // The customer's page: no login, the order in the customer's words, no prices; a wrong
        // email answers as an unknown number does.
        let form = send(&app, Method::GET, "/track", &[], None).await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("name=\"number\"") && !form.body.contains("Log out"), "{}", form.body);
        let mine = send(&app, Method::GET, "/track?number=B-1&email=B-1%40EXAMPLE.com", &[], None).await;
        assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
        assert!(mine.body.contains("id=\"customer-status\">Waiting for your payment<"), "{}", mine.body);
        assert!(mine.body.contains("G-1") && !mine.body.contains("10.00"), "lines without prices: {}", mine.body);
        let wrong = send(&app, Method::GET, "/track?number=B-1&email=someone%40else.com", &[], None).await;
        let unknown = send(&app, Method::GET, "/track?number=NOPE&email=B-1%40example.com", &[], None).await;
        assert_eq!((wrong.status, unknown.status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
        assert!(wrong.body.contains("We found no order") && unknown.body.contains("We found no order"));
        let half = send(&app, Method::GET, "/track?number=B-1", &[], None).await;
        assert_eq!(half.status, StatusCode::UNPROCESSABLE_ENTITY);

        // A filter that names nothing is said, with a did-you-mean.
        let typo = send(&app, Method::GET, "/?status=awaiting_paymnt&view=nonsense", &[("cookie", &session)], None).await;
        assert!(typo.body.contains("No active workflow has the status `awaiting_paymnt`; did you mean `awaiting_payment`?"), "{}", typo.body);
        assert!(typo.body.contains("`nonsense` is not a view"), "{}", typo.body);
        // Text from the order is escaped.
        let page = send(&app, Method::GET, "/?channel=%3Cscript%3E", &[("cookie", &session)], None).await;
        assert!(!page.body.contains("<script>") && page.body.contains("&lt;script&gt;"), "{}", page.body);
    })
    .await;
}

/// The order's page for `session`, asserting it is shown.
async fn order_page(app: &Router, key: &str, session: &str) -> String {
    let page = send(app, Method::GET, &format!("/orders/{key}"), &[("cookie", session)], None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.body
}

#[tokio::test]
async fn clerks_lock_assign_record_actions_email_and_send_events_from_the_order_page() {
    support::on_both("pages_order_actions", |store| async move {
        let (app, service) = with_service(store, config_with_users(), Path::new("workflows")).await;
        let order = json!({"workflow": "fulfillment", "channel": "website", "number": "F-1",
            "customer": {"email": "sue@example.com", "first_name": "Sue"},
            "payment": {"method": "credit_card", "outcome": "pending"},
            "lines": [{"sku": "BK-101", "qty": 2, "unit_price": "18.00", "in_stock": true}]});
        let created = service.create_order(&serde_json::from_value(order).unwrap()).await.unwrap();
        let key = format!("id:{}", created.order.id);
        let (carl, carl_csrf) = login(&app, "carl").await;
        let (cora, cora_csrf) = login(&app, "cora").await;

        // The page offers the status's events as forms, and a lock.
        let page = order_page(&app, &key, &carl).await;
        assert!(
            page.contains("data-event=\"payment_received\"") && page.contains("name=\"data.outcome\""),
            "{page}"
        );
        assert!(page.contains("id=\"take-lock\""), "{page}");

        // carl locks it; cora sees the lock and cannot act.
        let res = post_form(
            &app,
            &format!("/orders/{key}/lock"),
            &carl,
            &[("csrf", &carl_csrf), ("action", "lock")],
        )
        .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        assert_eq!(res.location(), format!("/orders/{key}?done=locked"));
        assert!(order_page(&app, &res.location()[8..], &carl).await.contains("You hold the lock"));
        let page = order_page(&app, &key, &cora).await;
        assert!(page.contains("Locked by <strong>carl</strong>"), "{page}");
        assert!(
            page.contains("id=\"events-locked\">carl holds the lock"),
            "cora is told before sending: {page}"
        );
        assert!(page.contains("disabled title=\"carl holds the lock\""), "{page}");
        let before = service.order(created.order.id).await.unwrap();
        let res = post_form(
            &app,
            &format!("/orders/{key}/event"),
            &cora,
            &[
                ("csrf", &cora_csrf),
                ("event", "payment_received"),
                ("data.outcome", "approved"),
                ("data.amount", "36.00"),
            ],
        )
        .await;
        assert_eq!(res.status, StatusCode::LOCKED, "{}", res.body);
        assert!(
            res.body.contains("id=\"problem\" data-code=\"locked\"")
                && res.body.contains("Nothing was changed"),
            "{}",
            res.body
        );
        let res =
            post_form(&app, &format!("/orders/{key}/assign"), &cora, &[("csrf", &cora_csrf), ("to", "me")])
                .await;
        assert_eq!(res.status, StatusCode::LOCKED, "{}", res.body);
        assert_eq!(service.order(created.order.id).await.unwrap().version, before.version, "nothing changed");

        // Without the form token, or without a session, nothing is done either.
        let res = post_form(&app, &format!("/orders/{key}/lock"), &carl, &[("action", "unlock")]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
        let res = post_form(
            &app,
            &format!("/orders/{key}/lock"),
            "",
            &[("csrf", &carl_csrf), ("action", "unlock")],
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
        // A viewer may look but not act.
        let (vic, vic_csrf) = login(&app, "vic").await;
        assert!(!order_page(&app, &key, &vic).await.contains("id=\"take-lock\""));
        let res =
            post_form(&app, &format!("/orders/{key}/assign"), &vic, &[("csrf", &vic_csrf), ("to", "me")])
                .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);

        // carl takes it from the queue, records a partial action, emails the customer.
        let res =
            post_form(&app, &format!("/orders/{key}/assign"), &carl, &[("csrf", &carl_csrf), ("to", "me")])
                .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let mine = send(&app, Method::GET, "/?view=mine", &[("cookie", &carl)], None).await;
        assert!(mine.body.contains("data-number=\"F-1\""), "{}", mine.body);
        let theirs = send(&app, Method::GET, "/?view=mine", &[("cookie", &cora)], None).await;
        assert!(!theirs.body.contains("data-number=\"F-1\""), "{}", theirs.body);
        let res = post_form(
            &app,
            &format!("/orders/{key}/actions"),
            &carl,
            &[
                ("csrf", &carl_csrf),
                ("name", "Packed"),
                ("extent", "partial"),
                ("notify", "Warehouse lead"),
                ("note", "One of two packed"),
                ("contact", "555-0142"),
                ("visible", "yes"),
            ],
        )
        .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let res = post_form(
            &app,
            &format!("/orders/{key}/actions"),
            &carl,
            &[("csrf", &carl_csrf), ("name", "Pakced")],
        )
        .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert!(res.body.contains("did you mean"), "{}", res.body);
        let res = post_form(
            &app,
            &format!("/orders/{key}/actions/1"),
            &carl,
            &[("csrf", &carl_csrf), ("extent", "complete"), ("note", "Both packed")],
        )
        .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let res = post_form(
            &app,
            &format!("/orders/{key}/email"),
            &carl,
            &[
                ("csrf", &carl_csrf),
                ("to", "sue@example.com"),
                ("subject", "Your order F-1"),
                ("body", "Hello Sue, it is packed."),
            ],
        )
        .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let res = post_form(
            &app,
            &format!("/orders/{key}/email"),
            &carl,
            &[("csrf", &carl_csrf), ("to", "sue@example.com\r\nBcc: x@y.z"), ("subject", "x"), ("body", "y")],
        )
        .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);

        // A refused event says why, guard by guard, and changes nothing.
        let version = service.order(created.order.id).await.unwrap().version;
        let res = post_form(
            &app,
            &format!("/orders/{key}/event"),
            &carl,
            &[("csrf", &carl_csrf), ("event", "ship_it"), ("data.x", "1")],
        )
        .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert!(res.body.contains("data-code=\"unknown_event\""), "{}", res.body);
        assert_eq!(service.order(created.order.id).await.unwrap().version, version);
        let res = post_form(
            &app,
            &format!("/orders/{key}/event"),
            &carl,
            &[
                ("csrf", &carl_csrf),
                ("event", "payment_received"),
                ("data.outcome", "approved"),
                ("data.amount", "36.00"),
            ],
        )
        .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);

        let order = service.order(created.order.id).await.unwrap();
        assert_eq!((order.status.as_str(), order.assignee.as_deref()), ("processing", Some("carl")));
        let packed = order.fulfillment_actions.iter().find(|a| a.name == "Packed").unwrap();
        assert!(
            packed.complete && packed.note == "Both packed" && packed.notify == "Warehouse lead",
            "{packed:?}"
        );
        let outbox = service.store().outbox(Some(order.id)).await.unwrap();
        let mail =
            outbox.iter().find(|m| m.message.template.is_none()).expect("the free-form email is queued");
        assert_eq!(
            (mail.message.target.as_str(), mail.message.subject.as_deref()),
            ("sue@example.com", Some("Your order F-1"))
        );
        let history = service.store().history(order.id).await.unwrap();
        for kind in ["locked", "assigned", "fulfillment_action", "emailed"] {
            let row = history
                .iter()
                .find(|h| h.entry.kind.starts_with(kind))
                .unwrap_or_else(|| panic!("no {kind} row: {history:#?}"));
            assert_eq!(row.entry.actor.as_deref(), Some("carl"), "{kind}");
        }
        let page = order_page(&app, &key, &carl).await;
        assert!(page.contains("data-kind=\"emailed\"") && page.contains("· by carl"), "{page}");

        // carl unlocks; cora may act again.
        let res = post_form(
            &app,
            &format!("/orders/{key}/lock"),
            &carl,
            &[("csrf", &carl_csrf), ("action", "unlock")],
        )
        .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let res = post_form(
            &app,
            &format!("/orders/{key}/assign"),
            &cora,
            &[("csrf", &cora_csrf), ("to", "queue"), ("queue", "csr")],
        )
        .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let queue = send(&app, Method::GET, "/?view=queue", &[("cookie", &cora)], None).await;
        assert!(queue.body.contains("data-number=\"F-1\""), "{}", queue.body);
        let found = send(&app, Method::GET, "/?q=SUE%40example", &[("cookie", &cora)], None).await;
        assert!(found.body.contains("data-number=\"F-1\""), "{}", found.body);
        let none = send(&app, Method::GET, "/?q=%25", &[("cookie", &cora)], None).await;
        assert!(!none.body.contains("data-number=\"F-1\""), "a % is a percent sign: {}", none.body);
    })
    .await;
}

#[tokio::test]
async fn a_clerk_previews_and_creates_a_phone_order_and_operators_see_workflows_and_the_outbox() {
    support::on_both("pages_new_order", |store| async move {
        let (app, service) = with_service(store, config_with_users(), Path::new("workflows")).await;
        let (carl, csrf) = login(&app, "carl").await;
        let channels = send(&app, Method::GET, "/orders/new", &[("cookie", &carl)], None).await;
        assert_eq!(channels.status, StatusCode::OK, "{}", channels.body);
        assert!(channels.body.contains("/orders/new?workflow=retail&amp;channel=website"), "{}", channels.body);
        let form = send(&app, Method::GET, "/orders/new?workflow=repair_store&channel=website", &[("cookie", &carl)], None).await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        // The channel's required fields are marked (ATS: names and a shipping address).
        assert!(form.body.contains("name=\"customer.first_name\" type=\"text\" value=\"\" required"), "{}", form.body);
        let fields: &[(&str, &str)] = &[
            ("csrf", &csrf), ("workflow", "retail"), ("channel", "website"),
            ("customer.email", "pat@example.com"), ("customer.first_name", "Pat"),
            ("payment.method", "check"), ("payment.outcome", "pending"),
            ("lines", "GTR-100, 1, 499.00, Acoustic guitar"), ("action", "preview"),
        ];
        let before = service.store().status_counts().await.unwrap();
        let preview = post_form(&app, "/orders/new", &carl, fields).await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
        assert!(preview.body.contains("id=\"predicted\" data-status=\"awaiting_payment\""), "{}", preview.body);
        assert_eq!(service.store().status_counts().await.unwrap(), before, "a preview writes nothing");
        // What the channel refuses is shown before saving, with the engine's reasons.
        let mut bad = fields.to_vec();
        bad.retain(|(k, _)| *k != "lines");
        bad.push(("lines", "GTR-100, many, 1.00"));
        let refused = post_form(&app, "/orders/new", &carl, &bad).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert!(refused.body.contains("would be refused") && refused.body.contains("qty"), "{}", refused.body);
        let mut create = fields.to_vec();
        create.retain(|(k, _)| *k != "action");
        create.push(("action", "create"));
        let created = post_form(&app, "/orders/new", &carl, &create).await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
        assert!(created.location().ends_with("?done=created"), "{}", created.location());
        let page = send(&app, Method::GET, created.location(), &[("cookie", &carl)], None).await;
        assert!(page.body.contains("data-status=\"awaiting_payment\"") && page.body.contains("· by carl"), "{}", page.body);
        // A viewer may not create orders.
        let (vic, vic_csrf) = login(&app, "vic").await;
        let mut as_vic = create.clone();
        as_vic.retain(|(k, _)| *k != "csrf");
        as_vic.push(("csrf", &vic_csrf));
        assert_eq!(post_form(&app, "/orders/new", &vic, &as_vic).await.status, StatusCode::FORBIDDEN);

        // The Workflows screen: pictures, counts, versions, the last reload.
        let workflows = send(&app, Method::GET, "/workflows", &[("cookie", &carl)], None).await;
        assert_eq!(workflows.status, StatusCode::OK, "{}", workflows.body);
        assert!(workflows.body.contains("<svg") && workflows.body.contains("id=\"workflow-retail\""), "{}", workflows.body);
        let retail = workflows.body.split("id=\"workflow-retail\"").nth(1).unwrap();
        assert!(retail.contains("<tr data-status=\"awaiting_payment\"><td><a href=\"/?workflow=retail&amp;status=awaiting_payment\">Awaiting Payment</a></td><td class=\"num\">1</td>"), "{retail:.3000}");
        assert!(retail.contains("version 1 ·"), "{retail:.3000}");
        // The outbox: what the order sent, and only an admin may send again.
        let id: i64 = created.location().trim_start_matches("/orders/id:").split('?').next().unwrap().parse().unwrap();
        let note = orderly::engine::EmailInput {
            to: "pat@example.com".into(),
            subject: "Your guitar".into(),
            body: "It is on its way.".into(),
            actor: Some("carl".into()),
        };
        service.email(id, &note).await.unwrap();
        let outbox = send(&app, Method::GET, "/outbox", &[("cookie", &carl)], None).await;
        assert_eq!(outbox.status, StatusCode::OK, "{}", outbox.body);
        assert!(!outbox.body.contains("serde_json"), "numbers show as numbers: {}", outbox.body);
        let (ana, ana_csrf) = login(&app, "ana").await;
        let messages = service.store().outbox(None).await.unwrap();
        let m = messages.iter().find(|m| m.message.subject.as_deref() == Some("Your guitar")).expect("the email is queued");
        assert!(outbox.body.contains(&format!("<tr data-id=\"{}\" data-state=\"pending\">", m.id)), "{}", outbox.body);
        {
            let res = post_form(&app, &format!("/outbox/{}/retry", m.id), &carl, &[("csrf", &csrf)]).await;
            assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
            let res = post_form(&app, &format!("/outbox/{}/retry", m.id), &ana, &[("csrf", &ana_csrf)]).await;
            assert_eq!((res.status, res.location()), (StatusCode::SEE_OTHER, "/outbox?done=retried"), "{}", res.body);
        }
        // A money attribute shows as the amount it is.
        let repair = json!({"workflow": "repair_store", "channel": "website", "number": "R-9",
            "customer": {"email": "r@example.com", "first_name": "R", "last_name": "P"},
            "shipping_address": {"address": "1 A St", "city": "B", "state": "C", "zip": "1"},
            "payment": {"method": "credit_card", "outcome": "approved"}, "attributes": {"repair_fee": "120.50"},
            "lines": [{"sku": "REPAIR-1", "qty": 1, "unit_price": "0"}]});
        service.create_order(&serde_json::from_value(repair).unwrap()).await.unwrap();
        let page = send(&app, Method::GET, "/orders/R-9", &[("cookie", &carl)], None).await;
        assert!(page.body.contains("<code>repair_fee</code>: 120.50<"), "{}", page.body);
        let res = post_form(&app, "/outbox/999999/retry", &ana, &[("csrf", &ana_csrf)]).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    })
    .await;
}

#[tokio::test]
async fn the_customers_page_wears_the_stores_name_logo_and_stylesheet() {
    let dir = tempfile::tempdir().unwrap();
    let css = dir.path().join("track.css");
    std::fs::write(&css, "body { background: #fafaf0; }").unwrap();
    let text = format!(
        "track_name = \"Harmony Music\"\ntrack_logo_url = \"https://cdn.harmony.example/logo.png\"\ntrack_stylesheet = \"{}\"\n",
        css.display()
    );
    let config = Config::from_toml(&text, Path::new("orderly.toml"), |_| None).unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("o.db").display())).await.unwrap();
    let app = router(store, config, Path::new("workflows")).await;
    let page = send(&app, Method::GET, "/track", &[], None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Harmony Music")
            && page.body.contains("src=\"https:&#x2f;&#x2f;cdn.harmony.example&#x2f;logo.png\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("href=\"/track/style.css\"") && !page.body.contains("class=\"top\""),
        "{}",
        page.body
    );
    let csp = page.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(
        csp.contains("img-src 'self' data: https://cdn.harmony.example;")
            && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let sheet = send(&app, Method::GET, "/track/style.css", &[], None).await;
    assert_eq!((sheet.status, sheet.body.as_str()), (StatusCode::OK, "body { background: #fafaf0; }"));
    for bad in ["http://cdn.example/logo.png", "https://x/\" onerror=\"alert(1)", "javascript:alert(1)"] {
        let text = format!("track_logo_url = '{bad}'\n");
        assert!(Config::from_toml(&text, Path::new("orderly.toml"), |_| None).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn clerks_find_link_create_and_merge_customers_from_an_order() {
    support::on_both("pages_customers", |store| async move {
        let (app, service) = with_service(store, config_with_users(), Path::new("workflows")).await;
        for (number, company) in [("K-1", "Fill & Co"), ("K-2", "Sue's Studio")] {
            let order = json!({"workflow": "fulfillment", "channel": "website", "number": number,
                "customer": {"email": "sue@example.com", "first_name": "Sue", "last_name": "Fill", "company": company},
                "payment": {"method": "credit_card", "outcome": "approved"},
                "lines": [{"sku": "BK-1", "qty": 1, "unit_price": "9.00", "in_stock": true}]});
            service.create_order(&serde_json::from_value(order).unwrap()).await.unwrap();
        }
        let k2 = service.order(OrderKey::Number("K-2".into())).await.unwrap();
        assert!(k2.flags.contains("possible_duplicate"));
        let (carl, csrf) = login(&app, "carl").await;
        // Find Cust from the order starts with its email and offers to link each other customer.
        let found = send(&app, Method::GET, &format!("/customers?order=id:{}", k2.id), &[("cookie", &carl)], None).await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.body);
        assert_eq!(found.body.matches("<tr data-customer=").count(), 2, "{}", found.body);
        assert_eq!(found.body.matches("class=\"link-customer\"").count(), 1, "only the other one: {}", found.body);
        let first = service.order(OrderKey::Number("K-1".into())).await.unwrap().customer.id.unwrap();
        let linked = post_form(&app, "/customers/link", &carl,
            &[("csrf", &csrf), ("order", &format!("id:{}", k2.id)), ("customer", &first.to_string())]).await;
        assert_eq!(linked.status, StatusCode::SEE_OTHER, "{}", linked.body);
        let k2 = service.order(k2.id).await.unwrap();
        assert_eq!(k2.customer.id, Some(first));
        assert!(!k2.flags.contains("possible_duplicate"));
        let history = service.store().history(k2.id).await.unwrap();
        let row = history.iter().find(|h| h.entry.kind == "customer_linked").expect("a customer_linked row");
        assert_eq!(row.entry.actor.as_deref(), Some("carl"));
        // Without the form token nothing is linked.
        let res = post_form(&app, "/customers/link", &carl, &[("order", &format!("id:{}", k2.id)), ("customer", "1")]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        // The customer page offers the look-alike; merging moves its orders here.
        let page = send(&app, Method::GET, &format!("/customers/{first}"), &[("cookie", &carl)], None).await;
        assert!(page.body.contains("id=\"alike\""), "{}", page.body);
        let other = page.body.split("<tr data-customer=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let merged = post_form(&app, &format!("/customers/{first}/merge"), &carl, &[("csrf", &csrf), ("from", &other)]).await;
        assert_eq!((merged.status, merged.location()), (StatusCode::SEE_OTHER, format!("/customers/{first}?done=merged").as_str()));
        let again = send(&app, Method::GET, &format!("/customers/{other}"), &[("cookie", &carl)], None).await;
        assert!(again.body.contains(&format!("Merged into <a href=\"/customers/{first}\">")), "{}", again.body);
        // Create Cust from an order fills the form from it and links what it creates.
        let form = send(&app, Method::GET, &format!("/customers/new?order=id:{}", k2.id), &[("cookie", &carl)], None).await;
        assert!(form.body.contains("value=\"sue@example.com\""), "{}", form.body);
        let created = post_form(&app, "/customers/new", &carl, &[("csrf", &csrf), ("order", &format!("id:{}", k2.id)),
            ("email", "studio@example.com"), ("first_name", "Sue"), ("last_name", "Fill"), ("company", "Sue's Studio")]).await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
        let k2 = service.order(k2.id).await.unwrap();
        assert_eq!(k2.customer.email, "studio@example.com");
        let bad = post_form(&app, "/customers/new", &carl, &[("csrf", &csrf), ("email", "not an address"), ("first_name", "X")]).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        let search = send(&app, Method::GET, "/customers?q=%25", &[("cookie", &carl)], None).await;
        assert!(search.body.contains("No customer matches"), "a % is a percent sign: {}", search.body);
    })
    .await;
}

#[tokio::test]
async fn the_board_hears_of_an_order_another_process_made() {
    support::on_both_at("pages_live", |store, url| async move {
        use futures_util::StreamExt;
        let app = router(store, config_with_users(), Path::new("workflows")).await;
        let (session, _) = login(&app, "vic").await;
        // Without a session there is no stream.
        let res = send(&app, Method::GET, "/events/orders", &[], None).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        let req = Request::get("/events/orders").header("cookie", &session).body(Body::empty()).unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers().get(header::CONTENT_TYPE).unwrap(), "text/event-stream");
        let mut stream = res.into_body().into_data_stream();
        // Another process on the same database (another service on another store) takes an order.
        let other_store = Store::connect(&url).await.unwrap();
        let registry = Registry::load(Path::new("workflows"), &other_store).await.unwrap();
        let other = Service::serving(other_store, registry, Arc::new(SystemClock));
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let order = json!({"workflow": "retail", "channel": "website", "number": "L-1", "customer": {"email": "l@example.com"},
            "payment": {"method": "check", "outcome": "pending"}, "lines": [{"sku": "G-1", "qty": 1, "unit_price": "1.00"}]});
        other.create_order(&serde_json::from_value(order).unwrap()).await.unwrap();
        let heard = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            let mut text = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if text.contains("event: orders") {
                    return text;
                }
            }
            text
        })
        .await
        .expect("the board hears of the change within seconds");
        assert!(heard.contains("event: orders\ndata: 20"), "{heard}");
    })
    .await;
}

/// What the board's live updates watch (the newest recorded input, now that `updated_at` has
/// no index) moves with every change to an order, an event as well as a creation, and stays
/// put without one.
#[tokio::test]
async fn the_last_change_moves_with_every_change_to_an_order() {
    support::on_both("pages_last_change", |store| async move {
        let (_app, service) = with_service(store.clone(), config_with_users(), Path::new("workflows")).await;
        assert_eq!(store.last_order_change().await.unwrap(), None, "no orders, no change");
        let order = json!({"workflow": "retail", "channel": "website", "number": "LC-1", "customer": {"email": "lc@example.com"},
            "payment": {"method": "check", "outcome": "pending"}, "lines": [{"sku": "G-1", "qty": 1, "unit_price": "1.00"}]});
        service.create_order(&serde_json::from_value(order).unwrap()).await.unwrap();
        let created = store.last_order_change().await.unwrap().expect("a change");
        assert!(created.1.starts_with("20"), "{created:?}");
        assert_eq!(store.last_order_change().await.unwrap().as_ref(), Some(&created), "nothing changed since");
        let note: orderly::engine::EventInput =
            serde_json::from_value(json!({"name": "card_declined", "data": {"outcome": "declined"}})).unwrap();
        service.apply_event(OrderKey::Number("LC-1".into()), &note, None).await.unwrap();
        let noted = store.last_order_change().await.unwrap().expect("a change");
        assert!(noted.0 > created.0, "an event is a change: {created:?} then {noted:?}");
    })
    .await;
}

#[tokio::test]
async fn careless_and_hostile_forms_change_nothing_and_say_why() {
    support::on_both("pages_forms", |store| async move {
        let (app, service) = with_service(store, config_with_users(), Path::new("workflows")).await;
        let order = json!({"workflow": "fulfillment", "channel": "website", "number": "Z-1",
            "customer": {"email": "zed@example.com", "first_name": "Zed"},
            "payment": {"method": "credit_card", "outcome": "approved"},
            "lines": [{"sku": "A", "qty": 2, "unit_price": "5.00", "in_stock": true},
                      {"sku": "B", "qty": 1, "unit_price": "5.00", "in_stock": true}]});
        let id = service.create_order(&serde_json::from_value(order).unwrap()).await.unwrap().order.id;
        let key = format!("id:{id}");
        let (carl, csrf) = login(&app, "carl").await;
        let version = || async { service.order(id).await.unwrap().version };
        let v0 = version().await;

        // Quantities of 0 in every box do not mean "everything".
        let res = post_form(
            &app,
            &format!("/orders/{key}/event"),
            &carl,
            &[
                ("csrf", &csrf),
                ("event", "shipment"),
                ("data.carrier", "UPS"),
                ("data.tracking_number", "1Z"),
                ("lines.1", "0"),
                ("lines.2", "0"),
            ],
        )
        .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert!(res.body.contains("every quantity given is 0"), "{}", res.body);
        assert!(
            res.body.contains("name=\"data.carrier\"") && res.body.contains("value=\"UPS\""),
            "what was typed stays: {}",
            res.body
        );
        // A 0 beside another quantity leaves its line out.
        let res = post_form(
            &app,
            &format!("/orders/{key}/event"),
            &carl,
            &[
                ("csrf", &csrf),
                ("event", "shipment"),
                ("data.carrier", "UPS"),
                ("data.tracking_number", "1Z"),
                ("lines.1", "1"),
                ("lines.2", "0"),
            ],
        )
        .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let shipped: Vec<String> =
            service.order(id).await.unwrap().lines.iter().map(|l| l.shipped_qty.to_string()).collect();
        assert_eq!(shipped, ["1", "0"]);
        let v1 = version().await;
        assert!(v1 > v0);

        // Releasing a lock nobody holds writes nothing; an empty queue is refused.
        let res =
            post_form(&app, &format!("/orders/{key}/lock"), &carl, &[("csrf", &csrf), ("action", "unlock")])
                .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let res = post_form(
            &app,
            &format!("/orders/{key}/assign"),
            &carl,
            &[("csrf", &csrf), ("to", "queue"), ("queue", " ")],
        )
        .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        // Choices that are not choices, paths and forms that do not parse: a sentence, not internals.
        let res = post_form(
            &app,
            &format!("/orders/{key}/actions"),
            &carl,
            &[("csrf", &csrf), ("name", "Packed"), ("extent", "banana")],
        )
        .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert!(
            res.body.contains("is not complete or partial") && res.body.contains("<!doctype html>"),
            "{}",
            res.body
        );
        let res =
            post_form(&app, &format!("/orders/{key}/actions/abc"), &carl, &[("csrf", &csrf), ("note", "x")])
                .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
        assert!(res.body.contains("There is no such page") && !res.body.contains("u32"), "{}", res.body);
        let res = post_form(
            &app,
            "/customers/link",
            &carl,
            &[("csrf", &csrf), ("order", &key), ("customer", "abc")],
        )
        .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert!(
            res.body.contains("The form does not fit this page") && res.body.contains("<!doctype html>"),
            "{}",
            res.body
        );
        // A refused email keeps what was typed.
        let res = post_form(
            &app,
            &format!("/orders/{key}/email"),
            &carl,
            &[
                ("csrf", &csrf),
                ("to", "zed@example"),
                ("subject", "My careful subject"),
                ("body", "My long message"),
            ],
        )
        .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert!(
            res.body.contains("value=\"My careful subject\"")
                && res.body.contains(">My long message</textarea>"),
            "{}",
            res.body
        );
        assert_eq!(version().await, v1, "nothing above changed the order");

        // Under another clerk's lock, Create customer creates nobody.
        let (cora, cora_csrf) = login(&app, "cora").await;
        let res = post_form(
            &app,
            &format!("/orders/{key}/lock"),
            &cora,
            &[("csrf", &cora_csrf), ("action", "lock")],
        )
        .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let res = post_form(
            &app,
            "/customers/new",
            &carl,
            &[("csrf", &csrf), ("order", &key), ("email", "new@example.com"), ("first_name", "New")],
        )
        .await;
        assert_eq!(res.status, StatusCode::LOCKED, "{}", res.body);
        assert!(
            service.search_customers("new@example.com", 10).await.unwrap().is_empty(),
            "no customer was created"
        );

        // The history says what each row did.
        let page = send(&app, Method::GET, &format!("/orders/{key}"), &[("cookie", &carl)], None).await;
        assert!(page.body.contains("<strong>locked</strong>: until "), "{}", page.body);
        assert!(
            page.body
                .contains("<strong>fulfillment action</strong> <code>shipment</code>: Shipped (complete)"),
            "{}",
            page.body
        );
        assert!(
            !page.body.contains("<strong>unlocked</strong>"),
            "the empty unlock wrote nothing: {}",
            page.body
        );
    })
    .await;
}
