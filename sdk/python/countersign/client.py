"""Sync and async clients for agents, with the same surface.

    from countersign import Countersign
    cs = Countersign(api_url="http://127.0.0.1:3000", api_key=os.environ["COUNTERSIGN_API_KEY"])
    done = cs.propose_and_wait({"wallet_address": w, "kind": "native", "to_address": to, "amount": "1000"})

Each proposal carries an idempotency key (generated unless given), so a retry
is the same request; 503 and 429 answers are retried after their Retry-After.
Waiting uses the API's long-poll (GET /api/transaction_status?wait=N): one
request per minute at most, no busy loop.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, TypeVar

import httpx
from pydantic import BaseModel

from ._errors import CountersignError, error_from_response, retry_after_seconds
from ._models import FINAL_STATUSES, Proposal, TransactionList, TransactionView, Wallet, WalletDetail, WalletList

M = TypeVar("M", bound=BaseModel)

DEFAULT_WAIT_SECONDS = 600.0
MAX_LONG_POLL_SECONDS = 60
_RETRY_STATUSES = (429, 503)


@dataclass
class _Request:
    """One API call, built the same way for both clients."""

    method: str
    path: str
    model: Any
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Extra seconds beyond the long-poll the HTTP read may take.
    wait: float = 0.0


def _wallets(chain_id: Optional[int]) -> _Request:
    return _Request("GET", "/api/wallets", WalletList, params={} if chain_id is None else {"chain_id": str(chain_id)})


def _balance(address: str, tokens: Optional[list[str]], chain_id: Optional[int]) -> _Request:
    params = {}
    if tokens:
        params["tokens"] = ",".join(tokens)
    if chain_id is not None:
        params["chain_id"] = str(chain_id)
    return _Request("GET", f"/api/wallets/{address}", WalletDetail, params=params)


def _propose(request: Mapping[str, Any], idempotency_key: Optional[str]) -> _Request:
    body = {k: v for k, v in request.items() if v is not None and k != "idempotency_key"}
    key = idempotency_key or request.get("idempotency_key") or str(uuid.uuid4())
    return _Request("POST", "/api/prepare_transaction", Proposal, json=body, headers={"Idempotency-Key": key})


def _status(transaction_id: str, wait: Optional[float] = None, if_status: Optional[str] = None, if_version: Optional[int] = None) -> _Request:
    params = {"transaction_id": transaction_id}
    seconds = 0
    if wait is not None:
        seconds = min(MAX_LONG_POLL_SECONDS, max(1, int(-(-wait // 1))))
        params["wait"] = str(seconds)
        if if_status is not None:
            params["if_status"] = if_status
        if if_version is not None:
            params["if_version"] = str(if_version)
    return _Request("GET", "/api/transaction_status", TransactionView, params=params, wait=seconds)


def _execute(transaction_id: str) -> _Request:
    return _Request("POST", "/api/execute_transaction", TransactionView, json={"transaction_id": transaction_id})


def _cancel(transaction_id: str) -> _Request:
    return _Request("POST", f"/api/transactions/{transaction_id}/cancel", TransactionView)


def _list(status: Optional[str], wallet: Optional[str], limit: Optional[int], cursor: Optional[str]) -> _Request:
    params = {k: str(v) for k, v in {"status": status, "wallet": wallet, "limit": limit, "cursor": cursor}.items() if v is not None}
    return _Request("GET", "/api/transactions", TransactionList, params=params)


def _retry_delay(response: httpx.Response, attempt: int, cap: float) -> float:
    seconds = retry_after_seconds(response.headers.get("retry-after"))
    return min(cap, seconds if seconds is not None else 0.5 * 2**attempt)


def _parse(request: _Request, response: httpx.Response) -> Any:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    if response.is_success:
        return request.model.model_validate(body)
    raise error_from_response(response.status_code, body, response.headers.get("retry-after"))


def _unreachable(base_url: str, cause: Exception) -> CountersignError:
    error = CountersignError(0, "unavailable", f"cannot reach the Countersign API at {base_url}", hint="Check COUNTERSIGN_API_URL and that the API is running, then try again.")
    error.__cause__ = cause
    return error


def _not_pending(view: TransactionView) -> bool:
    return view.status != "pending_approval"


def _final(view: TransactionView) -> bool:
    return view.status in FINAL_STATUSES


class _Base:
    def __init__(self, api_url: str, api_key: str, *, retries: int = 3, max_retry_delay: float = 30.0, timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.retries = retries
        self.max_retry_delay = max_retry_delay
        self.timeout = timeout
        self._headers = {"X-API-Key": api_key, "User-Agent": "countersign-python/0.1.0"}

    def _timeout(self, request: _Request) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=self.timeout + request.wait)


class Countersign(_Base):
    """The blocking client. Use it as a context manager, or call close()."""

    def __init__(self, api_url: str, api_key: str, *, http: Optional[httpx.Client] = None, **options: Any) -> None:
        super().__init__(api_url, api_key, **options)
        self._http = http or httpx.Client(base_url=self.api_url, headers=self._headers)
        if http is not None:
            self._http.headers.update(self._headers)

    def __enter__(self) -> "Countersign":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, request: _Request) -> Any:
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(request.method, request.path, params=request.params, json=request.json, headers=request.headers, timeout=self._timeout(request))
            except httpx.TransportError as cause:
                raise _unreachable(self.api_url, cause) from cause
            if response.status_code in _RETRY_STATUSES and attempt < self.retries:
                time.sleep(_retry_delay(response, attempt, self.max_retry_delay))
                continue
            return _parse(request, response)
        raise AssertionError("unreachable")

    def wallets(self, chain_id: Optional[int] = None) -> list[Wallet]:
        """The wallets the owner granted this agent, with native balances."""
        return self._call(_wallets(chain_id)).wallets

    def balance(self, address: str, tokens: Optional[list[str]] = None, chain_id: Optional[int] = None) -> WalletDetail:
        """One wallet's native balance and, for `tokens`, its ERC-20 balances."""
        return self._call(_balance(address, tokens, chain_id))

    def propose(self, request: Mapping[str, Any], idempotency_key: Optional[str] = None) -> Proposal:
        """Proposes a transaction (the fields of POST /api/prepare_transaction). Refused with
        CountersignError code "simulation_failed" when it cannot succeed, unless allow_simulation_failure."""
        return self._call(_propose(request, idempotency_key))

    def get(self, transaction_id: str) -> TransactionView:
        return self._call(_status(transaction_id))

    def poll(self, transaction_id: str, wait: float, if_status: Optional[str] = None, if_version: Optional[int] = None) -> TransactionView:
        """One long-poll: answers on a change from if_status / if_version, or after `wait` seconds (≤ 60)."""
        return self._call(_status(transaction_id, wait, if_status, if_version))

    def wait_until(self, transaction_id: str, done: Callable[[TransactionView], bool], timeout: float = DEFAULT_WAIT_SECONDS) -> TransactionView:
        """Long-polls until done(view), or until `timeout` seconds pass; returns the last view either way."""
        deadline = time.monotonic() + timeout
        view = self.get(transaction_id)
        while not done(view):
            left = deadline - time.monotonic()
            if left <= 0:
                return view
            view = self.poll(transaction_id, left, view.status, view.version)
        return view

    def wait_for_decision(self, transaction_id: str, timeout: float = DEFAULT_WAIT_SECONDS) -> TransactionView:
        """Returns once the owner decided (no longer pending_approval), or the pending view at the timeout."""
        return self.wait_until(transaction_id, _not_pending, timeout)

    def wait_for_outcome(self, transaction_id: str, timeout: float = DEFAULT_WAIT_SECONDS) -> TransactionView:
        """Returns once it is confirmed, failed, rejected, expired or cancelled (or the view at the timeout)."""
        return self.wait_until(transaction_id, _final, timeout)

    def execute(self, transaction_id: str) -> TransactionView:
        """Signs and sends an approved transaction; on one already executing or done, returns its status."""
        return self._call(_execute(transaction_id))

    def cancel(self, transaction_id: str) -> TransactionView:
        return self._call(_cancel(transaction_id))

    def list(self, status: Optional[str] = None, wallet: Optional[str] = None, limit: Optional[int] = None, cursor: Optional[str] = None) -> TransactionList:
        return self._call(_list(status, wallet, limit, cursor))

    def propose_and_wait(self, request: Mapping[str, Any], timeout: float = DEFAULT_WAIT_SECONDS, idempotency_key: Optional[str] = None) -> TransactionView:
        """Propose, wait for the owner, execute once approved, wait for the chain; returns the last view."""
        deadline = time.monotonic() + timeout
        proposal = self.propose(request, idempotency_key)
        view = self.wait_for_decision(proposal.transaction_id, max(0.0, deadline - time.monotonic()))
        if view.status == "approved":
            view = self.execute(proposal.transaction_id)
        if view.status != "pending_approval" and not _final(view):
            view = self.wait_for_outcome(proposal.transaction_id, max(0.0, deadline - time.monotonic()))
        return view


class AsyncCountersign(_Base):
    """The asyncio client: the same methods as Countersign, awaitable."""

    def __init__(self, api_url: str, api_key: str, *, http: Optional[httpx.AsyncClient] = None, **options: Any) -> None:
        super().__init__(api_url, api_key, **options)
        self._http = http or httpx.AsyncClient(base_url=self.api_url, headers=self._headers)
        if http is not None:
            self._http.headers.update(self._headers)

    async def __aenter__(self) -> "AsyncCountersign":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, request: _Request) -> Any:
        for attempt in range(self.retries + 1):
            try:
                response = await self._http.request(request.method, request.path, params=request.params, json=request.json, headers=request.headers, timeout=self._timeout(request))
            except httpx.TransportError as cause:
                raise _unreachable(self.api_url, cause) from cause
            if response.status_code in _RETRY_STATUSES and attempt < self.retries:
                await asyncio.sleep(_retry_delay(response, attempt, self.max_retry_delay))
                continue
            return _parse(request, response)
        raise AssertionError("unreachable")

    async def wallets(self, chain_id: Optional[int] = None) -> list[Wallet]:
        return (await self._call(_wallets(chain_id))).wallets

    async def balance(self, address: str, tokens: Optional[list[str]] = None, chain_id: Optional[int] = None) -> WalletDetail:
        return await self._call(_balance(address, tokens, chain_id))

    async def propose(self, request: Mapping[str, Any], idempotency_key: Optional[str] = None) -> Proposal:
        return await self._call(_propose(request, idempotency_key))

    async def get(self, transaction_id: str) -> TransactionView:
        return await self._call(_status(transaction_id))

    async def poll(self, transaction_id: str, wait: float, if_status: Optional[str] = None, if_version: Optional[int] = None) -> TransactionView:
        return await self._call(_status(transaction_id, wait, if_status, if_version))

    async def wait_until(self, transaction_id: str, done: Callable[[TransactionView], bool], timeout: float = DEFAULT_WAIT_SECONDS) -> TransactionView:
        deadline = time.monotonic() + timeout
        view = await self.get(transaction_id)
        while not done(view):
            left = deadline - time.monotonic()
            if left <= 0:
                return view
            view = await self.poll(transaction_id, left, view.status, view.version)
        return view

    async def wait_for_decision(self, transaction_id: str, timeout: float = DEFAULT_WAIT_SECONDS) -> TransactionView:
        return await self.wait_until(transaction_id, _not_pending, timeout)

    async def wait_for_outcome(self, transaction_id: str, timeout: float = DEFAULT_WAIT_SECONDS) -> TransactionView:
        return await self.wait_until(transaction_id, _final, timeout)

    async def execute(self, transaction_id: str) -> TransactionView:
        return await self._call(_execute(transaction_id))

    async def cancel(self, transaction_id: str) -> TransactionView:
        return await self._call(_cancel(transaction_id))

    async def list(self, status: Optional[str] = None, wallet: Optional[str] = None, limit: Optional[int] = None, cursor: Optional[str] = None) -> TransactionList:
        return await self._call(_list(status, wallet, limit, cursor))

    async def propose_and_wait(self, request: Mapping[str, Any], timeout: float = DEFAULT_WAIT_SECONDS, idempotency_key: Optional[str] = None) -> TransactionView:
        deadline = time.monotonic() + timeout
        proposal = await self.propose(request, idempotency_key)
        view = await self.wait_for_decision(proposal.transaction_id, max(0.0, deadline - time.monotonic()))
        if view.status == "approved":
            view = await self.execute(proposal.transaction_id)
        if view.status != "pending_approval" and not _final(view):
            view = await self.wait_for_outcome(proposal.transaction_id, max(0.0, deadline - time.monotonic()))
        return view
