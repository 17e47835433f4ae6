"""Secrets at rest: after webhooks, notification channels and web forms are created, no table of the database
holds a signing secret, key or token in the clear (issue 18, defect 11)."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from pytest_httpserver import HTTPServer
from sqlalchemy import text

from app.db import Base
from app.domain.models import NotificationChannel
from app.encryption import SecretsKeyError, use_keys
from app.services.platform import stored_secrets
from tests.api.notifications.test_notification_channels import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    ROBOT_KEY,
    WECOM_APP,
)

CAPTCHA_SECRET = "captcha-provider-secret-0123456789"


def _text(value: object) -> str:
    return bytes(value).decode("utf-8", "replace") if isinstance(value, bytes | memoryview) else str(value)


async def _dump(engine) -> str:
    """Every row of every table as the database returns it, without the models' column types."""
    rows: list[str] = []
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in await connection.execute(text(f'SELECT * FROM "{table.name}"')):
                rows.extend(
                    bytes(value).decode("utf-8", "replace")
                    if isinstance(value, bytes | memoryview)
                    else str(value)
                    for value in row
                )
    return "\n".join(rows)


async def test_a_database_dump_shows_no_secret(client, app, make_tenant, httpserver: HTTPServer):
    tenant = await make_tenant()
    url = httpserver.url_for("/hooks/crm")
    webhook = await client.post(
        "/api/v1/webhooks",
        json={"url": url, "event_types": ["*"]},
        headers={**tenant.headers, "Idempotency-Key": "erp-hook"},
    )
    assert webhook.status_code == 201, webhook.text
    for kind, config in (
        ("wecom_robot", {"key": ROBOT_KEY}),
        ("wecom_app", WECOM_APP),
        ("dingtalk_robot", {"access_token": DINGTALK_TOKEN, "secret": DINGTALK_SECRET}),
    ):
        channel = await client.post(
            "/api/v1/notification-channels",
            json={"name": kind, "kind": kind, "config": config, "event_types": ["*"]},
            headers=tenant.headers,
        )
        assert channel.status_code == 201, channel.text

    api_key = await client.post(
        "/api/v1/api-keys",
        json={"name": "ERP", "scopes": ["leads:read"]},
        headers={**tenant.headers, "Idempotency-Key": "erp-key"},
    )
    assert api_key.status_code == 201, api_key.text

    intake_form = await client.post(
        "/api/v1/intake-forms",
        json={
            "name": "官网询价",
            "field_mapping": {"n": "name", "m": "phone"},
            "captcha_verify_url": httpserver.url_for("/siteverify"),
            "captcha_secret": CAPTCHA_SECRET,
        },
        headers=tenant.headers,
    )
    assert intake_form.status_code == 201, intake_form.text

    dump = await _dump(app.state.runtime.engine)

    secrets = [webhook.json()["secret"], api_key.json()["secret"], ROBOT_KEY, WECOM_APP["secret"]]
    secrets += [DINGTALK_TOKEN, DINGTALK_SECRET, CAPTCHA_SECRET, intake_form.json()["key"]]
    assert url in dump  # the dump is real
    assert [secret for secret in secrets if secret in dump] == []
    read_back = await client.get(f"/api/v1/webhooks/{webhook.json()['id']}", headers=tenant.headers)
    assert read_back.status_code == 200


async def test_after_a_new_key_and_a_reencryption_the_old_key_can_be_dropped(
    client, app, make_tenant, settings
):
    tenant = await make_tenant()
    created = await client.post(
        "/api/v1/notification-channels",
        json={"name": "华东群", "kind": "wecom_robot", "config": {"key": ROBOT_KEY}, "event_types": ["*"]},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    channel_url = f"/api/v1/notification-channels/{created.json()['id']}"
    (old_key,) = settings.resolved_secrets_keys()
    new_key = Fernet.generate_key().decode()

    use_keys([new_key, old_key])  # CRM_SECRETS_KEY=new,old and a restart
    async with app.state.runtime.sessionmaker.begin() as session:
        assert await stored_secrets.reencrypt_all(session) == 1
    use_keys([new_key])  # CRM_SECRETS_KEY=new

    read = await client.get(channel_url, headers=tenant.headers)
    assert read.status_code == 200, read.text
    assert read.json()["secret_hints"] == {"key": "…" + ROBOT_KEY[-4:]}
    use_keys([old_key])
    with pytest.raises(SecretsKeyError):
        async with app.state.runtime.sessionmaker() as session:
            await session.get(NotificationChannel, uuid.UUID(created.json()["id"]))
