"""Microsoft Graph v1.0, app-only: the one request function every area client goes through,
OData paging and `$batch` (20 requests per batch, throttled inner requests retried)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bot.errors import TenantBusy, TenantError
from bot.tenant.budgets import Budgets, LocalBudgets, Pacer, budget_for
from bot.tenant.http import (
    RETRYABLE_STATUS,
    Attempt,
    Failure,
    JsonObject,
    RetryPolicy,
    collect,
    json_object,
    retry_after_seconds,
    retrying,
    send,
    translate,
)

SERVICE = "Microsoft Graph"
BATCH_LIMIT = 20
BATCH_CONCURRENCY = 4  # $batch requests in flight at once (Graph throttles per app and tenant)

Answer = tuple[int, int, Any]  # (index, status, body) of one $batch request


class GraphApi:
    """Calls Graph for one tenant; URL building, paging and JSON stay in tenant/."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        auth: httpx.Auth,
        policy: RetryPolicy | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self._http = http
        self._root = f"{base_url.rstrip('/')}/v1.0"
        self._auth = auth
        self._policy = policy or RetryPolicy()
        self._budgets = budgets or LocalBudgets()
        self._pacer = Pacer()

    async def request(
        self,
        method: str,
        path: str,
        body: JsonObject | None = None,
        *,
        permission: str = "",
        licence: str = "",
    ) -> JsonObject:
        """One call (retried as bot/tenant/http.py says); the JSON object it answered."""
        url = path if path.startswith("http") else self._root + path
        operation = f"{method} {path.split('?')[0]}"
        budget = budget_for(url.removeprefix(self._root).split("?")[0])

        async def once() -> httpx.Response:
            if budget is None:
                return await self._http.request(method, url, json=body, auth=self._auth)
            wait = await self._budgets.reserve(budget)  # every try counts against the budget
            if wait is None:
                raise TenantBusy(f"{operation}: {budget.name} budget in use", service=SERVICE)
            await asyncio.sleep(wait)
            async with self._pacer.turn(budget):
                return await self._http.request(method, url, json=body, auth=self._auth)

        # Every Graph call BlockWatch makes is safe to repeat: GETs, idempotent PATCHes,
        # revokeSignInSessions, DELETE (a second one answers 404).
        response = await send(SERVICE, operation, once, policy=self._policy)
        if response.is_success:
            return json_object(SERVICE, operation, response)
        raise translate(
            SERVICE, operation, Failure.of(response), permission=permission, licence=licence
        )

    async def collect(self, path: str, *, permission: str, licence: str = "") -> list[JsonObject]:
        """Every row of a collection, following `@odata.nextLink`."""

        async def page(url: str) -> JsonObject:
            return await self.request("GET", url, permission=permission, licence=licence)

        return await collect(path, page)

    def failure(self, status: int, body: Any, path: str, *, permission: str = "") -> TenantError:
        """The error for a failed request inside a `$batch`."""
        return translate(SERVICE, f"GET {path}", Failure(status, body, {}), permission=permission)

    async def batch(self, requests: list[JsonObject]) -> list[Answer]:
        """Send up to 20 GETs as one `$batch`, re-sending inner requests that were throttled
        (Graph throttles each inner request on its own, inside a 200 answer)."""
        if len(requests) > BATCH_LIMIT:
            raise ValueError(f"a Graph $batch holds at most {BATCH_LIMIT} requests")
        answers: dict[int, tuple[int, Any]] = {}
        pending = {str(r["id"]): r for r in requests}

        async def attempt() -> Attempt[None]:
            data = await self.request("POST", "/$batch", {"requests": list(pending.values())})
            hints: list[float | None] = []
            for response in data.get("responses") or []:
                status, key = int(response["status"]), str(response["id"])
                answers[int(key)] = (status, response.get("body"))
                if status in RETRYABLE_STATUS and pending[key]["method"] == "GET":
                    headers = response.get("headers") or {}
                    hints.append(retry_after_seconds(headers.get("Retry-After")))
                else:
                    pending.pop(key, None)
            known = [h for h in hints if h is not None]
            hint = max(known) if known else None
            return Attempt(None, again=bool(hints), hint=hint, throttled=bool(hints))

        await retrying(SERVICE, "POST /$batch", attempt, policy=self._policy)
        return sorted((i, status, body) for i, (status, body) in answers.items())

    async def get_many(self, paths: list[str]) -> list[Answer]:
        """GET every path through `$batch`, 20 per request and up to BATCH_CONCURRENCY
        requests at a time (250 senders: 13 batches, about 4 round trips instead of 13);
        (position in `paths`, status, body) for each, in order."""
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(start: int) -> list[Answer]:
            chunk = paths[start : start + BATCH_LIMIT]
            requests = [
                {"id": str(i), "method": "GET", "url": path} for i, path in enumerate(chunk)
            ]
            async with gate:
                answered = await self.batch(requests)
            return [(start + i, status, body) for i, status, body in answered]

        chunks = await asyncio.gather(*(one(s) for s in range(0, len(paths), BATCH_LIMIT)))
        return [answer for chunk in chunks for answer in chunk]
