#!/usr/bin/env python3
"""A hostile CBS StatLine stand-in for measuring statwatch's memory and time bounds by hand.

    python3 benches/hostile_cbs.py PORT MODE      # MODE: huge (one ~200 MB page) | endless
    /usr/bin/time -v target/debug/statwatch --config CONF poll

`huge` answers TypedDataSet with a single page of about 200 MB (mostly rows of another
branch, as a table without a working $filter would); `endless` answers every page with
10,000 matching rows and a nextLink to the next page, forever. Not used by the tests (they
use tests/common/cbs_server.rs); this is for the numbers in commit messages.

Measured on a debug build (2 shared cores), timeout_secs = 120, default caps:
  huge     before: 1,879,864 kB peak RSS, 15.0 s, stored as "unchanged" with the new stamp
           after:    275,732 kB peak RSS, 10.5 s, FAILED: no rows for the series
  endless  before: 593,268 kB after 60 s and growing, never ends
           after:    297,400 kB after 60 s; ends at 101 s with 677,228 kB peak, FAILED: more
                     than 5000000 rows (every row matches, so the rows are the memory)
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PORT = int(sys.argv[1])
MODE = sys.argv[2]
TABLE = "85806NED"
DIM = "BedrijfstakkenBranchesSBI2008"
MEASURE = "KalendergecorrigeerdeProductie_14"
PERIODS = [f"{y}MM{m:02}" for y in range(2020, 2026) for m in range(1, 13)]


def rows(start, n, branch):
    return [
        {"ID": i, DIM: branch, "Perioden": PERIODS[i % len(PERIODS)], MEASURE: 1.5}
        for i in range(start, start + n)
    ]


HUGE = None
if MODE == "huge":
    # ~110 bytes a row: 1.85 M rows is about 200 MB.
    HUGE = json.dumps({"odata.metadata": "x", "value": rows(0, 1_850_000, "336500")}).encode()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, obj=None, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json;odata=minimalmetadata")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlparse(self.path)
        entity = u.path.rstrip("/").split("/")[-1]
        q = parse_qs(u.query)
        if entity == "TableInfos":
            return self.send({"value": [{"Modified": str(time.time()), "OutputStatus": "Regulier"}]})
        if entity == "DataProperties":
            return self.send({"value": [
                {"Type": "Dimension", "Key": DIM},
                {"Type": "TimeDimension", "Key": "Perioden"},
                {"Type": "Topic", "Key": MEASURE},
            ]})
        if entity == DIM:
            return self.send({"value": [{"Key": "307500", "Title": "C"}, {"Key": "336500", "Title": "x"}]})
        if entity == "Perioden":
            return self.send({"value": [{"Key": p, "Status": "Definitief"} for p in PERIODS]})
        if entity == "TypedDataSet":
            if MODE == "huge":
                return self.send(raw=HUGE)
            skip = int(q.get("$skip", ["0"])[0])
            nxt = f"http://127.0.0.1:{PORT}/ODataApi/odata/{TABLE}/TypedDataSet?$format=json&$skip={skip + 10000}"
            return self.send({"odata.metadata": "x", "value": rows(skip, 10_000, "307500"), "odata.nextLink": nxt})
        self.send_response(404)
        self.end_headers()


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
