//! A local GENESIS-Online REST 2020 service for the tests that replay Destatis releases
//! through the binary (tests/destatis.rs has its own, with every fault and the job flow).
//! It answers as the real one does: POST only (a GET gets an HTML page with HTTP 200),
//! credentials in the `username`/`password` headers, JSON envelopes with HTTP 200 even on
//! errors, the change signal in `catalogue/cubes` (`LatestUpdate`), the table as a zipped
//! ffcsv from `data/tablefile`, and the search and metadata services (`finding`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};

/// The API token the fake accepts (in `username`, with an empty `password`).
pub const DESTATIS_TOKEN: &str = "tok-7f3a9c2e51d84b06";
pub const PRODUCTION: &str = "42153-0001";

/// The constructed 42153-0001 answer of one release (see tests/fixtures/destatis/README.md):
/// `2025-04` the February-release vintage, `2025-05` the March-release one.
pub fn production_release(vintage: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/fixtures/destatis/data_tablefile_42153-0001_de_ffcsv_constructed_{vintage}.zip"
    ));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Default)]
struct Inner {
    /// The cube's `LatestUpdate` (`dd.mm.yyyy hh:mm:ssh`) and the zip `data/tablefile` sends.
    release: Option<(String, Vec<u8>)>,
    /// Endpoint -> requests.
    counts: BTreeMap<String, usize>,
    /// The table is gone: `data/tablefile` answers status 90, the cube is no longer listed.
    withdrawn: bool,
}

pub struct DestatisServer {
    /// `base_url` for the config: `http://127.0.0.1:PORT/genesisWS/rest/2020`.
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DestatisServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DestatisServer {
    pub async fn start() -> DestatisServer {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/genesisWS/rest/2020/{*endpoint}", any(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        DestatisServer {
            base_url: format!("http://{addr}/genesisWS/rest/2020"),
            inner,
            task,
        }
    }

    /// Publishes a release: the cube's new `LatestUpdate` and the table's zip.
    pub fn publish(&self, latest_update: &str, zip: Vec<u8>) {
        self.inner.lock().unwrap().release = Some((latest_update.to_string(), zip));
    }

    /// Withdraws the table (or brings it back): GENESIS then calls it missing.
    pub fn withdraw(&self, gone: bool) {
        self.inner.lock().unwrap().withdrawn = gone;
    }

    /// How often an endpoint (`data/tablefile`, `catalogue/cubes`) was called.
    pub fn count(&self, endpoint: &str) -> usize {
        let inner = self.inner.lock().unwrap();
        inner.counts.get(endpoint).copied().unwrap_or(0)
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
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
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
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    UrlPath(endpoint): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
            "<!DOCTYPE html><html><body>Bitte nutzen Sie POST.</body></html>",
        )
            .into_response();
    }
    let mut inner = inner.lock().unwrap();
    *inner.counts.entry(endpoint.clone()).or_default() += 1;
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if h("username") != Some(DESTATIS_TOKEN) || h("password") != Some("") {
        // The real service answers a failed login with an envelope and HTTP 200.
        return envelope(
            &endpoint,
            15,
            "Ein Fehler ist aufgetreten: Anmeldung fehlgeschlagen (login failed).",
            Value::Null,
        );
    }
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if let Some(answer) = finding(&endpoint, &form, inner.withdrawn) {
        return answer;
    }
    let Some((latest, zip)) = inner.release.clone() else {
        return no_object(&endpoint);
    };
    let withdrawn = inner.withdrawn;
    match endpoint.as_str() {
        "catalogue/cubes" | "data/tablefile" if withdrawn => match endpoint.as_str() {
            "data/tablefile" => envelope(
                &endpoint,
                90,
                "Die angeforderte Tabelle ist nicht vorhanden.",
                Value::Null,
            ),
            _ => no_object(&endpoint),
        },
        "catalogue/cubes" if field("selection") == "42153*" => envelope(
            &endpoint,
            0,
            "erfolgreich",
            json!([{"Code": "42153BM001", "Content": "Produktionsindex, Monat",
                    "State": "vollständig mit Werten", "Time": "Januar 2015-März 2025",
                    "LatestUpdate": latest, "Information": "false"}]),
        ),
        "data/tablefile" if field("name") == PRODUCTION && field("format") == "ffcsv" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/zip")],
            zip,
        )
            .into_response(),
        _ => no_object(&endpoint),
    }
}
