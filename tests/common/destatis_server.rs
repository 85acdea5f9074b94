//! A local GENESIS-Online REST 2020 service, as the real one answers: POST only (a GET gets
//! an HTML page with HTTP 200), credentials in the `username`/`password` headers (an API
//! token with an empty password, or a user account), JSON envelopes with HTTP 200 even on
//! errors, the change signal in `catalogue/cubes` (`LatestUpdate`, or `catalogue/modifieddata`
//! without cubes), the table as a zipped ffcsv from `data/tablefile` (or, for a table too big
//! for the dialog, through the job flow: `catalogue/results`, `data/resultfile`), and the
//! search and metadata services (`finding`). What a test may change or read is [`Genesis`]:
//! the release, faults (an outage page, no cube catalogue, a slow answer, a withdrawn table),
//! and every request seen.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};

/// The API token the fake accepts (in `username`, with an empty `password`).
pub const DESTATIS_TOKEN: &str = "tok-7f3a9c2e51d84b06";
/// A GENESIS user account (name and password), which may run jobs.
pub const DESTATIS_USER: &str = "statwatch-user";
pub const DESTATIS_PASSWORD: &str = "pw-5d0c2a91";
pub const PRODUCTION: &str = "42153-0001";
/// The job a too big table is fetched through.
pub const JOB: &str = "42153-0001_987654321";

/// The constructed 42153-0001 answer of one release (see tests/fixtures/destatis/README.md):
/// `2025-04` the February-release vintage, `2025-05` the March-release one.
pub fn production_release(vintage: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/fixtures/destatis/data_tablefile_42153-0001_de_ffcsv_constructed_{vintage}.zip"
    ));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A recorded answer in tests/fixtures/destatis.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/destatis")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What `data/tablefile` answers for 42153-0001.
#[derive(Clone, Default)]
pub enum TableMode {
    /// Nothing published yet: every table and cube is unknown.
    #[default]
    Unpublished,
    Zip(Vec<u8>),
    /// Any body, sent as this content type.
    Raw(&'static str, Vec<u8>),
    /// Status 98, then the job flow; `not_ready` polls answer 104 first.
    TooBig {
        zip: Vec<u8>,
        not_ready: usize,
    },
    /// HTTP 307 (the POST is to be repeated, body and headers) to this URL.
    Redirect(String),
}

/// The service's state: set by a test, read back by it.
#[derive(Default)]
pub struct Genesis {
    /// The cube's `LatestUpdate` (`dd.mm.yyyy hh:mm:ssh`).
    pub latest_update: String,
    pub table: TableMode,
    /// The table is gone: `data/tablefile` answers status 90, the cube is no longer listed.
    pub withdrawn: bool,
    /// `catalogue/cubes` lists nothing.
    pub cubes_empty: bool,
    /// `catalogue/cubes` answers 404 (a server that does not offer it).
    pub cubes_missing: bool,
    /// Every POST gets an outage page with HTTP 200.
    pub html_outage: bool,
    /// How long each answer takes.
    pub delay: Duration,
    /// `job=true` with the token gets an error envelope (the token cannot run jobs).
    pub token_jobs_refused: bool,
    /// `catalogue/results` polls so far.
    pub result_polls: usize,
    /// Endpoint -> requests.
    pub counts: BTreeMap<String, usize>,
    /// Every POST: endpoint and form fields.
    pub forms: Vec<(String, BTreeMap<String, String>)>,
    /// Query strings seen (must stay empty: nothing goes in the URL).
    pub queries: Vec<String>,
    /// Requests that carried a `username` or `password` header.
    pub saw_credentials: usize,
}

#[derive(Default)]
struct Shared {
    genesis: Mutex<Genesis>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

pub struct DestatisServer {
    /// `base_url` for the config: `http://127.0.0.1:PORT/genesisWS/rest/2020`.
    pub base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DestatisServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DestatisServer {
    /// A service with nothing published.
    pub async fn start() -> DestatisServer {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/genesisWS/rest/2020/{*endpoint}", any(handle))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        DestatisServer {
            base_url: format!("http://{addr}/genesisWS/rest/2020"),
            shared,
            task,
        }
    }

    /// Publishes a release: the cube's new `LatestUpdate` and the table's zip.
    pub fn publish(&self, latest_update: &str, zip: Vec<u8>) {
        self.with(|g| {
            g.latest_update = latest_update.to_string();
            g.table = TableMode::Zip(zip);
        });
    }

    /// Withdraws the table (or brings it back): GENESIS then calls it missing.
    pub fn withdraw(&self, gone: bool) {
        self.with(|g| g.withdrawn = gone);
    }

    /// Reads or changes the service's state.
    pub fn with<T>(&self, f: impl FnOnce(&mut Genesis) -> T) -> T {
        f(&mut self.shared.genesis.lock().expect("genesis lock"))
    }

    /// How often an endpoint (`data/tablefile`, `catalogue/cubes`) was called.
    pub fn count(&self, endpoint: &str) -> usize {
        self.with(|g| g.counts.get(endpoint).copied().unwrap_or(0))
    }

    /// The most requests that were answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

fn envelope(service: &str, code: i64, content: &str, list: Value) -> Response {
    let (s, m) = service.split_once('/').unwrap_or((service, ""));
    let body = json!({
        "Ident": {"Service": s, "Method": m},
        "Status": {"Code": code, "Content": content,
                   "Type": if code == 0 { "Information" } else { "Fehler" }},
        "Parameter": {"username": "********************", "password": "********************"},
        "List": list,
        "Object": null,
        "Copyright": "© Statistisches Bundesamt (Destatis), 2025"
    });
    json_response(body.to_string())
}

fn json_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn html_page() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        "<!DOCTYPE html><html><head><title>GENESIS-Online: Die Datenbank des Statistischen \
         Bundesamtes</title></head><body>Bitte nutzen Sie POST.</body></html>",
    )
        .into_response()
}

fn zip_response(z: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/zip")],
        z,
    )
        .into_response()
}

/// What `tables` and `describe` ask: `find/find`, `catalogue/tables`, `metadata/table` and
/// `catalogue/values2variable` for 42153-0001, shaped as the recorded answers in
/// tests/fixtures/destatis (`find_find_forst_de.json`, `metadata_table_61111-0021_de.json`).
/// `WZ08-B` is a value of the variable that the table's data do not hold.
fn finding(endpoint: &str, form: &BTreeMap<String, String>, withdrawn: bool) -> Option<Response> {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let entry = |code: &str, content: &str| json!({"Code": code, "Content": content});
    let production = json!([{"Code": PRODUCTION,
        "Content": "Produktionsindex für das Verarbeitende Gewerbe: Deutschland,\nMonate, Original- und bereinigte Daten, Wirtschaftszweige",
        "Time": "Januar 2015 bis März 2025"}]);
    Some(match (endpoint, field("term").to_lowercase().as_str()) {
        ("find/find", t) if t.contains("produktion") => {
            let mut body = json!({
                "Ident": {"Service": "find", "Method": "find"},
                "Status": {"Code": 0, "Content": "erfolgreich", "Type": "Information"},
                "Cubes": null, "Statistics": null, "Tables": production,
                "Timeseries": null, "Variables": null
            });
            body["Parameter"] = json!({"term": field("term")});
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        ("find/find", _) => {
            let body = json!({
                "Ident": {"Service": "find", "Method": "find"},
                "Status": {"Code": 0, "Content": "erfolgreich", "Type": "Information"},
                "Cubes": null, "Statistics": null, "Tables": null, "Timeseries": null,
                "Variables": null
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        // The tables of statistic 42153; a withdrawn 42153-0001 is no longer among them.
        ("catalogue/tables", _) if field("selection") == "42153*" => {
            let mut tables = vec![
                json!({"Code": "42153-0002",
                    "Content": "Produktionsindex für das Verarbeitende Gewerbe: Deutschland,\nJahre, Wirtschaftszweige",
                    "Time": "2015 bis 2024"}),
                json!({"Code": "42153-0003", "Content": "Produktionsindex: Deutschland, Quartale", "Time": ""}),
            ];
            if !withdrawn {
                tables.insert(0, production[0].clone());
            }
            envelope(endpoint, 0, "erfolgreich", Value::Array(tables))
        }
        ("metadata/table", _) if field("name") == PRODUCTION => {
            production_metadata(&production[0]["Content"])
        }
        ("catalogue/values2variable", _) => {
            let values = match field("name") {
                "DINSG" => json!([entry("DG", "Deutschland")]),
                "WERT03" => json!([
                    entry("WERTORG", "Originalwert"),
                    entry("X13JDKB", "X13 JDemetra+ kalenderbereinigt"),
                    entry("X13JDKSB", "X13 JDemetra+ kalender- und saisonbereinigt")
                ]),
                "WZ08V1" => json!([
                    entry("WZ08-29", "H.v. Kraftwagen und Kraftwagenteilen"),
                    entry("WZ08-B", "Bergbau und Gewinnung von Steinen und Erden"),
                    entry("WZ08-C", "Verarbeitendes Gewerbe")
                ]),
                _ => return Some(no_object(endpoint)),
            };
            envelope(endpoint, 0, "erfolgreich", values)
        }
        _ => return None,
    })
}

/// `metadata/table` of 42153-0001, in the recorded shape (`Structure` with `Head`,
/// `Columns`, `Rows`; the month nested under the year).
fn production_metadata(title: &Value) -> Response {
    let var = |code: &str, content: &str, sub: Value| {
        json!({"Code": code, "Content": content, "Type": "Merkmal", "Values": null,
               "Selected": null, "Functions": null, "Structure": sub, "Updated": "see parent"})
    };
    let body = json!({
        "Ident": {"Service": "metadata", "Method": "table"},
        "Status": {"Code": 0, "Content": "erfolgreich", "Type": "Information"},
        "Object": {
            "Code": PRODUCTION, "Content": title,
            "Time": {"From": "Januar 2015", "To": "März 2025"}, "Valid": "false",
            "Structure": {
                "Head": {"Code": "42153", "Content": "Produktionsindex", "Type": "Statistik",
                         "Structure": [var("PRO101", "Produktionsindex", Value::Null)]},
                "Columns": [var("WERT03", "Original- und bereinigte Daten", Value::Null)],
                "Rows": [var("DINSG", "Deutschland insgesamt", Value::Null),
                         var("JAHR", "Jahr", json!([var("MONAT", "Monate", Value::Null)])),
                         var("WZ08V1", "WZ2008 (2-/3-/4-Steller Hierarchie)", Value::Null)],
                "Subtitel": null, "Subheading": null
            },
            "Updated": "08.05.2025 08:00:12h"
        }
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn no_object(endpoint: &str) -> Response {
    envelope(
        endpoint,
        104,
        "Es gibt keine Objekte zum angegebenen Selektionskriterium",
        Value::Null,
    )
}

async fn handle(
    State(s): State<Arc<Shared>>,
    method: Method,
    UrlPath(endpoint): UrlPath<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return html_page();
    }
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = s.genesis.lock().expect("genesis lock").delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let resp = answer(
        &mut s.genesis.lock().expect("genesis lock"),
        &endpoint,
        uri.query(),
        &headers,
        &form,
    );
    s.in_flight.fetch_sub(1, Ordering::SeqCst);
    resp
}

/// Which credentials a request carries: `Some(true)` the token, `Some(false)` the user
/// account, `None` neither.
fn login(headers: &HeaderMap) -> Option<bool> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    match (h("username"), h("password")) {
        (Some(DESTATIS_TOKEN), Some("")) => Some(true),
        (Some(DESTATIS_USER), Some(DESTATIS_PASSWORD)) => Some(false),
        _ => None,
    }
}

/// One request: counted, then the outage, the login, the findings and the table's state
/// decide before the published table's endpoints answer.
fn answer(
    g: &mut Genesis,
    endpoint: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    form: &BTreeMap<String, String>,
) -> Response {
    record(g, endpoint, query, headers, form);
    if g.html_outage {
        return html_page();
    }
    let Some(token) = login(headers) else {
        // The real service answers a failed login with an envelope and HTTP 200.
        return envelope(
            endpoint,
            15,
            "Ein Fehler ist aufgetreten: Anmeldung fehlgeschlagen (login failed).",
            Value::Null,
        );
    };
    if let Some(answer) = finding(endpoint, form, g.withdrawn) {
        return answer;
    }
    if matches!(g.table, TableMode::Unpublished) {
        return no_object(endpoint);
    }
    if g.withdrawn {
        return withdrawn(endpoint);
    }
    published(g, endpoint, form, token)
}

/// What the tests read back: counts, forms, query strings and credentials seen.
fn record(
    g: &mut Genesis,
    endpoint: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    form: &BTreeMap<String, String>,
) {
    *g.counts.entry(endpoint.to_string()).or_default() += 1;
    g.forms.push((endpoint.to_string(), form.clone()));
    if let Some(q) = query {
        g.queries.push(q.to_string());
    }
    if headers.contains_key("username") || headers.contains_key("password") {
        g.saw_credentials += 1;
    }
}

/// A withdrawn table: its file is gone, everything else knows no such object.
fn withdrawn(endpoint: &str) -> Response {
    match endpoint {
        "data/tablefile" => envelope(
            endpoint,
            90,
            "Die angeforderte Tabelle ist nicht vorhanden.",
            Value::Null,
        ),
        _ => no_object(endpoint),
    }
}

/// The endpoints of the published table: the catalogue, the file and the job's result.
fn published(
    g: &mut Genesis,
    endpoint: &str,
    form: &BTreeMap<String, String>,
    token: bool,
) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    match endpoint {
        "catalogue/cubes" if g.cubes_missing => {
            (StatusCode::NOT_FOUND, "Not Found").into_response()
        }
        "catalogue/cubes" if !g.cubes_empty && field("selection") == "42153*" => envelope(
            endpoint,
            0,
            "erfolgreich",
            json!([
                {"Code": "42153BM001", "Content": "Produktionsindex, Monat",
                 "State": "vollständig mit Werten", "Time": "Januar 2015-März 2025",
                 "LatestUpdate": g.latest_update, "Information": "false"},
                {"Code": "42153BJ001", "Content": "Produktionsindex, Jahr",
                 "State": "vollständig mit Werten", "Time": "2015-2024",
                 "LatestUpdate": "20.02.2025 08:01:12h", "Information": "false"}
            ]),
        ),
        "catalogue/modifieddata" => envelope(
            endpoint,
            0,
            "erfolgreich",
            json!([{"Code": "42153", "Content": "Produktionsindex",
                "Type": "Aktualisierte Statistiken", "Date": "08.05.2025", "Added": "Mär 2025"}]),
        ),
        "data/tablefile" if field("name") == PRODUCTION && field("format") == "ffcsv" => {
            tablefile(g, endpoint, field("job") == "true", token)
        }
        "catalogue/results" if field("selection") == JOB => job_result(g, endpoint),
        "data/resultfile" if field("name") == JOB => match g.table.clone() {
            TableMode::TooBig { zip, .. } => zip_response(zip),
            _ => envelope(endpoint, 90, "nicht gefunden", Value::Null),
        },
        _ => no_object(endpoint),
    }
}

/// The job's entry in `catalogue/results`: not ready for the first `not_ready` asks.
fn job_result(g: &mut Genesis, endpoint: &str) -> Response {
    let not_ready = match &g.table {
        TableMode::TooBig { not_ready, .. } => *not_ready,
        _ => 0,
    };
    g.result_polls += 1;
    if g.result_polls <= not_ready {
        json_response(fixture(
            "catalogue_results_12531-0043_job_status104_not-ready.json",
        ))
    } else {
        envelope(
            endpoint,
            0,
            "erfolgreich",
            json!([{"Code": JOB, "Content": "Produktionsindex", "Values": "412"}]),
        )
    }
}

/// `data/tablefile` for the published table, asked for as a job or not, with the token or
/// a user account.
fn tablefile(g: &Genesis, endpoint: &str, job: bool, token: bool) -> Response {
    match g.table.clone() {
        TableMode::Unpublished => no_object(endpoint),
        TableMode::Zip(z) => zip_response(z),
        TableMode::Raw(ct, b) => (StatusCode::OK, [(header::CONTENT_TYPE, ct)], b).into_response(),
        TableMode::Redirect(to) => {
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
        }
        // Synthetic: no recording of GENESIS refusing a token a job exists; the refusal comes
        // as an error envelope with HTTP 200, as every GENESIS error does.
        TableMode::TooBig { .. } if job && token && g.token_jobs_refused => envelope(
            endpoint,
            -1,
            "Ein Fehler ist aufgetreten: Hintergrundaufträge sind mit einem API-Token \
             nicht möglich.",
            Value::Null,
        ),
        TableMode::TooBig { .. } if job => envelope(
            endpoint,
            99,
            &format!(
                "Der Bearbeitungsauftrag wurde erstellt. Die Tabelle kann in Kürze als \
                 Ergebnis mit folgendem Namen abgerufen werden: {JOB}"
            ),
            Value::Null,
        ),
        TableMode::TooBig { .. } => json_response(fixture(
            "data_tablefile_12531-0043_status98_table-too-big.json",
        )),
    }
}
