"""Channel delivery rules: DingTalk signature, payload shapes and limits, retry schedule, outcome
classification and the webhook SSRF check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import random
from datetime import timedelta
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest

from app.domain.notifications.channels import (
    MAX_ATTEMPTS,
    RETRY_CAPS,
    WECOM_APP_MARKDOWN_MAX_BYTES,
    WECOM_ROBOT_MARKDOWN_MAX_BYTES,
    Outcome,
    check_destination,
    classify_errcode,
    classify_response,
    dingtalk_payload,
    dingtalk_signature,
    dingtalk_url,
    retry_delay,
    truncate_utf8,
    wecom_app_payload,
    wecom_robot_payload,
    wecom_to_user,
)
from app.domain.notifications.notifications import RenderedMessage
from app.domain.platform.errors import InvalidInput

MESSAGE = RenderedMessage(title="新线索：张三", body="线索 张三（华东贸易）已分配给您。")


# --- DingTalk signature ---


def test_dingtalk_signature_matches_a_vector_computed_with_openssl():
    # printf '1700000000000\nSEC0123456789abcdef' \
    #     | openssl dgst -sha256 -hmac SEC0123456789abcdef -binary | base64
    expected = "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="
    assert unquote_plus(dingtalk_signature("SEC0123456789abcdef", 1_700_000_000_000)) == expected


def test_dingtalk_signature_of_the_documentation_inputs():
    # The inputs of DingTalk's Python sample; the expected value is computed with openssl, as above.
    expected = "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="
    assert unquote_plus(dingtalk_signature("this is secret", 1577262236757)) == expected


def test_dingtalk_signature_is_url_encoded_base64_of_hmac_over_timestamp_and_secret():
    secret, timestamp = "SECabc+/=中文", 1_712_345_678_901
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    signature = dingtalk_signature(secret, timestamp)
    assert unquote_plus(signature) == base64.b64encode(digest).decode()
    assert not set("+/=") & set(signature)


def test_dingtalk_url_carries_token_timestamp_and_signature_once_encoded():
    url = dingtalk_url("https://oapi.dingtalk.com/", "tok en", "SECxyz", 1_700_000_000_000)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "oapi.dingtalk.com", "/robot/send")
    query = parse_qs(parts.query)
    assert query == {
        "access_token": ["tok en"],
        "timestamp": ["1700000000000"],
        "sign": [unquote_plus(dingtalk_signature("SECxyz", 1_700_000_000_000))],
    }


def test_dingtalk_url_without_secret_has_no_signature():
    assert dingtalk_url("https://oapi.dingtalk.com", "t", None, 1) == (
        "https://oapi.dingtalk.com/robot/send?access_token=t"
    )


# --- payloads ---


def test_wecom_robot_payload_is_markdown_with_bold_title_and_quoted_body():
    message = RenderedMessage(title="标题", body="第一行\n第二行")
    assert wecom_robot_payload(message) == {
        "msgtype": "markdown",
        "markdown": {"content": "**标题**\n> 第一行\n> 第二行"},
    }


def test_dingtalk_payload_has_title_and_text():
    payload = dingtalk_payload(MESSAGE)
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["title"] == MESSAGE.title
    assert MESSAGE.title in payload["markdown"]["text"]
    assert MESSAGE.body in payload["markdown"]["text"]


def test_wecom_app_payload_names_agent_and_users():
    payload = wecom_app_payload(MESSAGE, 1000002, wecom_to_user(["zhangsan", "lisi"]))
    assert payload["touser"] == "zhangsan|lisi"
    assert payload["agentid"] == 1000002
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["content"].startswith(f"**{MESSAGE.title}**\n> ")


@pytest.mark.parametrize("user_ids", [[], ["a|b"], [""], [f"u{i}" for i in range(1001)]])
def test_wecom_to_user_refuses_what_wecom_cannot_address(user_ids):
    with pytest.raises(InvalidInput):
        wecom_to_user(user_ids)


def test_short_message_is_not_truncated():
    assert not wecom_robot_payload(MESSAGE)["markdown"]["content"].endswith("…")


@pytest.mark.parametrize("filler", ["中", "a", "😀", "a中"])
def test_wecom_robot_content_is_cut_to_4096_utf8_bytes_on_a_character_boundary(filler):
    body = filler * 5000
    content = wecom_robot_payload(RenderedMessage(title="T", body=body))["markdown"]["content"]
    encoded = content.encode("utf-8")  # would raise on a split surrogate; a split byte cannot survive str
    assert len(encoded) <= WECOM_ROBOT_MARKDOWN_MAX_BYTES
    assert len(encoded) > WECOM_ROBOT_MARKDOWN_MAX_BYTES - 7  # at most one character and the ellipsis lost
    assert content.endswith("…")
    assert content[:-1].startswith("**T**\n> ")
    assert set(content[len("**T**\n> ") : -1]) <= set(filler)


def test_wecom_app_content_is_cut_to_2048_bytes():
    content = wecom_app_payload(RenderedMessage(title="T", body="中" * 2000), 1, "u")["markdown"]["content"]
    assert WECOM_APP_MARKDOWN_MAX_BYTES - 6 < len(content.encode()) <= WECOM_APP_MARKDOWN_MAX_BYTES


def test_truncate_keeps_text_that_fits_exactly():
    text = "中" * 10
    assert truncate_utf8(text, 30) == text
    assert truncate_utf8(text, 29) == "中" * 8 + "…"


# --- retry schedule ---


def test_caps_double_from_30_seconds_up_to_5_hours_and_never_shrink():
    assert RETRY_CAPS[:3] == (timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120))
    for earlier, later in itertools.pairwise(RETRY_CAPS):
        assert later == min(earlier * 2, timedelta(hours=5))
    assert RETRY_CAPS[-1] == timedelta(hours=5)


def test_caps_fit_in_24_hours_with_no_room_for_another_retry():
    total = sum(RETRY_CAPS, timedelta(0))
    assert total <= timedelta(hours=24)
    assert total + RETRY_CAPS[-1] > timedelta(hours=24)
    assert len(RETRY_CAPS) == MAX_ATTEMPTS - 1 == 13


@pytest.mark.parametrize("seed", range(50))
def test_jittered_waits_stay_within_their_caps_and_24_hours(seed):
    rng = random.Random(seed)
    waits = [retry_delay(attempt, rng=rng) for attempt in range(1, MAX_ATTEMPTS)]
    assert all(timedelta(0) <= wait <= cap for wait, cap in zip(waits, RETRY_CAPS, strict=True))
    assert sum(waits, timedelta(0)) <= timedelta(hours=24)


def test_jitter_is_deterministic_for_a_seed_and_varies_between_seeds():
    first = [retry_delay(a, rng=random.Random(7)) for a in range(1, MAX_ATTEMPTS)]
    again = [retry_delay(a, rng=random.Random(7)) for a in range(1, MAX_ATTEMPTS)]
    other = [retry_delay(a, rng=random.Random(8)) for a in range(1, MAX_ATTEMPTS)]
    assert first == again
    assert first != other


def test_jitter_spreads_over_the_whole_cap():
    rng = random.Random(1)
    waits = [retry_delay(10, rng=rng).total_seconds() for _ in range(2000)]
    cap = RETRY_CAPS[9].total_seconds()
    assert min(waits) < cap * 0.05
    assert max(waits) > cap * 0.95


@pytest.mark.parametrize("attempt", [0, -1, MAX_ATTEMPTS, MAX_ATTEMPTS + 1])
def test_no_retry_outside_the_schedule(attempt):
    with pytest.raises(ValueError):
        retry_delay(attempt, rng=random.Random(0))


# --- classification ---


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.delivered),
        (201, Outcome.delivered),
        (204, Outcome.delivered),
        (299, Outcome.delivered),
        (410, Outcome.gone),
        (408, Outcome.retry),
        (425, Outcome.retry),
        (429, Outcome.retry),
        (500, Outcome.retry),
        (502, Outcome.retry),
        (503, Outcome.retry),
        (599, Outcome.retry),
        (None, Outcome.retry),
        (400, Outcome.failed),
        (401, Outcome.failed),
        (403, Outcome.failed),
        (404, Outcome.failed),
        (413, Outcome.failed),
        (422, Outcome.failed),
        (301, Outcome.failed),
        (307, Outcome.failed),
    ],
)
def test_classify_response(status, outcome):
    assert classify_response(status) is outcome


@pytest.mark.parametrize(
    ("errcode", "outcome"),
    [
        (0, Outcome.delivered),
        (-1, Outcome.retry),
        (45009, Outcome.retry),
        (45033, Outcome.retry),
        (130101, Outcome.retry),
        (42001, Outcome.retry),
        (40014, Outcome.retry),
        (93000, Outcome.gone),
        (300001, Outcome.gone),
        (300005, Outcome.failed),
        (40001, Outcome.failed),
        (310000, Outcome.failed),
    ],
)
def test_classify_errcode(errcode, outcome):
    assert classify_errcode(errcode) is outcome


# --- SSRF ---

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",
    "2002:7f00:1::1",
    "::7f00:1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused(address):
    with pytest.raises(InvalidInput) as caught:
        check_destination("https://hooks.example.com/x", [address], allow_private=False)
    assert caught.value.code == "webhook.destination_refused"
    assert [e.field for e in caught.value.errors] == ["url"]
    # The kind of address is named, never the address the host name resolved to.
    shown = caught.value.detail + " ".join(e.message for e in caught.value.errors)
    assert address.split("%")[0] not in shown
    assert "address" in caught.value.errors[0].message


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_accepted(address):
    check_destination("https://hooks.example.com/x", [address], allow_private=False)


def test_one_internal_address_among_public_ones_refuses_the_url():
    with pytest.raises(InvalidInput):
        check_destination("https://hooks.example.com", ["8.8.8.8", "10.0.0.1"], allow_private=False)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "192.168.1.1", "::1", "fc00::1", "::ffff:127.0.0.1"]
)
def test_allow_private_admits_loopback_and_private_addresses(address):
    check_destination("http://receiver.local:8080/x", [address], allow_private=True)


@pytest.mark.parametrize("address", ["169.254.169.254", "0.0.0.0", "fe80::1", "224.0.0.1", "240.0.0.1"])
def test_metadata_and_unspecified_addresses_stay_refused_with_allow_private(address):
    with pytest.raises(InvalidInput):
        check_destination("http://receiver.local/x", [address], allow_private=True)


@pytest.mark.parametrize(
    ("url", "allow_private"),
    [
        ("http://hooks.example.com/x", False),
        ("ftp://hooks.example.com/x", True),
        ("file:///etc/passwd", True),
        ("https:///x", False),
        ("https://hooks.example.com:99999/x", False),
        ("not a url", False),
    ],
)
def test_unsafe_or_malformed_urls_are_refused(url, allow_private):
    with pytest.raises(InvalidInput):
        check_destination(url, ["8.8.8.8"], allow_private=allow_private)


def test_a_host_without_addresses_is_refused():
    with pytest.raises(InvalidInput):
        check_destination("https://hooks.example.com", [], allow_private=False)
