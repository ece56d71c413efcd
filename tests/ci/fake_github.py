"""A fake of the few GitHub REST endpoints lagosync's CI helpers use.

Used in-process through ``httpx.MockTransport(fake.handle)`` and, for the workflow runs where
``lagosync`` is a subprocess, behind a small HTTP server (``serve()``) via GITHUB_API_URL.
Pagination follows GitHub: ``per_page``/``page`` and a ``Link: <...>; rel="next"`` header.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import httpx

TOKEN = "ghs_fake_token_123"


class FakeGitHub:
    def __init__(self, repo: str = "acme/billing", token: str = TOKEN, page_size_cap: int = 100):
        self.repo = repo
        self.token = token
        self.page_size_cap = page_size_cap  # tests lower it to exercise pagination
        self.base = "https://api.github.com"
        self.requests: list[tuple[str, str]] = []
        self.comments: dict[int, list[dict]] = {}       # issue/PR number -> comments
        self.issue_labels: dict[int, list[str]] = {}
        self.repo_labels: dict[str, dict] = {}
        self.issues: dict[int, dict] = {}
        self.pulls_by_commit: dict[str, list[dict]] = {}
        self.artifacts: list[dict] = []
        self.artifact_zips: dict[int, bytes] = {}
        self._next_id = 1000
        self._lock = threading.Lock()

    # ---- helpers for tests
    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_artifact(self, name: str, files: dict[str, bytes], head_sha: str, created_at: str,
                     expired: bool = False) -> int:
        aid = self.new_id()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for fname, data in files.items():
                zf.writestr(fname, data)
        self.artifacts.append({"id": aid, "name": name, "expired": expired, "created_at": created_at,
                               "workflow_run": {"id": self.new_id(), "head_sha": head_sha}})
        self.artifact_zips[aid] = buf.getvalue()
        return aid

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    # ---- transport
    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            return self._handle(request)

    def _json(self, status: int, data, headers: dict | None = None) -> httpx.Response:
        return httpx.Response(status, json=data, headers=headers or {})

    def _page(self, request: httpx.Request, items: list) -> httpx.Response:
        q = request.url.params
        per = min(int(q.get("per_page", 30)), self.page_size_cap)
        page = int(q.get("page", 1))
        chunk = items[(page - 1) * per: page * per]
        headers = {}
        if page * per < len(items):
            nxt = request.url.copy_set_param("page", str(page + 1)).copy_set_param("per_page", str(per))
            headers["Link"] = f'<{nxt}>; rel="next"'
        return self._json(200, chunk, headers)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, unquote(request.url.path)
        self.requests.append((method, path))
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self._json(401, {"message": "Bad credentials"})
        prefix = f"/repos/{self.repo}"
        if not path.startswith(prefix):
            return self._json(404, {"message": "Not Found"})
        rest = path[len(prefix):].strip("/").split("/")
        body = json.loads(request.content) if request.content else None

        if rest[0] == "issues" and len(rest) == 3 and rest[2] == "comments":
            n = int(rest[1])
            if method == "GET":
                return self._page(request, self.comments.get(n, []))
            c = {"id": self.new_id(), "body": body["body"], "user": {"login": "github-actions[bot]"}}
            self.comments.setdefault(n, []).append(c)
            return self._json(201, c)
        if rest[:2] == ["issues", "comments"] and method == "PATCH":
            cid = int(rest[2])
            for cs in self.comments.values():
                for c in cs:
                    if c["id"] == cid:
                        c["body"] = body["body"]
                        return self._json(200, c)
            return self._json(404, {"message": "Not Found"})
        if rest[0] == "issues" and len(rest) >= 3 and rest[2] == "labels":
            n = int(rest[1])
            cur = self.issue_labels.setdefault(n, [])
            if method == "GET":
                return self._page(request, [{"name": x} for x in cur])
            if method == "POST":
                for name in body["labels"]:
                    self.repo_labels.setdefault(name, {"name": name, "color": "ededed"})
                    if name not in cur:
                        cur.append(name)
                return self._json(200, [{"name": x} for x in cur])
            if method == "DELETE":
                name = rest[3]
                if name not in cur:
                    return self._json(404, {"message": "Label does not exist"})
                cur.remove(name)
                return self._json(200, [{"name": x} for x in cur])
        if rest == ["labels"]:
            if method == "GET":
                return self._page(request, list(self.repo_labels.values()))
            if body["name"] in self.repo_labels:
                return self._json(422, {"message": "Validation Failed"})
            self.repo_labels[body["name"]] = dict(body)
            return self._json(201, body)
        if rest == ["issues"]:
            if method == "GET":
                q = request.url.params
                items = [i for i in self.issues.values()
                         if i["state"] == q.get("state", "open")
                         and all(lbl in i["labels"] for lbl in (q.get("labels") or "").split(",") if lbl)]
                out = [{**i, "labels": [{"name": x} for x in i["labels"]]} for i in items]
                return self._page(request, out)
            n = max([0, *self.issues, *self.comments]) + 1
            for name in body.get("labels", []):
                self.repo_labels.setdefault(name, {"name": name})
            self.issues[n] = {"number": n, "title": body["title"], "body": body["body"], "state": "open",
                              "labels": list(body.get("labels", []))}
            return self._json(201, self.issues[n])
        if rest[0] == "issues" and len(rest) == 2 and method == "PATCH":
            issue = self.issues[int(rest[1])]
            for k in ("title", "body", "state", "state_reason"):
                if k in body:
                    issue[k] = body[k]
            return self._json(200, issue)
        if rest[0] == "commits" and len(rest) == 3 and rest[2] == "pulls":
            return self._json(200, self.pulls_by_commit.get(rest[1], []))
        if rest[:2] == ["actions", "artifacts"]:
            if len(rest) == 2:
                name = request.url.params.get("name")
                arts = [a for a in self.artifacts if not name or a["name"] == name]
                page = self._page(request, arts)
                return httpx.Response(200, json={"total_count": len(arts), "artifacts": json.loads(page.content)},
                                      headers=dict(page.headers))
            if len(rest) == 4 and rest[3] == "zip":
                aid = int(rest[2])
                if aid not in self.artifact_zips:
                    return self._json(404, {"message": "Not Found"})
                # GitHub answers with a redirect to blob storage
                return httpx.Response(302, headers={"Location": f"https://blob.example/artifact/{aid}.zip"})
        return self._json(404, {"message": f"fake: no route {method} {path}"})

    def blob_or_api(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "blob.example":
            aid = int(request.url.path.rsplit("/", 1)[1].split(".")[0])
            self.requests.append((request.method, "blob:" + request.url.path))
            return httpx.Response(200, content=self.artifact_zips[aid])
        return self.handle(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.blob_or_api)

    # ---- HTTP server (for subprocess runs)
    def serve(self) -> tuple[str, ThreadingHTTPServer]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _do(self):
                length = int(self.headers.get("Content-Length") or 0)
                content = self.rfile.read(length) if length else b""
                host = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
                url = host + self.path
                req = httpx.Request(self.command, url, headers=dict(self.headers), content=content)
                if urlsplit(url).path.startswith("/blob/"):
                    aid = int(urlsplit(url).path.rsplit("/", 1)[1].split(".")[0])
                    resp = httpx.Response(200, content=fake.artifact_zips[aid])
                else:
                    resp = fake.handle(req)
                    if resp.status_code == 302:
                        aid = resp.headers["Location"].rsplit("/", 1)[1]
                        resp = httpx.Response(302, headers={"Location": f"{host}/blob/{aid}"})
                data = resp.content
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _do

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        host, port = server.server_address[:2]
        return f"http://{host}:{port}", server
