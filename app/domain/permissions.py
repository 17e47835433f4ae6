"""Roles, the permissions each role holds, and the scopes an API key may carry.

One matrix, read by every route through `RequirePermission`, so who-may-do-what is
reviewable in one place.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    director = "director"
    supervisor = "supervisor"
    rep = "rep"
    marketing = "marketing"


class Permission(StrEnum):
    organization_read = "organization:read"
    organization_write = "organization:write"
    users_read = "users:read"
    users_write = "users:write"
    teams_read = "teams:read"
    teams_write = "teams:write"
    api_keys_manage = "api_keys:manage"
    notifications_read = "notifications:read"
    audit_read = "audit:read"


_EVERYONE = {
    Permission.organization_read,
    Permission.users_read,
    Permission.teams_read,
    Permission.notifications_read,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.director: frozenset(_EVERYONE | {Permission.teams_write, Permission.audit_read}),
    Role.supervisor: frozenset(_EVERYONE),
    Role.rep: frozenset(_EVERYONE),
    Role.marketing: frozenset(_EVERYONE),
}

# An integrator's key acts for the whole organization, so it never manages identities.
API_KEY_SCOPES: frozenset[Permission] = frozenset(
    {
        Permission.organization_read,
        Permission.users_read,
        Permission.teams_read,
        Permission.audit_read,
    }
)


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
