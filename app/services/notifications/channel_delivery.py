"""Deliver one rendered event to one channel: WeCom group robot, WeCom application message, DingTalk
robot or a Standard Webhooks subscription. Each send returns a `DeliveryResult` for the outbox
dispatcher, which owns the retry schedule, the dead letters and the delivery log.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx
from standardwebhooks import Webhook

from app.domain.notifications.channels import (
    WECOM_TOKEN_ERRCODES,
    Outcome,
    check_destination,
    classify_errcode,
    classify_response,
    dingtalk_payload,
    dingtalk_url,
    wecom_app_payload,
    wecom_robot_payload,
    wecom_to_user,
)
from app.domain.notifications.notifications import RenderedMessage
from app.domain.platform.errors import InvalidInput

WECOM_BASE_URL = "https://qyapi.weixin.qq.com"
DINGTALK_BASE_URL = "https://oapi.dingtalk.com"
TIMEOUT_SECONDS = 10.0
EXCERPT_CHARS = 500
# Answers are read up to this size only: a hostile webhook receiver must not fill the worker's memory,
# and no WeCom or DingTalk answer comes near it.
MAX_ANSWER_BYTES = 64 * 1024
# gettoken says how long a token lives (7200 s); it is renewed this much earlier so that a token does
# not expire between the cache check and WeCom reading it.
TOKEN_REFRESH_MARGIN_SECONDS = 300
USER_AGENT = "salescrm-delivery/1"


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    status_code: int | None
    response_excerpt: str
    duration_ms: int
    error: str | None = None


async def resolve_host(host: str) -> list[str]:
    """The addresses a connection to `host` may use; raises OSError when the name does not resolve."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise InvalidInput (webhook.destination_refused) for a URL the server must not call.

    The check runs on the addresses the name resolves to now, not on the name: a public name can point at
    127.0.0.1. The client resolves again when it connects, so a name whose DNS answer changes within
    those milliseconds (DNS rebinding) is not caught here.
    """
    host = urlsplit(url).hostname
    resolved = await resolve_host(host) if host else []
    check_destination(url, resolved, allow_private=allow_private)


@dataclass(frozen=True)
class WebhookMessage:
    """One event as a webhook receiver gets it (the schema is in openapi.json's `webhooks`)."""

    event_id: str
    event_type: str
    occurred_at: datetime
    sequence: int
    data: Mapping[str, Any]

    def body(self) -> dict[str, Any]:
        return {
            "type": self.event_type,
            "timestamp": self.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "sequence": self.sequence,
            "data": self.data,
        }


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


@dataclass(frozen=True)
class _Token:
    value: str
    renew_at: float


class _TokenUnavailable(Exception):
    def __init__(self, result: DeliveryResult) -> None:
        super().__init__(result.error)
        self.result = result


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
            text = text.replace(quote_plus(secret), "***")
    return text


def _excerpt(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")[:EXCERPT_CHARS]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Read the CA bundle once per process: each read took ~40 ms, paid by every runtime started
    (an API process, a worker, a CLI command, each test's app)."""
    return httpx.create_ssl_context(trust_env=False)


async def bounded_exchange(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    deadline_seconds: float,
    max_bytes: int,
    **request: Any,
) -> Answer:
    """One call to a URL someone else configured, bounded in time and size: httpx times each read
    separately, so the overall deadline stops a server that trickles a byte every few seconds from
    holding the caller; at most `max_bytes` of the answer are read."""
    async with asyncio.timeout(deadline_seconds):
        async with http.stream(method, url, **request) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= max_bytes:
                    break
            return Answer(response.status_code, bytes(body[:max_bytes]))


class ChannelClient:
    """One HTTP client for all channels; create it once per worker and `aclose` it on shutdown.

    Redirects are not followed: a receiver that passed the SSRF check could otherwise answer 307 to
    http://169.254.169.254/ and have the server fetch its own metadata, and a redirected POST would
    carry the signed payload somewhere nobody checked.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        wecom_base_url: str = WECOM_BASE_URL,
        dingtalk_base_url: str = DINGTALK_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self.allow_private = allow_private
        self.wecom_base_url = wecom_base_url
        self.dingtalk_base_url = dingtalk_base_url
        self._timeout_seconds = timeout_seconds
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            verify=tls_context(),
            transport=transport,
            headers={"User-Agent": USER_AGENT},
            trust_env=False,  # a proxy from the environment would see every key and secret in URLs
        )
        self._clock = clock
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._token_locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ChannelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- transport ------------------------------------------------------------------------------

    async def _exchange(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        return await bounded_exchange(
            self._http,
            method,
            url,
            deadline_seconds=self._timeout_seconds,
            max_bytes=MAX_ANSWER_BYTES,
            content=content,
            json=json_body,
            headers=headers,
        )

    @staticmethod
    def _network_failure(exc: Exception, started: float, secrets: Sequence[str]) -> DeliveryResult:
        error = _redact(f"{type(exc).__name__}: {exc}", secrets)
        return DeliveryResult(Outcome.retry, None, "", _elapsed_ms(started), error)

    async def _refusal(self, url: str, started: float, secrets: Sequence[str]) -> DeliveryResult | None:
        """Why `url` must not be called now (SSRF check on what its host resolves to), or None."""
        try:
            await check_url(url, allow_private=self.allow_private)
        except InvalidInput as exc:
            return DeliveryResult(
                Outcome.failed, None, "", _elapsed_ms(started), _redact(exc.detail, secrets)
            )
        except OSError as exc:  # the name does not resolve now; DNS trouble usually passes
            return self._network_failure(exc, started, secrets)
        return None

    # --- WeCom and DingTalk ---------------------------------------------------------------------

    @staticmethod
    def _errcode_result(answer: Answer, started: float, secrets: Sequence[str]) -> DeliveryResult:
        """WeCom and DingTalk answer HTTP 200 and put the result in `errcode`."""
        excerpt = _redact(_excerpt(answer.body), secrets)
        outcome = classify_response(answer.status)
        if outcome is not Outcome.delivered:
            return DeliveryResult(
                outcome, answer.status, excerpt, _elapsed_ms(started), f"HTTP {answer.status}"
            )
        try:
            parsed = json.loads(answer.body)
        except ValueError:
            parsed = None
        errcode = parsed.get("errcode") if isinstance(parsed, dict) else None
        if not isinstance(errcode, int):
            # An answer without errcode is not WeCom or DingTalk: most likely a misconfigured base URL,
            # which 24 hours of retries would only hide.
            return DeliveryResult(
                Outcome.failed, answer.status, excerpt, _elapsed_ms(started), "answer without errcode"
            )
        if errcode == 0:
            return DeliveryResult(Outcome.delivered, answer.status, excerpt, _elapsed_ms(started))
        assert isinstance(parsed, dict)
        error = _redact(f"errcode {errcode}: {parsed.get('errmsg', '')}", secrets)
        return DeliveryResult(classify_errcode(errcode), answer.status, excerpt, _elapsed_ms(started), error)

    async def _post_errcode_api(
        self, url: str, body: dict[str, Any], secrets: Sequence[str]
    ) -> DeliveryResult:
        started = time.perf_counter()
        # The base URL is the operator's, not a tenant's, but it passes the webhooks' check all the same:
        # a typo in it must not turn the worker against the internal network.
        if (refused := await self._refusal(url, started, secrets)) is not None:
            return refused
        try:
            answer = await self._exchange("POST", url, json_body=body)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            return self._network_failure(exc, started, secrets)
        return self._errcode_result(answer, started, secrets)

    async def send_wecom_robot(self, base_url: str, key: str, message: RenderedMessage) -> DeliveryResult:
        url = f"{base_url.rstrip('/')}/cgi-bin/webhook/send?key={quote_plus(key)}"
        return await self._post_errcode_api(url, wecom_robot_payload(message), [key])

    async def send_dingtalk(
        self, base_url: str, access_token: str, secret: str | None, message: RenderedMessage, now_ms: int
    ) -> DeliveryResult:
        url = dingtalk_url(base_url, access_token, secret, now_ms)
        return await self._post_errcode_api(url, dingtalk_payload(message), [access_token, secret or ""])

    async def send_wecom_app(
        self,
        base_url: str,
        corp_id: str,
        secret: str,
        agent_id: int,
        to_users: Sequence[str],
        message: RenderedMessage,
    ) -> DeliveryResult:
        """Send an application message, fetching the access token when none is cached or it expired.

        When WeCom calls the token expired or invalid (it may be revoked before its time), one new token
        is fetched and the message sent once more; a second token error is left to the retry schedule.
        """
        started = time.perf_counter()
        try:
            to_user = wecom_to_user(to_users)
        except InvalidInput as exc:
            return DeliveryResult(Outcome.failed, None, "", 0, exc.detail)
        body = wecom_app_payload(message, agent_id, to_user)
        base = base_url.rstrip("/")
        if (refused := await self._refusal(base, started, [secret])) is not None:
            return refused
        stale: str | None = None
        result: DeliveryResult | None = None
        for _ in range(2):
            try:
                token = await self._access_token(base, corp_id, secret, stale=stale)
            except _TokenUnavailable as exc:
                return replace(exc.result, duration_ms=_elapsed_ms(started))
            secrets = [secret, token]
            try:
                answer = await self._exchange(
                    "POST", f"{base}/cgi-bin/message/send?access_token={quote_plus(token)}", json_body=body
                )
            except (httpx.HTTPError, OSError, TimeoutError) as exc:
                return self._network_failure(exc, started, secrets)
            result = self._errcode_result(answer, started, secrets)
            if _errcode_of(answer) not in WECOM_TOKEN_ERRCODES:
                return result
            stale = token
        assert result is not None
        return result

    async def _access_token(self, base: str, corp_id: str, secret: str, *, stale: str | None) -> str:
        """The cached token, or a new one when there is none, it is due, or it equals `stale`."""
        key = (corp_id, secret)
        # One fetch per corp and secret at a time: WeCom rate-limits gettoken, and concurrent sends
        # arriving with an empty cache would otherwise each fetch their own token.
        async with self._token_locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached is not None and cached.value != stale and self._clock() < cached.renew_at:
                return cached.value
            self._tokens.pop(key, None)
            token, expires_in = await self._fetch_token(base, corp_id, secret)
            margin = min(TOKEN_REFRESH_MARGIN_SECONDS, expires_in / 2)
            self._tokens[key] = _Token(token, self._clock() + expires_in - margin)
            return token

    async def _fetch_token(self, base: str, corp_id: str, secret: str) -> tuple[str, float]:
        started = time.perf_counter()
        url = f"{base}/cgi-bin/gettoken?corpid={quote_plus(corp_id)}&corpsecret={quote_plus(secret)}"
        try:
            answer = await self._exchange("GET", url)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            raise _TokenUnavailable(self._network_failure(exc, started, [secret])) from exc
        result = self._errcode_result(answer, started, [secret])
        if result.outcome is not Outcome.delivered:
            raise _TokenUnavailable(replace(result, error=f"gettoken: {result.error}"))
        parsed = json.loads(answer.body)
        token, expires_in = parsed.get("access_token"), parsed.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise _TokenUnavailable(
                DeliveryResult(
                    Outcome.failed,
                    answer.status,
                    "",
                    _elapsed_ms(started),
                    "gettoken: answer without access_token or expires_in",
                )
            )
        return token, float(expires_in)

    # --- Standard Webhooks ----------------------------------------------------------------------

    async def send_webhook(
        self, url: str, secrets: Sequence[str], message: WebhookMessage, now: datetime
    ) -> DeliveryResult:
        """POST a Standard Webhooks message signed with each of `secrets` ("whsec_" + base64, as the spec
        has it): during a rotation the header carries both signatures, and the receiver accepts either.

        The event id goes out as webhook-id and stays the same across retries: receivers use it to
        drop duplicates. The destination is checked against SSRF on every send, because where a name
        points can change after the subscription was saved.
        """
        started = time.perf_counter()
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        # Webhook.sign replaces the tzinfo with UTC instead of converting, so it must get a UTC time; the
        # header and the signature share one whole-second timestamp.
        timestamp = datetime.fromtimestamp(math.floor(now.timestamp()), UTC)
        try:
            signers = [Webhook(secret) for secret in secrets]
        except Exception as exc:  # the library raises binascii.Error or its own error for a bad secret
            return DeliveryResult(
                Outcome.failed,
                None,
                "",
                _elapsed_ms(started),
                f"invalid signing secret: {type(exc).__name__}",
            )
        if (refused := await self._refusal(url, started, [])) is not None:
            return refused

        body = json.dumps(message.body(), ensure_ascii=False, separators=(",", ":"))
        headers = {
            "content-type": "application/json",
            "webhook-id": message.event_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": " ".join(
                signer.sign(message.event_id, timestamp, body) for signer in signers
            ),
        }
        try:
            answer = await self._exchange("POST", url, content=body.encode("utf-8"), headers=headers)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            return self._network_failure(exc, started, [])
        outcome = classify_response(answer.status)
        error = None if outcome is Outcome.delivered else f"HTTP {answer.status}"
        return DeliveryResult(outcome, answer.status, _excerpt(answer.body), _elapsed_ms(started), error)


def _errcode_of(answer: Answer) -> int | None:
    try:
        parsed = json.loads(answer.body)
    except ValueError:
        return None
    errcode = parsed.get("errcode") if isinstance(parsed, dict) else None
    return errcode if isinstance(errcode, int) else None


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
