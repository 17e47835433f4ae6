"""The organization's WeCom app: its settings (admin), sign-in with the OAuth code the H5 page gets
from WeCom, and the JS-SDK config signature the page needs for location, camera and voice."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.identity.wecom import jsapi_signature, page_url_for_signature
from app.domain.models import Organization, User, WecomApp
from app.domain.platform.errors import Conflict, PermissionDenied
from app.services.identity import auth
from app.services.identity.refresh_tokens import SignedIn, TokenPolicy
from app.services.identity.wecom_client import WecomClient, WecomCredentials
from app.services.platform import audit


@dataclass(frozen=True)
class JsapiConfig:
    corp_id: str
    agent_id: int
    timestamp: int
    nonce_str: str
    signature: str


def _not_configured() -> Conflict:
    return Conflict(
        "WeCom sign-in is not set up for this organization; an admin sets the app with "
        "PUT /organization/wecom.",
        code="wecom.not_configured",
    )


async def get_wecom_app(session: AsyncSession, *, actor: Principal) -> WecomApp:
    app = await _app_of(session, actor.organization_id)
    if app is None:
        raise _not_configured()
    return app


async def put_wecom_app(
    session: AsyncSession, *, actor: Principal, corp_id: str, agent_id: int, secret: str
) -> WecomApp:
    """Sets the app, replacing the one set before (the secret cannot be read back, so it is always given)."""
    app = await _app_of(session, actor.organization_id, for_update=True)
    before = None if app is None else {"corp_id": app.corp_id, "agent_id": app.agent_id}
    if app is None:
        app = WecomApp(
            organization_id=actor.organization_id, corp_id=corp_id, agent_id=agent_id, secret=secret
        )
        session.add(app)
    else:
        app.corp_id, app.agent_id, app.secret = corp_id, agent_id, secret
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="wecom_app.updated" if before else "wecom_app.created",
        entity_type="wecom_app",
        entity_id=app.id,
        before=before,
        after={"corp_id": corp_id, "agent_id": agent_id, "secret": "set"},
    )
    return app


async def sign_in_with_wecom(
    session: AsyncSession,
    wecom: WecomClient,
    *,
    organization: str,
    code: str,
    client: str,
    policy: TokenPolicy,
    now: datetime,
) -> SignedIn:
    """The attempt was counted by `auth.count_sign_in_attempt` under `throttle_name(organization)`."""
    organization_id = await _organization_id(session, organization)
    app = None if organization_id is None else await _app_of(session, organization_id)
    if organization_id is None or app is None:
        raise _not_configured()
    wecom_userid = await wecom.user_id_for_code(_credentials(app), code)
    user = None
    if wecom_userid is not None:
        user = await session.scalar(
            select(User).where(User.organization_id == organization_id, User.wecom_userid == wecom_userid)
        )
    if user is None or not user.is_active:
        raise PermissionDenied(
            "No active user of this organization has this WeCom account; an admin sets it as the user's "
            "wecom_userid (PATCH /users/{id}).",
            code="auth.wecom_user_unknown",
        )
    await auth.forgive_sign_in_attempt(session, username=throttle_name(organization), client=client)
    return await auth.signed_in(session, user, policy=policy, now=now)


def throttle_name(organization: str) -> str:
    """WeCom sign-ins are throttled as password sign-ins of this name (per client address)."""
    return f"wecom@{organization}"


async def jsapi_config(
    session: AsyncSession, wecom: WecomClient, *, actor: Principal, url: str, now: datetime
) -> JsapiConfig:
    page_url = page_url_for_signature(url)
    app = await get_wecom_app(session, actor=actor)
    ticket = await wecom.jsapi_ticket(_credentials(app))
    timestamp, nonce_str = int(now.timestamp()), secrets.token_hex(8)
    signature = jsapi_signature(jsapi_ticket=ticket, nonce_str=nonce_str, timestamp=timestamp, url=page_url)
    return JsapiConfig(app.corp_id, app.agent_id, timestamp, nonce_str, signature)


def _credentials(app: WecomApp) -> WecomCredentials:
    return WecomCredentials(corp_id=app.corp_id, agent_id=app.agent_id, secret=app.secret)


async def _app_of(
    session: AsyncSession, organization_id: uuid.UUID, *, for_update: bool = False
) -> WecomApp | None:
    statement = select(WecomApp).where(WecomApp.organization_id == organization_id)
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def _organization_id(session: AsyncSession, organization: str) -> uuid.UUID | None:
    try:
        by = Organization.id == uuid.UUID(organization)
    except ValueError:
        by = Organization.slug == organization.strip().lower()
    return await session.scalar(select(Organization.id).where(by))
