#!/usr/bin/env python3
"""A local CBS StatLine (OData v3) serving one table whose single dimension has N keys, for
benches/flood.sh: a whole-table group of N series, then a release that adds a period to every
one of them (N `release` alerts in one poll).

Table `FLOOD` has one dimension `RegioS` (keys `K000000`..), one measure `Waarde_1` and
monthly periods. It starts with BASE months; `GET /_release` adds one month and moves the
table's `Modified` stamp (catalogue and TableInfos), so the next poll sees a release. Pages of
TypedDataSet are rendered to bytes once per state, before the answer to `/_release`, so
serving costs a socket write. `POST` to any path is a webhook sink that remembers the largest
body (`GET /_largest`: bytes and number of POSTs). `$filter` and `$select` are not applied (every period lies
within the client's history).

Usage: flood_cbs.py KEYS [--base 3] [--port N]; prints "PORT <n>" when ready.
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TABLE = "FLOOD"
PAGE_ROWS = 10_000
JSON_TYPE = "application/json;odata=minimalmetadata;streaming=true;charset=utf-8"
PUBLIC = "https://opendata.cbs.nl"
MEASURE = "Waarde_1"


def envelope(meta, rows, next_link=None):
    body = {"odata.metadata": meta, "value": rows}
    if next_link:
        body["odata.nextLink"] = next_link
    return json.dumps(body, separators=(",", ":")).encode()


def months(n):
    """n months from 2026MM01 on (a release adds the next one)."""
    out = []
    y, m = 2026, 1
    for _ in range(n):
        out.append(f"{y}MM{m:02d}")
        y, m = (y, m + 1) if m < 12 else (y + 1, 1)
    return out


def build(keys, periods, stamp):
    """Every answer, as bytes, keyed by (api, entity, skip)."""
    base = f"{PUBLIC}/ODataApi/odata/{TABLE}"
    info = [{"ID": 0, "Title": "Flood bench table", "ShortTitle": "Flood", "Identifier": TABLE,
             "Summary": "", "Modified": stamp, "MetaDataModified": stamp,
             "ReasonDelivery": "Actualisering", "OutputStatus": "Regulier", "Source": "CBS.",
             "Language": "nl", "Catalog": "CBS", "Frequency": "Perioden",
             "RecordCount": len(keys) * len(periods), "ColumnCount": 4}]
    props = [
        {"ID": 0, "Position": None, "ParentID": None, "Type": "GeoDimension", "Key": "RegioS",
         "Title": "Regio's", "Description": ""},
        {"ID": 1, "Position": None, "ParentID": None, "Type": "TimeDimension",
         "Key": "Perioden", "Title": "Perioden", "Description": ""},
        {"ID": 2, "Position": 1, "ParentID": None, "Type": "Topic", "Key": MEASURE,
         "Title": "Waarde", "Description": "", "Datatype": "Double", "Unit": "aantal",
         "Decimals": 1, "Default": "Impossible"},
    ]
    regio = [{"Key": k, "Title": f"Regio {i}", "Description": "", "CategoryGroupID": None}
             for i, k in enumerate(keys)]
    per = [{"Key": p, "Title": p, "Description": "", "Status": "Voorlopig"} for p in periods]
    answers = {}
    for name, value in (("TableInfos", info), ("DataProperties", props),
                        ("CategoryGroups", []), ("RegioS", regio), ("Perioden", per)):
        answers[("ODataApi", name, 0)] = envelope(f"{base}/$metadata#Cbs.OData.WebAPI.{name}", value)
    total = len(keys) * len(periods)
    for skip in range(0, total, PAGE_ROWS):
        rows = []
        for n in range(skip, min(total, skip + PAGE_ROWS)):
            k, p = divmod(n, len(periods))
            rows.append({"ID": n, "RegioS": keys[k], "Perioden": periods[p],
                         MEASURE: float((k * 7 + p * 13) % 1000) / 10})
        nxt = skip + PAGE_ROWS
        link = f"{base}/TypedDataSet?$format=json&$skip={nxt}" if nxt < total else None
        answers[("ODataApi", "TypedDataSet", skip)] = envelope(
            f"{base}/$metadata#Cbs.OData.WebAPI.TypedDataSet", rows, link)
    answers[("ODataCatalog", "Tables", 0)] = envelope(
        f"{PUBLIC}/ODataCatalog/$metadata#Tables",
        [{"Identifier": TABLE, "Modified": stamp, "OutputStatus": "Regulier"}])
    return answers


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answers = {}
    keys = []
    periods = 0
    largest = 0
    posts = 0

    def do_GET(self):
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts == ["_release"]:
            cls = type(self)
            cls.periods += 1
            cls.answers = build(cls.keys, months(cls.periods), f"2026-12-{cls.periods:02d}T06:30:00")
            body = f"periods {cls.periods}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if parts == ["_largest"]:
            body = f"{type(self).largest} {type(self).posts}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        skip = int(parse_qs(url.query).get("$skip", ["0"])[0])
        key = None
        if parts == ["ODataCatalog", "Tables"]:
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

    def do_POST(self):
        """A webhook sink: takes any body, remembers the largest (`GET /_largest`)."""
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        cls = type(self)
        cls.largest = max(cls.largest, len(body))
        cls.posts += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("keys", type=int)
    ap.add_argument("--base", type=int, default=3)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    Handler.keys = [f"K{i:06d}" for i in range(args.keys)]
    Handler.periods = args.base
    Handler.answers = build(Handler.keys, months(args.base), "2026-12-01T06:30:00")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
