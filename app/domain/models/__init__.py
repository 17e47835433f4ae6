"""Entities, one module per aggregate; importing this package registers them all."""

from app.domain.models.api_key import ApiKey
from app.domain.models.audit_event import AuditEvent
from app.domain.models.idempotency_record import IdempotencyRecord
from app.domain.models.login_failure import LoginFailure
from app.domain.models.notification import Notification
from app.domain.models.organization import Organization
from app.domain.models.outbox_event import OutboxEvent, OutboxStatus
from app.domain.models.team import Team, TeamMember
from app.domain.models.user import User

__all__ = [
    "ApiKey",
    "AuditEvent",
    "IdempotencyRecord",
    "LoginFailure",
    "Notification",
    "Organization",
    "OutboxEvent",
    "OutboxStatus",
    "Team",
    "TeamMember",
    "User",
]
