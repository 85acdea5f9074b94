//! A local HTTP server that answers like CBS StatLine OData v3: the JSON envelope,
//! `odata.nextLink` paging with absolute links to the public host (as CBS writes them),
//! `$filter` / `$select` / `$skip`, OData error bodies, and scripted faults (HTTP 500, an
//! HTML outage page with status 200, truncated JSON, connection resets, stalls).
//!
//! It is a raw HTTP/1.1 server on a tokio `TcpListener` so that faults below HTTP (a reset,
//! a body shorter than its Content-Length) can be produced exactly.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::odata_query::{matches_filter, parse_filter, project};

const JSON_TYPE: &str = "application/json;odata=minimalmetadata;streaming=true;charset=utf-8";
const PUBLIC: &str = "https://opendata.cbs.nl/ODataApi/odata";

/// A fault to inject into the next requests for one entity set.
#[derive(Debug, Clone)]
pub enum Fault {
    Status500,
    HtmlOk,
    /// Valid headers, a JSON body cut in half (Content-Length matches what is sent).
    TruncatedJson,
    /// Content-Length promises more than is sent, then the connection closes.
    ShortBody,
    /// The connection is reset before any answer.
    Reset,
    /// No answer for this long.
    Stall(Duration),
    /// An OData error body with this status.
    ODataError(u16, String),
    /// HTTP 302 to this URL (another host, in the tests that use it).
    Redirect(String),
    /// This body, as JSON with status 200 (a hand-made page: odd cells, odd nextLinks).
    Body(String),
}

#[derive(Debug, Clone, Default)]
pub struct FakeTable {
    pub modified: String,
    pub output_status: String,
    /// Dimension name -> its keys, exactly as CBS writes them (possibly space-padded).
    pub dimensions: Vec<(String, Vec<String>)>,
    /// Period key -> status (Voorlopig, NaderVoorlopig, Definitief), in table order.
    pub periods: Vec<(String, String)>,
    pub rows: Vec<Map<String, Value>>,
    /// Trimmed dimension key -> its `Title` (default: the key itself).
    pub titles: HashMap<String, String>,
}

/// What a table's metadata says beyond its data (all optional): the catalogue and
/// `TableInfos` fields a stopped or changed table moves, and the measures' units.
#[derive(Debug, Clone, Default)]
pub struct TableMeta {
    /// `Title` (default `Fake <id>`).
    pub title: Option<String>,
    /// `MetaDataModified` (default: `Modified`).
    pub meta_modified: Option<String>,
    pub description: String,
    pub short_description: String,
    /// Measure -> its `Unit` in `DataProperties` (default `%`).
    pub units: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    tables: HashMap<String, FakeTable>,
    meta: HashMap<String, TableMeta>,
    faults: Vec<(String, Fault, usize)>,
    requests: Vec<String>,
    page_size: usize,
    /// Entity -> how long its answers take (a slow source).
    delays: HashMap<String, Duration>,
    /// TypedDataSet pages always carry a nextLink, past the last row too (a broken server).
    endless: bool,
    /// `ODataCatalog/Tables` answers 404 (a mirror without the catalogue).
    no_catalogue: bool,
    /// Bytes of every answer sent (head and body), faults excepted.
    bytes_sent: usize,
    /// The length of every request's query string, as sent (percent-encoded).
    query_lengths: Vec<usize>,
}

pub struct CbsServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CbsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CbsServer {
    pub async fn start() -> CbsServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            page_size: 10_000,
            ..State::default()
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, st).await;
                });
            }
        });
        CbsServer { addr, state, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_table(&self, id: &str, table: FakeTable) {
        self.state
            .lock()
            .unwrap()
            .tables
            .insert(id.to_string(), table);
    }

    /// The table's title in the catalogue and in `TableInfos`.
    pub fn set_title(&self, id: &str, title: &str) {
        let mut st = self.state.lock().unwrap();
        st.meta.entry(id.to_string()).or_default().title = Some(title.to_string());
    }

    pub fn set_meta(&self, id: &str, meta: TableMeta) {
        self.state.lock().unwrap().meta.insert(id.to_string(), meta);
    }

    pub fn table(&self, id: &str) -> FakeTable {
        self.state.lock().unwrap().tables[id].clone()
    }

    /// Rows per page (CBS uses 10,000).
    pub fn set_page_size(&self, n: usize) {
        self.state.lock().unwrap().page_size = n;
    }

    /// The next `times` requests for `entity` ("TypedDataSet", or "85806NED/TypedDataSet" for
    /// one table only) fail so.
    pub fn fail_next(&self, entity: &str, fault: Fault, times: usize) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push((entity.to_string(), fault, times));
    }

    /// Every answer for `entity` comes this late (the request is recorded on arrival).
    pub fn delay(&self, entity: &str, by: Duration) {
        self.state
            .lock()
            .unwrap()
            .delays
            .insert(entity.to_string(), by);
    }

    /// Every TypedDataSet page links to a next one, forever (empty pages past the end).
    pub fn set_endless(&self, on: bool) {
        self.state.lock().unwrap().endless = on;
    }

    /// Whether `ODataCatalog/Tables` is served (it is unless turned off).
    pub fn set_catalogue(&self, on: bool) {
        self.state.lock().unwrap().no_catalogue = !on;
    }

    /// The raw query string length of every request since the last `clear_requests`.
    pub fn query_lengths(&self) -> Vec<usize> {
        self.state.lock().unwrap().query_lengths.clone()
    }

    /// Bytes sent in answers (head and body) since the last `clear_requests`.
    pub fn bytes_sent(&self) -> usize {
        self.state.lock().unwrap().bytes_sent
    }

    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// Every request seen, as "entity?decoded query".
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn clear_requests(&self) {
        let mut st = self.state.lock().unwrap();
        st.requests.clear();
        st.query_lengths.clear();
        st.bytes_sent = 0;
    }
}

async fn serve(mut sock: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (table, entity) = match segs.as_slice() {
        ["ODataApi", "odata", t, e] => (t.to_string(), e.to_string()),
        ["ODataApi", "odata", t] => (t.to_string(), String::new()),
        ["ODataCatalog", e] => ("ODataCatalog".to_string(), e.to_string()),
        _ => (String::new(), String::new()),
    };
    let fault = {
        let mut st = state.lock().unwrap();
        let decoded: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        st.requests
            .push(format!("{table}/{entity}?{}", decoded.join("&")));
        st.query_lengths.push(query.len());
        let mut fault = None;
        for f in st.faults.iter_mut() {
            if (f.0 == entity || f.0 == format!("{table}/{entity}")) && f.2 > 0 {
                f.2 -= 1;
                fault = Some(f.1.clone());
                break;
            }
        }
        fault
    };
    if let Some(f) = fault {
        return inject(sock, f).await;
    }
    let delay = state.lock().unwrap().delays.get(&entity).copied();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let (status, body) = if table == "ODataCatalog" {
        let st = state.lock().unwrap();
        match st.no_catalogue {
            true => (404, odata_error("Resource 'ODataCatalog' not found.")),
            false => super::cbs_catalogue::answer(&st.tables, &st.meta, &params),
        }
    } else {
        answer(&state, &table, &entity, &params)
    };
    state.lock().unwrap().bytes_sent +=
        response_head(status, JSON_TYPE, body.len()).len() + body.len();
    respond(&mut sock, status, JSON_TYPE, body.as_bytes()).await
}

async fn inject(mut sock: TcpStream, fault: Fault) -> std::io::Result<()> {
    match fault {
        Fault::Status500 => respond(&mut sock, 500, "text/plain", b"Internal Server Error").await,
        Fault::HtmlOk => {
            let page = "<!DOCTYPE html><html><head><title>CBS - Onderhoud</title></head><body>StatLine is tijdelijk niet beschikbaar wegens onderhoud.</body></html>";
            respond(&mut sock, 200, "text/html; charset=utf-8", page.as_bytes()).await
        }
        Fault::TruncatedJson => {
            let body = br#"{"odata.metadata":"https://opendata.cbs.nl/ODataApi/odata/85806NED/$metadata#Cbs.OData.WebAPI.TypedDataSet","value":[{"BedrijfstakkenBranchesSBI2008":"307500","Perioden":"2024MM01","KalendergecorrigeerdeProductie_14":-5.1},{"Bedrijfs"#;
            respond(&mut sock, 200, JSON_TYPE, body).await
        }
        Fault::ShortBody => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {JSON_TYPE}\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n"
            );
            sock.write_all(head.as_bytes()).await?;
            sock.write_all(br#"{"odata.metadata":"x","value":[{"Perioden":"2024MM01""#)
                .await?;
            sock.flush().await?;
            Ok(())
        }
        Fault::Reset => {
            // SO_LINGER 0 makes close() send RST instead of FIN.
            sock.set_zero_linger()?;
            drop(sock);
            Ok(())
        }
        Fault::Stall(d) => {
            tokio::time::sleep(d).await;
            respond(&mut sock, 500, "text/plain", b"late").await
        }
        Fault::ODataError(status, body) => {
            respond(&mut sock, status, JSON_TYPE, body.as_bytes()).await
        }
        Fault::Redirect(to) => {
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            sock.write_all(head.as_bytes()).await?;
            sock.flush().await?;
            sock.shutdown().await
        }
        Fault::Body(body) => respond(&mut sock, 200, JSON_TYPE, body.as_bytes()).await,
    }
}

fn response_head(status: u16, ct: &str, len: usize) -> String {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ct}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    )
}

async fn respond(sock: &mut TcpStream, status: u16, ct: &str, body: &[u8]) -> std::io::Result<()> {
    sock.write_all(response_head(status, ct, body.len()).as_bytes())
        .await?;
    sock.write_all(body).await?;
    sock.flush().await?;
    sock.shutdown().await
}

pub fn odata_error(message: &str) -> String {
    json!({"odata.error": {"code": "", "message": {"lang": "en-US", "value": message}}}).to_string()
}

fn envelope(table: &str, entity: &str, value: Vec<Value>, next: Option<String>) -> String {
    let mut env = json!({
        "odata.metadata": format!("{PUBLIC}/{table}/$metadata#Cbs.OData.WebAPI.{entity}"),
        "value": value,
    });
    if let Some(n) = next {
        env["odata.nextLink"] = Value::String(n);
    }
    env.to_string()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// One entity of one table: a dispatch over the entity handlers below.
fn answer(
    state: &Mutex<State>,
    table: &str,
    entity: &str,
    params: &[(String, String)],
) -> (u16, String) {
    let st = state.lock().unwrap();
    let Some(t) = st.tables.get(table) else {
        return (404, odata_error(&format!("Table '{table}' not found.")));
    };
    let meta = st.meta.get(table).cloned().unwrap_or_default();
    match entity {
        "TableInfos" => table_infos(table, t, &meta),
        "DataProperties" => data_properties(table, t, &meta),
        "Perioden" => perioden(table, t),
        "TypedDataSet" => typed_data_set(&st, table, t, params),
        dim => dimension(table, t, dim),
    }
}

fn table_infos(table: &str, t: &FakeTable, meta: &TableMeta) -> (u16, String) {
    let title = meta
        .title
        .clone()
        .unwrap_or_else(|| format!("Fake {table}"));
    let info = json!({
        "ID": 0, "Title": title, "ShortTitle": title, "Period": "2020-2026",
        "Identifier": table, "Modified": t.modified, "ReasonDelivery": "Actualisering",
        "Frequency": "Permaand", "OutputStatus": t.output_status, "Language": "nl", "Catalog": "CBS",
        "MetaDataModified": meta.meta_modified.as_ref().unwrap_or(&t.modified),
        "Description": meta.description, "ShortDescription": meta.short_description,
    });
    (200, envelope(table, "TableInfos", vec![info], None))
}

/// The dimensions, the time dimension, one topic group and a topic per measure (the
/// columns of the first row that are neither `ID`, `Perioden` nor a dimension).
fn data_properties(table: &str, t: &FakeTable, meta: &TableMeta) -> (u16, String) {
    let mut value = Vec::new();
    for (i, (d, _)) in t.dimensions.iter().enumerate() {
        value.push(json!({"odata.type": "Cbs.OData.Dimension", "ID": i, "Type": "Dimension", "Key": d, "Title": d}));
    }
    value.push(json!({"odata.type": "Cbs.OData.TimeDimension", "ID": value.len(), "Type": "TimeDimension", "Key": "Perioden", "Title": "Perioden"}));
    value.push(json!({"odata.type": "Cbs.OData.TopicGroup", "ID": value.len(), "Type": "TopicGroup", "Key": "", "Title": "Indexcijfers"}));
    let skip =
        |k: &String| k == "ID" || k == "Perioden" || t.dimensions.iter().any(|(d, _)| d == k);
    for k in t
        .rows
        .first()
        .map(|r| r.keys().filter(|k| !skip(k)).cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let unit = meta.units.get(&k).map_or("%", String::as_str);
        value.push(json!({"odata.type": "Cbs.OData.Topic", "ID": value.len(), "Type": "Topic", "Key": k, "Title": k, "Unit": unit, "Decimals": 1, "Datatype": "Double"}));
    }
    (200, envelope(table, "DataProperties", value, None))
}

fn perioden(table: &str, t: &FakeTable) -> (u16, String) {
    let value = t
        .periods
        .iter()
        .map(|(k, s)| json!({"Key": k, "Title": k.trim(), "Description": "", "Status": s}))
        .collect();
    (200, envelope(table, "Perioden", value, None))
}

/// The rows `$filter` selects, one page from `$skip`, projected on `$select` (400 for a
/// column the table does not have), with a nextLink while rows remain (always, if endless).
fn typed_data_set(
    st: &State,
    table: &str,
    t: &FakeTable,
    params: &[(String, String)],
) -> (u16, String) {
    let select: Option<Vec<String>> =
        param(params, "$select").map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    if let Some(sel) = &select {
        if let Some(bad) = sel
            .iter()
            .find(|c| !t.rows.first().is_some_and(|r| r.contains_key(*c)))
        {
            return (
                400,
                odata_error(&format!("Could not find a property named '{bad}' on type 'Cbs.OData.WebAPI.TypedDataSet'.")),
            );
        }
    }
    let filter = parse_filter(param(params, "$filter").unwrap_or(""));
    let matching: Vec<&Map<String, Value>> = t
        .rows
        .iter()
        .filter(|r| matches_filter(r, &filter))
        .collect();
    let skip: usize = param(params, "$skip")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(st.page_size)
        .map(|r| project(r, select.as_deref()))
        .collect();
    let next = (st.endless || skip + st.page_size < matching.len()).then(|| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("$format", "json");
        for (k, v) in params {
            if k != "$skip" && k != "$format" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("$skip", &(skip + st.page_size).to_string());
        format!("{PUBLIC}/{table}/TypedDataSet?{}", q.finish())
    });
    (200, envelope(table, "TypedDataSet", page, next))
}

/// A dimension's keys with their titles, or 404 for an entity the table does not have.
fn dimension(table: &str, t: &FakeTable, dim: &str) -> (u16, String) {
    match t.dimensions.iter().find(|(d, _)| d == dim) {
        Some((_, keys)) => {
            let value = keys
                .iter()
                .map(|k| {
                    let title = t.titles.get(k.trim()).map_or(k.trim(), String::as_str);
                    json!({"Key": k, "Title": title})
                })
                .collect();
            (200, envelope(table, dim, value, None))
        }
        None => (
            404,
            odata_error(&format!("Resource '{dim}' not found for table '{table}'.")),
        ),
    }
}
