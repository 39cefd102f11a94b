"""The few calls of Render's REST API that `up` and `rollback` need and the CLI lacks:
environment variables, and rolling a service back to an earlier deploy.

The Render CLI has no command for a service's env vars (research/cli-contracts.md §3), and a
`sync: false` variable added to a Blueprint that exists already is never asked for
(render-oss/skills render-blueprints wiring-patterns.md), so `up` sets secrets through the API,
the value in the request body. Paths, payloads and pagination as render-oss/cli's generated
client has them (pkg/client: ListServices, GetEnvVarsForService, UpdateEnvVar, ListDeploys,
RetrieveDeploy, RollbackDeploy); the host is
$RENDER_HOST when set, as the CLI reads it (pkg/cfg/cfg.go), else https://api.render.com/v1/.
The API key is RENDER_API_KEY, sent as a bearer token. No value is ever logged or returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_HOST = "https://api.render.com/v1/"
PAGE = 100  # the API's largest page


class APIError(Exception):
    """A call failed; the message says which and what Render answered (never a value sent)."""


@dataclass
class RenderAPI:
    key: str
    host: str = DEFAULT_HOST
    workspace: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env=None) -> RenderAPI:
        env = os.environ if env is None else env
        key = env.get("RENDER_API_KEY")
        if not key:
            raise APIError("RENDER_API_KEY is not set: Render's API needs it to set environment variables and to "
                           "roll back (Account Settings > API Keys)")
        host = env.get("RENDER_HOST") or DEFAULT_HOST
        return cls(key, host if host.endswith("/") else host + "/", env.get("RENDER_WORKSPACE") or None)

    def _client(self):
        import httpx

        return httpx.Client(base_url=self.host, timeout=self.timeout,
                            headers={"Authorization": f"Bearer {self.key}", "Accept": "application/json"})

    def _call(self, client, method: str, path: str, **kwargs):
        import httpx

        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise APIError(f"{method} {self.host}{path}: {type(error).__name__}: {error}") from None
        if response.status_code == 401:
            raise APIError("Render refused RENDER_API_KEY (401): create a key in Account Settings > API Keys")
        if response.status_code >= 400:
            try:
                said = response.json().get("message")
            except ValueError:
                said = None
            raise APIError(f"{method} {path}: Render answered {response.status_code}"
                           + (f": {said}" if said else ""))
        return response.json() if response.content else None

    def _pages(self, client, path: str, params: dict) -> list[dict]:
        """Every item of a cursor-paginated list (`[{<item>, "cursor": ...}]` per page)."""
        items, cursor = [], None
        while True:
            page = self._call(client, "GET", path, params={**params, "limit": PAGE,
                                                           **({"cursor": cursor} if cursor else {})})
            if not isinstance(page, list) or not page:
                return items
            items += [item for item in page if isinstance(item, dict)]
            if len(page) < PAGE:
                return items
            cursor = page[-1].get("cursor")
            if not cursor:
                return items

    def service_id(self, name: str) -> str:
        with self._client() as client:
            params = {"name": name, **({"ownerId": self.workspace} if self.workspace else {})}
            found = [i.get("service") or {} for i in self._pages(client, "services", params)]
        ids = [str(s["id"]) for s in found if s.get("name") == name and s.get("id")]
        if not ids:
            raise APIError(f"no Render service is named {name}: create the Blueprint once in the Render Dashboard "
                           "(New > Blueprint, pick this repository), then run `streamdeploy up` again")
        if len(ids) > 1:
            raise APIError(f"{len(ids)} Render services are named {name} ({', '.join(ids)})")
        return ids[0]

    def env_keys(self, service_id: str) -> set[str]:
        """The names of the service's env vars that have a value (values are read, never kept)."""
        with self._client() as client:
            items = self._pages(client, f"services/{service_id}/env-vars", {})
        return {str(v["key"]) for v in (i.get("envVar") or {} for i in items) if v.get("key") and v.get("value")}

    def set_env(self, service_id: str, key: str, value: str) -> None:
        """Add or update one variable; Render uses it from the next deploy."""
        with self._client() as client:
            self._call(client, "PUT", f"services/{service_id}/env-vars/{key}", json={"value": value})

    def deploys(self, service_id: str) -> list[dict]:
        """The service's deploys, newest first (ListDeploys: `[{"deploy": {...}, "cursor": c}]`)."""
        with self._client() as client:
            items = self._pages(client, f"services/{service_id}/deploys", {})
        return [i["deploy"] for i in items if isinstance(i.get("deploy"), dict)]

    def deploy(self, service_id: str, deploy_id: str) -> dict:
        with self._client() as client:
            return self._call(client, "GET", f"services/{service_id}/deploys/{deploy_id}") or {}

    def rollback(self, service_id: str, deploy_id: str) -> dict:
        """RollbackDeploy: a new deploy of that deploy's build (201, the new Deploy)."""
        with self._client() as client:
            return self._call(client, "POST", f"services/{service_id}/rollback", json={"deployId": deploy_id}) or {}
