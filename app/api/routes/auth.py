"""Sign-in: POST /auth/token (password, OAuth2 form or JSON), /auth/wecom (the WeCom H5 app's
code), /auth/refresh (a refresh token for the next pair) and /auth/logout-all."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.api.client_address import client_address
from app.api.deps import CurrentPrincipal, NowDep, RuntimeDep, SessionDep
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.runtime import Runtime
from app.api.schemas.auth import PasswordSignIn, RefreshIn, TokenOut, WecomSignIn
from app.config import Settings
from app.services.identity import auth, refresh_tokens, wecom
from app.services.identity.refresh_tokens import SignedIn, TokenPolicy
from app.services.platform.unit_of_work import session_scope

router = APIRouter(prefix=f"{API_V1}/auth", tags=["auth"])

_PASSWORD_SCHEMA = PasswordSignIn.model_json_schema()
# The OAuth2 password form: what else a client sends (grant_type, scope, client_id) is ignored.
_PASSWORD_FORM_SCHEMA = {
    **{k: v for k, v in _PASSWORD_SCHEMA.items() if k != "additionalProperties"},
    "title": "PasswordSignInForm",
    "description": "The OAuth2 password form; grant_type, scope and client fields are ignored.",
}
_PASSWORD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _PASSWORD_FORM_SCHEMA},
            "application/json": {"schema": _PASSWORD_SCHEMA},
        },
    }
}


def _token_policy(runtime: Runtime) -> TokenPolicy:
    return TokenPolicy(
        secret=runtime.jwt_secret,
        access_ttl=timedelta(seconds=runtime.settings.jwt_ttl_seconds),
        refresh_ttl=timedelta(seconds=runtime.settings.refresh_token_ttl_seconds),
    )


def _login_policy(settings: Settings) -> auth.LoginPolicy:
    return auth.LoginPolicy(
        failure_limit=settings.login_failure_limit,
        client_failure_limit=settings.login_client_failure_limit,
        window=timedelta(seconds=settings.login_failure_window_seconds),
    )


def _token_out(signed: SignedIn) -> TokenOut:
    return TokenOut(
        access_token=signed.access_token,
        expires_in=signed.expires_in,
        refresh_token=signed.refresh_token,
        refresh_expires_in=signed.refresh_expires_in,
    )


async def _password_sign_in(request: Request) -> PasswordSignIn:
    """The OAuth2 password form (its grant_type, scope and client fields are ignored) or a JSON body."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        if media_type == "application/json":
            return PasswordSignIn.model_validate_json(await request.body())
        form = await request.form()
        return PasswordSignIn.model_validate({k: form[k] for k in ("username", "password") if k in form})
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from exc


async def _count_attempt(runtime: Runtime, *, name: str, client: str, now: Any) -> None:
    # Counted and committed before the credentials are checked, and before this request's own
    # transaction starts (SQLite has one writer at a time).
    async with session_scope(runtime.sessionmaker, runtime.queue) as own_session:
        await auth.count_sign_in_attempt(
            own_session, username=name, client=client, policy=_login_policy(runtime.settings), now=now
        )


@router.post(
    "/token",
    response_model=TokenOut,
    responses=problem_responses(401, 413, 422, 429),
    summary="Exchange a username and password (OAuth2 form or JSON) for an access and a refresh token",
    openapi_extra=_PASSWORD_BODY,
)
async def issue_token(request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep) -> TokenOut:
    body = await _password_sign_in(request)
    client = client_address(request, runtime.settings.trusted_proxies)
    await _count_attempt(runtime, name=body.username, client=client, now=now)
    signed = await auth.sign_in(
        session,
        username=body.username,
        password=body.password,
        client=client,
        policy=_token_policy(runtime),
        now=now,
    )
    return _token_out(signed)


@router.post(
    "/wecom",
    response_model=TokenOut,
    responses=problem_responses(401, 403, 409, 413, 422, 429, 502, 503),
    summary="Sign in from the WeCom H5 app with the code of WeCom's web authorization",
)
async def sign_in_with_wecom(
    request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep, body: WecomSignIn
) -> TokenOut:
    client = client_address(request, runtime.settings.trusted_proxies)
    await _count_attempt(runtime, name=wecom.throttle_name(body.organization), client=client, now=now)
    signed = await wecom.sign_in_with_wecom(
        session,
        runtime.wecom,
        organization=body.organization,
        code=body.code,
        client=client,
        policy=_token_policy(runtime),
        now=now,
    )
    return _token_out(signed)


@router.post(
    "/refresh",
    response_model=TokenOut,
    responses=problem_responses(401, 413, 422),
    summary="Use a refresh token once for a new access and refresh token",
)
async def refresh_token(session: SessionDep, runtime: RuntimeDep, now: NowDep, body: RefreshIn) -> TokenOut:
    # A used token presented again revokes its family in a transaction of its own: the refusal
    # that follows rolls back the request's transaction, not the revocation.
    async with session_scope(runtime.sessionmaker, runtime.queue) as own_session:
        await refresh_tokens.revoke_reused_family(own_session, token=body.refresh_token, now=now)
    signed = await refresh_tokens.rotate(
        session, token=body.refresh_token, policy=_token_policy(runtime), now=now
    )
    return _token_out(signed)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(413, 422),
    summary="Sign this device out: revoke its refresh token (and the tokens rotated from it)",
    description=(
        "Takes the device's refresh token, without an access token (it may have expired), and "
        "answers 204 whether or not the token was valid (RFC 7009), so it tells nothing about "
        "tokens. The device's access token stays valid until it expires (`expires_in`); the app "
        "forgets it. `POST /auth/logout-all` signs out every device at once."
    ),
)
async def sign_out_device(session: SessionDep, now: NowDep, body: RefreshIn) -> Response:
    await refresh_tokens.sign_out_device(session, token=body.refresh_token, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403),
    summary="Revoke every access and refresh token of the signed-in user (a lost phone, a shared password)",
)
async def sign_out_everywhere(session: SessionDep, actor: CurrentPrincipal) -> Response:
    await auth.sign_out_everywhere(session, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
