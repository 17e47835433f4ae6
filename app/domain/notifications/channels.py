"""Rules for delivering events to chat channels and webhooks: channel kinds and their secrets,
signatures, payloads, retry timing, outcome classification and which destinations a webhook may point
at. Pure, so tests read them directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
from collections.abc import Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote_plus, urlsplit

from app.domain.notifications.events import event_topics
from app.domain.notifications.notifications import MESSAGE_TOPICS, Audience, RenderedMessage
from app.domain.platform.errors import FieldError, InvalidInput

# --- Channel kinds ------------------------------------------------------------------------------

ALL_EVENTS = "*"


class ChannelKind(StrEnum):
    wecom_robot = "wecom_robot"  # a WeCom group robot (群机器人): config {key}
    wecom_app = "wecom_app"  # a WeCom application (自建应用) messaging people: {corp_id, secret, agent_id}
    dingtalk_robot = "dingtalk_robot"  # a DingTalk group robot: {access_token, secret (加签, optional)}


# Configuration fields that let whoever knows them post as the channel: written, never read back.
SECRET_FIELDS: dict[ChannelKind, frozenset[str]] = {
    ChannelKind.wecom_robot: frozenset({"key"}),
    ChannelKind.wecom_app: frozenset({"secret"}),
    ChannelKind.dingtalk_robot: frozenset({"access_token", "secret"}),
}
# The shortest secret whose last four characters may be shown: of a shorter one they give too much away.
_HINTABLE_SECRET_LENGTH = 16


def audience_of(kind: ChannelKind) -> Audience:
    """Robots post to a group chat; a WeCom application message reaches each recipient alone."""
    return Audience.person if kind is ChannelKind.wecom_app else Audience.group


def public_config(kind: ChannelKind, config: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in config.items() if name not in SECRET_FIELDS[kind]}


def secret_hints(kind: ChannelKind, config: Mapping[str, Any]) -> dict[str, str]:
    """Enough of each secret that is set to tell which one it is ("…3f9a"), too little to use it."""
    return {
        name: "…" + value[-4:] if len(value) >= _HINTABLE_SECRET_LENGTH else "…"
        for name in sorted(SECRET_FIELDS[kind])
        if isinstance(value := config.get(name), str) and value
    }


def check_channel_event_types(event_types: Sequence[str]) -> None:
    """A channel posts a human message, so it subscribes only to topics that have one (or "*")."""
    _refuse_unknown(
        event_types, MESSAGE_TOPICS, code="notification_channel.unknown_event_type", why="has no message"
    )


def check_webhook_event_types(event_types: Sequence[str]) -> None:
    _refuse_unknown(
        event_types, frozenset(event_topics()), code="webhook.unknown_event_type", why="is not an event type"
    )


def _refuse_unknown(event_types: Sequence[str], known: frozenset[str], *, code: str, why: str) -> None:
    unknown = [t for t in event_types if t != ALL_EVENTS and t not in known]
    if unknown:
        raise InvalidInput(
            f"No such event type: {', '.join(unknown)}; known: {', '.join(sorted(known))}.",
            code=code,
            errors=[FieldError("event_types", "unknown_event_type", f"{t} {why}") for t in unknown],
        )


# WeCom documents these limits in bytes of UTF-8, not characters: a Chinese character counts three.
WECOM_ROBOT_MARKDOWN_MAX_BYTES = 4096
WECOM_APP_MARKDOWN_MAX_BYTES = 2048
# WeCom rejects a message to more than 1000 users; `touser` joins the ids with "|".
WECOM_APP_MAX_USERS = 1000
_ELLIPSIS = "…"


# --- DingTalk robot signature -------------------------------------------------------------------


def dingtalk_signature(secret: str, timestamp_ms: int) -> str:
    """The `sign` query parameter of a DingTalk robot with 加签 security, as DingTalk documents it:
    base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), URL-encoded.

    The result is already URL-encoded, so it goes into the query string as is (see `dingtalk_url`).
    """
    string_to_sign = f"{timestamp_ms}\n{secret}"
    digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def dingtalk_url(base_url: str, access_token: str, secret: str | None, timestamp_ms: int) -> str:
    """The robot's send URL. `secret` is None for a robot secured by keyword or IP allow-list only.

    DingTalk refuses a timestamp more than an hour away from its clock, so pass the current time.
    """
    query = f"access_token={quote_plus(access_token)}"
    if secret is not None:
        # Built by hand: urlencode would encode the already encoded signature a second time.
        query += f"&timestamp={timestamp_ms}&sign={dingtalk_signature(secret, timestamp_ms)}"
    return f"{base_url.rstrip('/')}/robot/send?{query}"


# --- Payloads -----------------------------------------------------------------------------------


def truncate_utf8(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` of UTF-8, on a character boundary, marked with an ellipsis."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    room = max_bytes - len(_ELLIPSIS.encode("utf-8"))
    # A cut inside a multi-byte character leaves an incomplete sequence only at the end; dropping it
    # keeps every whole character before the cut.
    return encoded[:room].decode("utf-8", errors="ignore") + _ELLIPSIS


def _wecom_markdown(message: RenderedMessage, max_bytes: int) -> str:
    # Every line is quoted: a WeCom quote ends at the line break.
    quoted = "\n".join(f"> {line}" for line in message.body.splitlines() or [""])
    return truncate_utf8(f"**{message.title}**\n{quoted}", max_bytes)


def wecom_robot_payload(message: RenderedMessage) -> dict[str, Any]:
    return {
        "msgtype": "markdown",
        "markdown": {"content": _wecom_markdown(message, WECOM_ROBOT_MARKDOWN_MAX_BYTES)},
    }


def dingtalk_payload(message: RenderedMessage) -> dict[str, Any]:
    # The title is only what the notification preview shows; the text must repeat it to display it.
    return {
        "msgtype": "markdown",
        "markdown": {"title": message.title, "text": f"#### {message.title}\n\n{message.body}"},
    }


def wecom_to_user(user_ids: Sequence[str]) -> str:
    """The `touser` value for WeCom user ids: "a|b"."""
    if not user_ids or len(user_ids) > WECOM_APP_MAX_USERS:
        raise InvalidInput(
            f"A WeCom message goes to 1 to {WECOM_APP_MAX_USERS} users",
            errors=[FieldError("to_users", "wecom.recipients", "1 to 1000 WeCom user ids")],
        )
    if any(not user_id or "|" in user_id for user_id in user_ids):
        raise InvalidInput(
            "A WeCom user id is empty or contains '|'",
            errors=[FieldError("to_users", "wecom.recipients", "invalid WeCom user id")],
        )
    return "|".join(user_ids)


def wecom_app_payload(message: RenderedMessage, agent_id: int, to_user: str) -> dict[str, Any]:
    return {
        "touser": to_user,
        "msgtype": "markdown",
        "agentid": agent_id,
        "markdown": {"content": _wecom_markdown(message, WECOM_APP_MARKDOWN_MAX_BYTES)},
    }


# --- Retry schedule -----------------------------------------------------------------------------

BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=5)
RETRY_WINDOW = timedelta(hours=24)


def _retry_caps() -> tuple[timedelta, ...]:
    caps: list[timedelta] = []
    total = timedelta(0)
    delay = BASE_DELAY
    while total + min(delay, MAX_DELAY) <= RETRY_WINDOW:
        caps.append(min(delay, MAX_DELAY))
        total += caps[-1]
        delay *= 2
    return tuple(caps)


RETRY_CAPS: tuple[timedelta, ...] = _retry_caps()
"""Upper bound of the wait after each failed attempt (index 0: after attempt 1).

30 s, 1, 2, 4, 8, 16, 32, 64, 128, 256 min, then 5 h three times: 13 retries whose caps add up to
23 h 31.5 min, as many as fit in 24 h. With full jitter every wait is uniform in [0, cap], so the last
retry comes at most that long after the first attempt (about half of it on average): the waits stay
short while a receiver is briefly down, and receivers that failed together are not all called again at
the same moment when they come back.
"""

MAX_ATTEMPTS = len(RETRY_CAPS) + 1
"""Delivery attempts in all, the first included; when the last one fails the delivery is dead."""


def retry_delay(attempt: int, *, rng: random.Random) -> timedelta:
    """The wait after failed attempt `attempt` (1-based) before the next one: full jitter, so uniform
    between zero and `RETRY_CAPS[attempt - 1]`. There is no retry after attempt `MAX_ATTEMPTS`."""
    if not 1 <= attempt < MAX_ATTEMPTS:
        raise ValueError(f"no retry after attempt {attempt}; attempts run from 1 to {MAX_ATTEMPTS}")
    cap = RETRY_CAPS[attempt - 1]
    return timedelta(seconds=rng.uniform(0, cap.total_seconds()))


# --- Outcomes -----------------------------------------------------------------------------------


class Outcome(StrEnum):
    delivered = "delivered"
    gone = "gone"  # the receiver asked never to be called again: disable the subscription
    retry = "retry"  # worth trying again later
    failed = "failed"  # will not get better by retrying: dead-letter now
    skipped = "skipped"  # nothing to send (no recipient can be reached): logged, not retried


_RETRY_STATUSES = frozenset({408, 425, 429})


def classify_response(status: int | None) -> Outcome:
    """What an HTTP answer means for the delivery; None is no answer (network error, timeout).

    Redirects are never followed, so a 3xx fails: the subscription must name the final URL.
    """
    if status is None or status in _RETRY_STATUSES or 500 <= status <= 599:
        return Outcome.retry
    if 200 <= status <= 299:
        return Outcome.delivered
    if status == 410:
        return Outcome.gone
    return Outcome.failed


# WeCom and DingTalk answer HTTP 200 and report the result as `errcode`. Only the codes below say that
# the same message may go through later; every other non-zero code (a bad key or secret, a removed
# robot, a malformed or refused message, an unknown user) needs a person to fix the configuration.
WECOM_DINGTALK_RETRY_ERRCODES = frozenset(
    {
        -1,  # WeCom and DingTalk: system busy
        45009,  # WeCom: API call frequency limit (a robot takes 20 messages a minute)
        45033,  # WeCom: too many concurrent calls
        130101,  # DingTalk: robot sent more than 20 messages a minute
    }
)
# The access token expired or is not valid; the client fetches a new one and tries once more.
WECOM_TOKEN_ERRCODES = frozenset({42001, 40014})
# The robot is gone — removed from its group, or its key or token never existed: the chat apps'
# 410. Every later message would fail the same way, so the channel is disabled.
# (DingTalk's 300005, also "token is not exist", has been seen coming and going for robots that
# still work, so it only fails the delivery.)
ROBOT_GONE_ERRCODES = frozenset(
    {
        93000,  # WeCom: invalid webhook url
        300001,  # DingTalk: token is not exist
    }
)


def classify_errcode(errcode: int) -> Outcome:
    if errcode == 0:
        return Outcome.delivered
    # A token error that survives one refresh is WeCom being inconsistent, not a bad secret (gettoken
    # would have said so), so it is retried later.
    if errcode in WECOM_DINGTALK_RETRY_ERRCODES or errcode in WECOM_TOKEN_ERRCODES:
        return Outcome.retry
    if errcode in ROBOT_GONE_ERRCODES:
        return Outcome.gone
    return Outcome.failed


# --- Webhook destinations -----------------------------------------------------------------------

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches through mapping, 6to4 or NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _refusal(raw: str, *, allow_private: bool) -> str | None:
    """Why a webhook must not connect to this address, or None. The reason names the kind of
    address, never the address: a refusal must not tell a client what a host name resolves to
    inside the network."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(raw.split("%")[0])
    except ValueError:
        return "the host resolves to something that is not an IP address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            address = embedded
    # Never needed by a test set-up, and the link-local range holds the cloud metadata service
    # (169.254.169.254), the classic SSRF prize: refused even when private addresses are allowed.
    if address.is_unspecified:
        return "the host resolves to an unspecified address"
    if address.is_link_local:
        return "the host resolves to a link-local address"
    if address.is_multicast:
        return "the host resolves to a multicast address"
    if address.is_loopback:
        # Checked before reserved: ::1 lies inside the reserved ::/8.
        return None if allow_private else "the host resolves to a loopback address"
    if address.is_reserved:
        return "the host resolves to a reserved address"
    if allow_private:
        return None
    if address.is_private or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local):
        return "the host resolves to a private address"
    if not address.is_global:
        return "the host resolves to an address that is not globally reachable"
    return None


def check_destination(url: str, resolved: Sequence[str], *, allow_private: bool) -> None:
    """Refuse a webhook URL that could make the server reach its own network (SSRF).

    `resolved` are the addresses the host name resolves to; the client may connect to any of them, so
    every one must pass. HTTPS is required so the signed payload cannot be read or replayed in transit;
    `allow_private` (a setting for development and tests) also allows plain HTTP and loopback or private
    addresses, never unspecified, link-local, multicast or reserved ones.
    """

    def refuse(reason: str) -> InvalidInput:
        return InvalidInput(
            f"The webhook URL is refused: {reason}",
            code="webhook.destination_refused",
            errors=[FieldError("url", "webhook.destination_refused", reason)],
        )

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise refuse("not a valid URL") from exc
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise refuse("the URL must use https")
    if not parts.hostname:
        raise refuse("the URL has no host")
    if not resolved:
        raise refuse("the host has no address")
    for raw in resolved:
        reason = _refusal(raw, allow_private=allow_private)
        if reason is not None:
            raise refuse(reason)
