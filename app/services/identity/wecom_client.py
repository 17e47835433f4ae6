"""WeCom's server API as the sign-in and the JS-SDK need it: gettoken, auth/getuserinfo and
get_jsapi_ticket, with the access token and the ticket cached until shortly before they expire.

Calls go to CRM_WECOM_BASE_URL through the channels' rules: the SSRF check on what the host
resolves to, no redirects, no proxy from the environment, a deadline per call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote_plus

import httpx

from app.domain.identity.wecom import (
    WECOM_BUSY_ERRCODES,
    WECOM_CODE_ERRCODES,
    WECOM_CONFIG_ERRCODES,
    WECOM_TOKEN_ERRCODES,
)
from app.domain.platform.errors import InvalidInput, NotAuthenticated, UpstreamRefused, UpstreamUnavailable
from app.services.notifications.channel_delivery import TIMEOUT_SECONDS, USER_AGENT, check_url, tls_context

# gettoken and get_jsapi_ticket say how long their answer lives (7200 s); it is renewed this much
# earlier, so that it does not expire between the cache check and WeCom reading it.
RENEW_MARGIN = timedelta(minutes=5)
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class WecomCredentials:
    corp_id: str
    agent_id: int
    secret: str

    @property
    def cache_key(self) -> str:
        """Changes with the secret, so a new secret never meets the old one's token."""
        digest = hashlib.sha256(f"{self.corp_id}\n{self.agent_id}\n{self.secret}".encode()).hexdigest()
        return digest[:32]


class WecomCache(Protocol):
    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None: ...

    async def aclose(self) -> None: ...


class MemoryCache:
    """One process's cache: an API process without Redis."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, Any]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        return self._values.get(key)

    async def put(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        self._values[key] = value

    async def aclose(self) -> None:
        return None


class RedisCache:
    """Shared by every API process: WeCom limits how often a ticket may be fetched."""

    def __init__(self, url: str) -> None:
        import redis.asyncio

        self._redis = redis.asyncio.Redis.from_url(url)

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = await self._redis.get(f"crm:wecom:{key}")
        return json.loads(raw) if raw else None

    async def put(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        await self._redis.set(f"crm:wecom:{key}", json.dumps(value), ex=max(1, ttl_seconds))

    async def aclose(self) -> None:
        await self._redis.aclose()


class WecomClient:
    """One per process (the composition root builds it); `aclose` on shutdown."""

    def __init__(
        self,
        *,
        base_url: str,
        allow_private: bool,
        clock: Callable[[], datetime],
        cache: WecomCache,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._allow_private = allow_private
        self._clock = clock
        self._cache = cache
        self._locks: dict[str, asyncio.Lock] = {}
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(TIMEOUT_SECONDS),
            follow_redirects=False,
            verify=tls_context(),
            transport=transport,
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._cache.aclose()

    async def user_id_for_code(self, app: WecomCredentials, code: str) -> str | None:
        """The WeCom userid of whoever the OAuth `code` was given to; None for a non-member (openid)."""
        stale: str | None = None
        for _ in range(2):
            token = await self._cached("token", app, self._fetch_token, stale=stale)
            answer = await self._get(
                f"/cgi-bin/auth/getuserinfo?access_token={quote_plus(token)}&code={quote_plus(code)}"
            )
            errcode = answer.get("errcode", 0)
            if errcode in WECOM_TOKEN_ERRCODES:
                stale = token
                continue
            if errcode in WECOM_CODE_ERRCODES:
                raise NotAuthenticated(
                    "The WeCom code is invalid, used already or expired; open the app from WeCom again.",
                    code="auth.wecom_code_invalid",
                )
            _check(answer, "getuserinfo")
            user_id = answer.get("userid") or answer.get("UserId")
            return str(user_id) if user_id else None
        raise UpstreamUnavailable(
            "WeCom refused a fresh access token twice; retry.", code="wecom.unavailable"
        )

    async def jsapi_ticket(self, app: WecomCredentials) -> str:
        return await self._cached("ticket", app, self._fetch_ticket)

    async def _cached(
        self,
        kind: str,
        app: WecomCredentials,
        fetch: Callable[[WecomCredentials], Awaitable[tuple[str, float]]],
        *,
        stale: str | None = None,
    ) -> str:
        """The cached value, or a new one when there is none, it is due (by the app's clock) or it is
        `stale`. One fetch per app at a time: WeCom rate-limits both calls."""
        key = f"{kind}:{app.cache_key}"
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = await self._cache.get(key)
            now = self._clock()
            if cached and cached["value"] != stale and now < datetime.fromisoformat(cached["renew_at"]):
                return str(cached["value"])
            value, expires_in = await fetch(app)
            margin = min(RENEW_MARGIN, timedelta(seconds=expires_in / 2))
            renew_at = now + timedelta(seconds=expires_in) - margin
            await self._cache.put(key, {"value": value, "renew_at": renew_at.isoformat()}, int(expires_in))
            return value

    async def _fetch_token(self, app: WecomCredentials) -> tuple[str, float]:
        answer = await self._get(
            f"/cgi-bin/gettoken?corpid={quote_plus(app.corp_id)}&corpsecret={quote_plus(app.secret)}"
        )
        _check(answer, "gettoken")
        return _value_and_lifetime(answer, "access_token", "gettoken")

    async def _fetch_ticket(self, app: WecomCredentials) -> tuple[str, float]:
        stale: str | None = None
        for _ in range(2):
            token = await self._cached("token", app, self._fetch_token, stale=stale)
            answer = await self._get(f"/cgi-bin/get_jsapi_ticket?access_token={quote_plus(token)}")
            if answer.get("errcode", 0) not in WECOM_TOKEN_ERRCODES:
                break
            stale = token  # revoked before its time: fetched anew once
        _check(answer, "get_jsapi_ticket")
        return _value_and_lifetime(answer, "ticket", "get_jsapi_ticket")

    async def _get(self, path: str) -> dict[str, Any]:
        url = self.base_url + path
        try:
            await check_url(url, allow_private=self._allow_private)
        except InvalidInput as exc:
            raise UpstreamRefused(
                f"CRM_WECOM_BASE_URL may not be called: {exc.detail}", code="wecom.base_url_refused"
            ) from exc
        except OSError as exc:
            raise _unreachable(exc) from exc
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                response = await self._http.get(url)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            raise _unreachable(exc) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise _unreachable(f"HTTP {response.status_code}")
        try:
            answer = json.loads(response.content[:MAX_ANSWER_BYTES])
        except ValueError:
            answer = None
        if response.status_code != 200 or not isinstance(answer, dict):
            raise UpstreamRefused(
                f"WeCom answered HTTP {response.status_code} without a WeCom answer; "
                "check CRM_WECOM_BASE_URL.",
                code="wecom.refused",
            )
        return answer


def _unreachable(cause: object) -> UpstreamUnavailable:
    # The cause names the exception type only: a URL in it would carry the secret or the token.
    reason = cause if isinstance(cause, str) else type(cause).__name__
    return UpstreamUnavailable(
        f"WeCom cannot be reached at the moment ({reason}); retry shortly.", code="wecom.unavailable"
    )


def _check(answer: dict[str, Any], call: str) -> None:
    errcode = answer.get("errcode", 0)
    if errcode == 0:
        return
    errmsg = str(answer.get("errmsg", ""))[:200]
    if errcode in WECOM_BUSY_ERRCODES:
        raise UpstreamUnavailable(
            f"WeCom is busy ({call}: errcode {errcode}); retry shortly.", code="wecom.unavailable"
        )
    if errcode in WECOM_CONFIG_ERRCODES:
        raise UpstreamRefused(
            f"WeCom refused the organization's app settings ({call}: errcode {errcode} {errmsg}); an admin "
            "should check the corp id, agent id and secret (PUT /organization/wecom).",
            code="wecom.credentials_refused",
        )
    raise UpstreamRefused(
        f"WeCom refused the call ({call}: errcode {errcode} {errmsg}).", code="wecom.refused"
    )


def _value_and_lifetime(answer: dict[str, Any], field: str, call: str) -> tuple[str, float]:
    value, expires_in = answer.get(field), answer.get("expires_in")
    if not isinstance(value, str) or not value or not isinstance(expires_in, int | float) or expires_in <= 0:
        raise UpstreamRefused(f"{call} answered without {field} or expires_in.", code="wecom.refused")
    return value, float(expires_in)
