"""The captcha check of a web-form submission: the provider's siteverify call (reCAPTCHA, hCaptcha
and Cloudflare Turnstile share it: POST secret + response, answer JSON with `success`)."""

from __future__ import annotations

import json

import httpx

from app.domain.platform.errors import InvalidInput, UpstreamUnavailable
from app.services.notifications.channel_delivery import bounded_exchange, check_url

TIMEOUT_SECONDS = 5.0
MAX_ANSWER_BYTES = 16 * 1024


async def captcha_passes(
    *, verify_url: str, secret: str, token: str, client: str, allow_private: bool
) -> bool:
    """True when the provider says the token is good. A provider that cannot be reached, or whose
    URL may not be called, answers 503: the submission is neither accepted nor refused as a bot."""
    try:
        await check_url(verify_url, allow_private=allow_private)
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(TIMEOUT_SECONDS), follow_redirects=False, trust_env=False
        ) as http:
            answer = await bounded_exchange(
                http,
                "POST",
                verify_url,
                deadline_seconds=TIMEOUT_SECONDS,
                max_bytes=MAX_ANSWER_BYTES + 1,
                data={"secret": secret, "response": token, "remoteip": client},
            )
        body = json.loads(answer.body) if len(answer.body) <= MAX_ANSWER_BYTES else {}
    except (httpx.HTTPError, OSError, ValueError, TimeoutError, InvalidInput) as exc:
        raise UpstreamUnavailable(
            "The captcha provider cannot be reached; retry.", code="intake.captcha_unavailable"
        ) from exc
    return isinstance(body, dict) and body.get("success") is True
