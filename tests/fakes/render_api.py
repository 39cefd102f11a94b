"""A loopback Render REST API: the endpoints `up` calls, as the real API documents them.

render-oss/cli @ 85c8c2c pkg/client (generated from Render's OpenAPI): ``GET /v1/services``
(filters ``name``, ``ownerId``; cursor pagination, ``[{"service": {...}, "cursor": c}]``),
``GET /v1/services/{id}/env-vars`` (``[{"envVar": {"key", "value"}, "cursor": c}]``) and
``PUT /v1/services/{id}/env-vars/{key}`` with body ``{"value": "..."}`` (UpdateEnvVar, an
"add or update"). Every request needs ``Authorization: Bearer <key>``. It serves the same
state.json as the fake `render` CLI, so `render services` and the API agree; a variable's
value is kept only as a digest. Each request is recorded (method, path, query, the body's
keys) in ``requests`` for the tests.

    server = RenderAPI(fakes.home)          # or the `render_api` fixture
    env = {"RENDER_HOST": server.url}       # what the CLI and `up` read
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from fakes import store
from fakes.platforms import digest

KEY = "rnd_fake"  # fakes.TOKENS["RENDER_API_KEY"]


class RenderAPI:
    def __init__(self, home: Path, key: str = KEY):
        self.home = home
        self.key = key
        self.requests: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                api.handle(self, "GET")

            def do_PUT(self):
                api.handle(self, "PUT")

            def do_POST(self):
                api.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- requests ---

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urlparse(request.path)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        record = {"method": method, "path": parsed.path, "query": query, "body_keys": None}
        self.requests.append(record)
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return self.answer(request, 401, {"id": "unauthorized", "message": "unauthorized"})
        parts = parsed.path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            return self.answer(request, 404, {"message": "not found"})
        parts = parts[1:]
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return self.answer(request, 400, {"message": "invalid JSON"})
        if isinstance(data, dict):
            record["body_keys"] = sorted(data)
        if method == "GET" and parts == ["services"]:
            return self.answer(request, 200, self.list_services(query))
        if len(parts) >= 3 and parts[0] == "services" and parts[2] in ("deploys", "rollback"):
            return self.deploys(request, method, parts, query, data)
        if len(parts) >= 3 and parts[0] == "services" and parts[2] == "env-vars":
            with store.state(self.home) as state:
                service = state.get("render", {}).get("services", {}).get(parts[1])
                if service is None:
                    return self.answer(request, 404, {"id": "not_found", "message": "service not found"})
                env = service.setdefault("env_vars", {})
                if method == "GET" and len(parts) == 3:
                    return self.answer(request, 200, self.page(
                        [{"envVar": {"key": k, "value": f"sha256:{v}"}, "cursor": k} for k, v in sorted(env.items())],
                        query))
                if method == "PUT" and len(parts) == 4:
                    if not isinstance(data, dict) or not isinstance(data.get("value"), str):
                        return self.answer(request, 400, {"message": "value is required"})
                    env[parts[3]] = digest(data["value"])
                    return self.answer(request, 200, {"key": parts[3], "value": data["value"]})
        return self.answer(request, 404, {"message": f"no route for {method} {parsed.path}"})

    def deploys(self, request, method: str, parts: list[str], query: dict, data) -> None:
        """ListDeploys (newest first), RetrieveDeploy, and RollbackDeploy: a new deploy of that
        deploy's commit, live at once, the one live before deactivated (as the CLI's deploys are)."""
        from fakes.platforms.render import new_deploy

        with store.state(self.home) as state:
            service = state.get("render", {}).get("services", {}).get(parts[1])
            if service is None:
                return self.answer(request, 404, {"id": "not_found", "message": "service not found"})
            deploys = service.setdefault("deploys", [])
            if method == "GET" and parts[2:] == ["deploys"]:
                rows = [{"deploy": self.shown(d), "cursor": d["id"]} for d in reversed(deploys)]
                return self.answer(request, 200, self.page(rows, query))
            if method == "GET" and parts[2] == "deploys" and len(parts) == 4:
                found = [d for d in deploys if d["id"] == parts[3]]
                return self.answer(request, 200, self.shown(found[0])) if found else \
                    self.answer(request, 404, {"id": "not_found", "message": "deploy not found"})
            if method == "POST" and parts[2:] == ["rollback"]:
                wanted = [d for d in deploys if isinstance(data, dict) and d["id"] == data.get("deployId")]
                if not wanted:
                    return self.answer(request, 400, {"message": "deployId must name a deploy of this service"})
                deploy = new_deploy(service, parts[1], wanted[0]["commit"], "live", "rollback")
                return self.answer(request, 201, self.shown(deploy))
        return self.answer(request, 404, {"message": f"no route for {method} /v1/{'/'.join(parts)}"})

    @staticmethod
    def shown(deploy: dict) -> dict:
        """A deploy as the API's Deploy schema has it (commit is an object)."""
        return {"id": deploy["id"], "status": deploy["status"], "trigger": deploy.get("trigger", "api"),
                "createdAt": deploy.get("createdAt"), "commit": {"id": deploy.get("commit")}}

    def list_services(self, query: dict) -> list[dict]:
        with store.state(self.home) as state:
            services = state.get("render", {}).get("services", {})
            workspace = state.get("render", {}).get("workspace_id", "tea-fake")
        rows = [{"service": {"id": sid, "name": s["name"], "type": s.get("type", "web_service"),
                             "ownerId": workspace}, "cursor": sid}
                for sid, s in sorted(services.items())
                if query.get("name") in (None, s["name"]) and query.get("ownerId") in (None, workspace)]
        return self.page(rows, query)

    @staticmethod
    def page(rows: list[dict], query: dict) -> list[dict]:
        """Cursor pagination: items after `cursor`, at most `limit` (default 20, most 100)."""
        limit = min(int(query.get("limit", 20)), 100)
        cursor = query.get("cursor")
        if cursor is not None:
            after = [i for i, row in enumerate(rows) if row["cursor"] == cursor]
            rows = rows[after[0] + 1:] if after else []
        return rows[:limit]

    @staticmethod
    def answer(request: BaseHTTPRequestHandler, status: int, data) -> None:
        payload = json.dumps(data).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
