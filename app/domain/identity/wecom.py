"""WeCom's rules for H5 apps: the JS-SDK config signature and what getuserinfo's errcodes mean."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from app.domain.notifications.channels import WECOM_TOKEN_ERRCODES
from app.domain.platform.errors import FieldError, InvalidInput

__all__ = ["WECOM_TOKEN_ERRCODES", "jsapi_signature", "page_url_for_signature"]

# getuserinfo: the code is wrong, used already or older than its five minutes (40029 invalid code,
# 40163 code been used, 50001 the redirect domain does not match the app's trusted domain).
WECOM_CODE_ERRCODES = frozenset({40029, 40163, 50001})
# gettoken refused the app's credentials (40001 invalid secret, 40013 invalid corp id, 40056 invalid
# agent id, 48002 api forbidden, 60020 caller address not in the app's trusted IP list).
WECOM_CONFIG_ERRCODES = frozenset({40001, 40013, 40056, 48002, 60020})
# WeCom is busy (-1 system busy, 45009 frequency limit): retrying later works.
WECOM_BUSY_ERRCODES = frozenset({-1, 45009, 45033})

MAX_PAGE_URL_CHARS = 2048


def page_url_for_signature(url: str) -> str:
    """The page URL as the JS-SDK signs it: absolute http(s), without the #fragment
    (WeCom JS-SDK 签名算法: "url 不包含 # 及其后面部分")."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > MAX_PAGE_URL_CHARS:
        raise InvalidInput(
            "url must be the page's absolute http(s) URL, as the browser shows it.",
            code="wecom.page_url_invalid",
            errors=[FieldError("url", "url.invalid", "an absolute http(s) URL of at most 2048 characters")],
        )
    return url.split("#", 1)[0]


def jsapi_signature(*, jsapi_ticket: str, nonce_str: str, timestamp: int, url: str) -> str:
    """sha1 of "jsapi_ticket=...&noncestr=...&timestamp=...&url=...", the fields in this order and the
    values unescaped (WeCom JS-SDK 附录1, the same as WeChat's)."""
    plain = f"jsapi_ticket={jsapi_ticket}&noncestr={nonce_str}&timestamp={timestamp}&url={url}"
    # SHA-1 is WeCom's choice, not a security decision of ours.
    return hashlib.sha1(plain.encode("utf-8"), usedforsecurity=False).hexdigest()
