"""POST /auth/token: the OAuth2 password flow."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Response, status

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
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=128)],
) -> TokenOut:
    settings = runtime.settings
    try:
        token = await auth.sign_in(
            session,
            username=username,
            password=password,
            policy=auth.LoginPolicy(
                failure_limit=settings.login_failure_limit,
                window=timedelta(seconds=settings.login_failure_window_seconds),
            ),
            secret=runtime.jwt_secret,
            ttl=timedelta(seconds=settings.jwt_ttl_seconds),
            now=now,
        )
    except auth.InvalidCredentials:
        # The failure must be counted although this request's transaction is rolled back; end that
        # one first, since SQLite allows one writer at a time.
        await session.rollback()
        async with session_scope(runtime.sessionmaker, runtime.queue) as own_session:
            await auth.record_login_failure(own_session, username=username, now=now)
        raise
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
