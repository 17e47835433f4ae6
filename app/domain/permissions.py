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
    users_handover = "users:handover"
    leads_read = "leads:read"
    leads_write = "leads:write"
    customers_read = "customers:read"
    customers_write = "customers:write"
    activities_read = "activities:read"
    activities_write = "activities:write"


_EVERYONE = {
    Permission.organization_read,
    Permission.users_read,
    Permission.teams_read,
    Permission.notifications_read,
}

_SALES_WORK = {
    Permission.leads_read,
    Permission.leads_write,
    Permission.customers_read,
    Permission.customers_write,
    Permission.activities_read,
    Permission.activities_write,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.director: frozenset(
        _EVERYONE | _SALES_WORK | {Permission.teams_write, Permission.audit_read, Permission.users_handover}
    ),
    Role.supervisor: frozenset(_EVERYONE | _SALES_WORK),
    Role.rep: frozenset(_EVERYONE | _SALES_WORK),
    # Marketing brings leads in and hands them to sales; customers are sales' records.
    Role.marketing: frozenset(_EVERYONE | {Permission.leads_read, Permission.leads_write}),
}

# An integrator's key acts for the whole organization, so it never manages identities.
API_KEY_SCOPES: frozenset[Permission] = frozenset(
    {
        Permission.organization_read,
        Permission.users_read,
        Permission.teams_read,
        Permission.audit_read,
        *_SALES_WORK,
    }
)


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
