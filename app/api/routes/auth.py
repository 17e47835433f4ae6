"""POST /auth/token: the OAuth2 password flow."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status

from app.api.client_address import client_address
from app.api.deps import CurrentPrincipal, NowDep, RuntimeDep, SessionDep
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.auth import TokenOut
from app.services import auth
from app.services.unit_of_work import session_scope

router = APIRouter(prefix=f"{API_V1}/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=TokenOut,
    responses=problem_responses(401, 413, 422, 429),
    summary="Exchange a username and password for a bearer token",
)
async def issue_token(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=128)],
) -> TokenOut:
    settings = runtime.settings
    client = client_address(request, settings.trusted_proxies)
    # Counted and committed before the password is checked, and before this request's own
    # transaction starts (SQLite has one writer at a time).
    async with session_scope(runtime.sessionmaker, runtime.queue) as own_session:
        await auth.count_sign_in_attempt(
            own_session,
            username=username,
            client=client,
            policy=auth.LoginPolicy(
                failure_limit=settings.login_failure_limit,
                client_failure_limit=settings.login_client_failure_limit,
                window=timedelta(seconds=settings.login_failure_window_seconds),
            ),
            now=now,
        )
    token = await auth.sign_in(
        session,
        username=username,
        password=password,
        client=client,
        secret=runtime.jwt_secret,
        ttl=timedelta(seconds=settings.jwt_ttl_seconds),
        now=now,
    )
    return TokenOut(access_token=token.token, expires_in=token.expires_in)


@router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403),
    summary="Revoke every access token of the signed-in user (a lost phone, a shared password)",
)
async def sign_out_everywhere(session: SessionDep, actor: CurrentPrincipal) -> Response:
    await auth.sign_out_everywhere(session, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
