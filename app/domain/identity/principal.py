"""Who is acting: a signed-in user or an integrator's API key, always inside one organization."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from app.domain.identity.permissions import ROLE_PERMISSIONS, Permission, Role


@dataclass(frozen=True)
class Principal:
    organization_id: uuid.UUID
    user_id: uuid.UUID | None = None
    role: Role | None = None
    api_key_id: uuid.UUID | None = None
    scopes: frozenset[Permission] = field(default_factory=frozenset)
    # A web form posting a lead (web-to-lead intake): the audit trail names the form as the actor.
    intake_form_id: uuid.UUID | None = None

    @classmethod
    def for_user(cls, organization_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> Principal:
        return cls(organization_id=organization_id, user_id=user_id, role=role)

    @classmethod
    def for_api_key(
        cls, organization_id: uuid.UUID, api_key_id: uuid.UUID, scopes: frozenset[Permission]
    ) -> Principal:
        return cls(organization_id=organization_id, api_key_id=api_key_id, scopes=scopes)

    @classmethod
    def for_intake_form(cls, organization_id: uuid.UUID, intake_form_id: uuid.UUID) -> Principal:
        """A form may create leads and nothing else; like an integration it sees the organization."""
        return cls(
            organization_id=organization_id,
            intake_form_id=intake_form_id,
            scopes=frozenset({Permission.leads_write}),
        )

    @classmethod
    def system(cls, organization_id: uuid.UUID) -> Principal:
        return cls(organization_id=organization_id, scopes=frozenset(Permission))

    @property
    def key(self) -> str:
        """A stable name for this actor, used to scope idempotency keys."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.api_key_id is not None:
            return f"api_key:{self.api_key_id}"
        if self.intake_form_id is not None:
            return f"intake_form:{self.intake_form_id}"
        return "system"

    @property
    def actor_type(self) -> str:
        if self.user_id:
            return "user"
        if self.api_key_id:
            return "api_key"
        return "intake_form" if self.intake_form_id else "system"

    @property
    def actor_id(self) -> uuid.UUID | None:
        return self.user_id or self.api_key_id or self.intake_form_id

    @property
    def sees_whole_organization(self) -> bool:
        """Directors, admins, API keys and the system see every record of their organization."""
        return self.role is None or self.role in (Role.admin, Role.director)

    def can(self, permission: Permission) -> bool:
        if self.role is not None:
            return permission in ROLE_PERMISSIONS[self.role]
        return permission in self.scopes
