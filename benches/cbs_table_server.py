#!/usr/bin/env python3
"""A local CBS StatLine (OData v3) serving one generated 2-million-cell table, for
benches/vs_cbsodata.sh: 834 regions x 20 measures x 120 months.

The table is generated deterministically (a seeded PRNG) and its pages are rendered to bytes
once, before the port is announced, so serving costs a socket write and the clients'
numbers are their own. It answers both paths the clients use:

- `/ODataApi/odata/{table}/...` (statwatch): TableInfos, DataProperties, RegioS, Perioden,
  TypedDataSet paged at 10,000 rows by `$skip`, with absolute `odata.nextLink`s to the
  public host as CBS writes them (statwatch re-bases them onto its base_url).
- `/ODataFeed/odata/{table}/...` (cbsodata): the service document listing the entity sets,
  then the same sets; its nextLinks point at this server, since cbsodata follows them as
  given.
- `/ODataCatalog/Tables`: one entry for the table (statwatch's cheap check).

`$filter` and `$select` are not applied: every period lies within the clients' history, and
the statwatch group selects every column but `ID`, so the bytes sent are those CBS would send
(bar `ID`). Usage: cbs_table_server.py [--port N]; prints "PORT <n> CELLS <non-null cells>"
when ready.
"""

import argparse
import json
import random
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TABLE = "80000NED"
PAGE_ROWS = 10_000
JSON_TYPE = "application/json;odata=minimalmetadata;streaming=true;charset=utf-8"
PUBLIC = "https://opendata.cbs.nl"
MONTHS = [
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
]


def regions():
    """834 keys, space-padded to 10 characters as CBS writes them."""
    keys = [("NL01", "Nederland")]
    keys += [(f"PV{20 + i}", f"Provincie {i + 1}") for i in range(12)]
    keys += [(f"GM{i:04d}", f"Gemeente {i}") for i in range(1, 822)]
    assert len(keys) == 834
    return [(k.ljust(10), t) for k, t in keys]


def periods():
    return [(f"{y}MM{m:02d}", f"{y} {MONTHS[m - 1]}") for y in range(2016, 2026) for m in range(1, 13)]


def measures():
    return [f"Kenmerk{i}_{i}" for i in range(1, 21)]


def envelope(meta, rows, next_link=None):
    body = {"odata.metadata": meta, "value": rows}
    if next_link:
        body["odata.nextLink"] = next_link
    return json.dumps(body, separators=(",", ":")).encode()


def build(port):
    """Every answer, as bytes, keyed by (api, entity, skip)."""
    rng = random.Random(20250630)
    regs, pers, meas = regions(), periods(), measures()
    local = f"http://127.0.0.1:{port}"
    answers = {}
    info = [{
        "ID": 0, "Title": "Generated bench table; regions, months", "ShortTitle": "Bench",
        "Identifier": TABLE, "Summary": "", "Modified": "2025-06-30T06:30:00",
        "MetaDataModified": "2025-06-30T06:30:00", "ReasonDelivery": "Actualisering",
        "ExplanatoryText": "", "OutputStatus": "Regulier", "Source": "CBS.",
        "Language": "nl", "Catalog": "CBS", "Frequency": "Perioden", "Period": "2016-2025",
        "ShortDescription": "", "DefaultPresentation": "", "DefaultSelection": "",
        "GraphTypes": "", "RecordCount": len(regs) * len(pers), "ColumnCount": 23,
        "SearchPriority": "2",
    }]
    props = [
        {"ID": 0, "Position": None, "ParentID": None, "Type": "GeoDimension", "Key": "RegioS",
         "Title": "Regio's", "Description": "", "Kind": None, "MapYear": "2025",
         "ReleasePolicy": True},
        {"ID": 1, "Position": None, "ParentID": None, "Type": "TimeDimension",
         "Key": "Perioden", "Title": "Perioden", "Description": "", "ReleasePolicy": True},
    ]
    props += [
        {"ID": 2 + i, "Position": i + 1, "ParentID": None, "Type": "Topic", "Key": m,
         "Title": f"Kenmerk {i + 1}", "Description": "", "Datatype": "Double",
         "Unit": "aantal", "Decimals": 1, "Default": "Impossible"}
        for i, m in enumerate(meas)
    ]
    regio = [{"Key": k, "Title": t, "Description": "", "CategoryGroupID": None} for k, t in regs]
    per = [
        {"Key": k, "Title": t, "Description": "",
         "Status": "Voorlopig" if k.startswith("2025") else "Definitief"}
        for k, t in pers
    ]
    rows = []
    cells = 0
    for r, (rk, _) in enumerate(regs):
        for pk, _ in pers:
            row = {"ID": len(rows), "RegioS": rk, "Perioden": pk}
            for m in meas:
                # One cell in a hundred not published (null), as CBS tables have some.
                if rng.random() < 0.01:
                    row[m] = None
                else:
                    row[m] = round(rng.uniform(0, 100_000), 1)
                    cells += 1
            rows.append(row)
    sets = {"TableInfos": info, "DataProperties": props, "CategoryGroups": [],
            "RegioS": regio, "Perioden": per}
    for api, host in (("ODataApi", PUBLIC), ("ODataFeed", local)):
        base = f"{host}/{api}/odata/{TABLE}"
        for name, value in sets.items():
            answers[(api, name, 0)] = envelope(f"{base}/$metadata#Cbs.OData.WebAPI.{name}", value)
        for skip in range(0, len(rows), PAGE_ROWS):
            nxt = skip + PAGE_ROWS
            link = f"{base}/TypedDataSet?$format=json&$skip={nxt}" if nxt < len(rows) else None
            answers[(api, "TypedDataSet", skip)] = envelope(
                f"{base}/$metadata#Cbs.OData.WebAPI.TypedDataSet", rows[skip:nxt], link)
        doc = [{"name": n, "url": f"{local}/{api}/odata/{TABLE}/{n}"}
               for n in ["TableInfos", "UntypedDataSet", "TypedDataSet", "DataProperties",
                         "CategoryGroups", "RegioS", "Perioden"]]
        answers[(api, "", 0)] = envelope(f"{base}/$metadata", doc)
    answers[("ODataCatalog", "Tables", 0)] = envelope(
        f"{PUBLIC}/ODataCatalog/$metadata#Tables",
        [{k: info[0][k] for k in ("Identifier", "Modified", "OutputStatus")}])
    return answers, cells


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answers = {}

    def do_GET(self):
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        skip = int(query.get("$skip", ["0"])[0])
        key = None
        if parts[:1] == ["ODataCatalog"] and parts[1:] == ["Tables"]:
            key = ("ODataCatalog", "Tables", 0)
        elif len(parts) >= 3 and parts[1] == "odata" and parts[2] == TABLE:
            key = (parts[0], parts[3] if len(parts) > 3 else "", skip)
        body = self.answers.get(key)
        if body is None:
            body = b'{"odata.error":{"code":"","message":{"lang":"en-US","value":"not found"}}}'
            self.send_response(404)
        else:
            self.send_response(200)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]
    Handler.answers, cells = build(port)
    print(f"PORT {port} CELLS {cells}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
