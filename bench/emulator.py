"""Benchmark: emulator throughput (requests/s), sequential, one client.

Three paths to the same core (SQLite file): Emulator.handle() called directly, httpx through the
in-process EmulatorTransport (what `local` and the tests use), and httpx over a socket to the HTTP
server (`lagosync emulator serve`, ThreadingHTTPServer, keep-alive). Per path: writes (POST
/customers, each a new customer) and list pages (GET /customers, 100 per page, over the customers
written).

    .venv/bin/python bench/emulator.py [--quick] [--writes 2000] [--pages 500]
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import httpx
from _common import machine, parser, table

from lagosync.client.connect import LOCAL_API_KEY
from lagosync.emulator import Emulator, EmulatorTransport
from lagosync.emulator.server import start_in_thread

HEADERS = {"Authorization": f"Bearer {LOCAL_API_KEY}", "Content-Type": "application/json"}


def customer(tag: str, i: int) -> bytes:
    return json.dumps({"customer": {"external_id": f"bench_{tag}_{i:06d}", "name": f"Bench {i}",
                                    "currency": "USD"}}).encode()


def run_core(emulator: Emulator, writes: int, pages: int) -> tuple[float, float]:
    start = time.perf_counter()
    for i in range(writes):
        r = emulator.handle("POST", "/api/v1/customers", [], HEADERS, customer("core", i))
        assert r.status == 200, r.body
    w = writes / (time.perf_counter() - start)
    total_pages = max(1, emulator.handle("GET", "/api/v1/customers", [("per_page", "100")], HEADERS).json()
                      ["meta"]["total_pages"])
    start = time.perf_counter()
    for i in range(pages):
        query = [("page", str(i % total_pages + 1)), ("per_page", "100")]
        r = emulator.handle("GET", "/api/v1/customers", query, HEADERS)
        assert r.status == 200
    return w, pages / (time.perf_counter() - start)


def run_httpx(client: httpx.Client, tag: str, writes: int, pages: int) -> tuple[float, float]:
    start = time.perf_counter()
    for i in range(writes):
        r = client.post("/api/v1/customers", content=customer(tag, i))
        assert r.status_code == 200, r.text
    w = writes / (time.perf_counter() - start)
    total_pages = max(1, client.get("/api/v1/customers", params={"per_page": 100}).json()["meta"]["total_pages"])
    start = time.perf_counter()
    for i in range(pages):
        r = client.get("/api/v1/customers", params={"page": i % total_pages + 1, "per_page": 100})
        assert r.status_code == 200
    return w, pages / (time.perf_counter() - start)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--writes", type=int, default=2000)
    p.add_argument("--pages", type=int, default=500)
    args = p.parse_args()
    writes, pages = (20, 10) if args.quick else (args.writes, args.pages)
    rows = []
    with tempfile.TemporaryDirectory(prefix="lagosync-bench-") as tmp:
        emulator = Emulator(db_path=str(Path(tmp) / "core.db"), api_key=LOCAL_API_KEY)
        rows.append(["Emulator.handle()", *run_core(emulator, writes, pages)])

        emulator = Emulator(db_path=str(Path(tmp) / "transport.db"), api_key=LOCAL_API_KEY)
        with httpx.Client(transport=EmulatorTransport(emulator), base_url="http://lago.local",
                          headers=HEADERS) as client:
            rows.append(["httpx, in-process transport", *run_httpx(client, "transport", writes, pages)])

        for label, nodelay in (("httpx, HTTP server (socket)", True),):
            server, thread = start_in_thread(host="127.0.0.1", port=0, db=str(Path(tmp) / f"http{nodelay}.db"),
                                             api_key=LOCAL_API_KEY)
            try:
                host, port = server.server_address[:2]
                with httpx.Client(base_url=f"http://{host}:{port}", headers=HEADERS) as client:
                    rows.append([label, *run_httpx(client, f"http{nodelay}", writes, pages)])
            finally:
                server.shutdown()
                server.server_close()
                thread.join(timeout=5)
    print(table(f"emulator throughput, {writes:,} writes then {pages:,} list pages of 100 ({machine()})",
                ["path", "writes/s", "list pages/s"], rows))


if __name__ == "__main__":
    main()
