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
    customers_merge = "customers:merge"
    activities_read = "activities:read"
    activities_write = "activities:write"
    assignment_rules_read = "assignment_rules:read"
    assignment_rules_write = "assignment_rules:write"
    leads_assign = "leads:assign"
    leads_claim = "leads:claim"
    leads_merge = "leads:merge"
    pipelines_read = "pipelines:read"
    pipelines_write = "pipelines:write"
    opportunities_read = "opportunities:read"
    opportunities_write = "opportunities:write"
    tasks_read = "tasks:read"
    tasks_write = "tasks:write"
    products_read = "products:read"
    products_write = "products:write"
    quotes_read = "quotes:read"
    quotes_write = "quotes:write"
    sla_read = "sla:read"
    sla_write = "sla:write"
    webhooks_manage = "webhooks:manage"
    notification_channels_manage = "notification_channels:manage"
    kpi_read = "kpi:read"
    # Reporting what leads and customers did (e-mail opens, trial logins): integrations' work.
    engagement_write = "engagement:write"
    # Retraining the win-probability model: the admin's alone (it re-scores every open deal).
    scoring_manage = "scoring:manage"
    # Soft delete and restore of leads, customers, contacts and activities: each role within the
    # records it owns or oversees (app/services/privacy/deletion.py).
    records_delete = "records:delete"
    # The organization's deleted records, to restore one (management) or to sync (integrations).
    records_read_deleted = "records:read_deleted"
    # Erasure and export of a person's data (PIPL requests): the admin's alone.
    personal_data_manage = "personal_data:manage"
    # The playbook library: everyone who sells may propose entries; supervisors and up approve them.
    playbook_read = "playbook:read"
    playbook_write = "playbook:write"
    playbook_approve = "playbook:approve"
    # The organization's change feed (GET /changes): ids of every record created, changed or
    # deleted, whoever owns it, so management's and integrations' alone.
    changes_read = "changes:read"
    # Web forms that post leads into the CRM (web-to-lead intake): marketing's and the admin's.
    intake_forms_manage = "intake_forms:manage"
    # Editing many leads or customers at once (POST /leads/bulk, /customers/bulk): management's,
    # each item still within the caller's visibility (app/services/leads/bulk_edits.py).
    records_bulk_edit = "records:bulk_edit"
    # Marketing campaigns (issue 21, point 2): everyone reads them to tag leads and deals;
    # marketing and management run them and book their costs.
    campaigns_read = "campaigns:read"
    campaigns_write = "campaigns:write"
    # The marketing KPIs (campaign-roi, source-quality) over the whole organization: marketing runs
    # every campaign, though it owns none of the leads (app/services/kpis/reports.py).
    marketing_kpi_read = "kpi:marketing"


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
    Permission.pipelines_read,
    Permission.opportunities_read,
    Permission.opportunities_write,
    Permission.tasks_read,
    Permission.tasks_write,
    Permission.products_read,
    Permission.quotes_read,
    Permission.quotes_write,
    Permission.sla_read,
    # Each role reads KPIs over the records it sees (app/services/kpis/scope.py).
    Permission.kpi_read,
    Permission.playbook_read,
    Permission.playbook_write,
    Permission.campaigns_read,
}

# The shape of the sales process and the price list are management's.
_SALES_SETUP = {
    Permission.pipelines_write,
    Permission.products_write,
    Permission.sla_write,
    Permission.webhooks_manage,
    Permission.notification_channels_manage,
}

_ROUTING = {Permission.assignment_rules_read, Permission.assignment_rules_write, Permission.leads_assign}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.director: frozenset(
        _EVERYONE
        | _SALES_WORK
        | _ROUTING
        | _SALES_SETUP
        | {
            Permission.teams_write,
            Permission.audit_read,
            Permission.users_handover,
            Permission.leads_claim,
            Permission.engagement_write,
            Permission.customers_merge,
            Permission.leads_merge,
            Permission.records_delete,
            Permission.records_read_deleted,
            Permission.playbook_approve,
            Permission.changes_read,
            Permission.records_bulk_edit,
            Permission.campaigns_write,
        }
    ),
    # Supervisors route their team's leads by hand, merge their team's duplicate customers and read
    # the rules; directors write the rules.
    Role.supervisor: frozenset(
        _EVERYONE
        | _SALES_WORK
        | {
            Permission.assignment_rules_read,
            Permission.leads_assign,
            Permission.leads_claim,
            Permission.customers_merge,
            Permission.leads_merge,
            Permission.records_delete,
            Permission.playbook_approve,
            Permission.records_bulk_edit,
        }
    ),
    Role.rep: frozenset(_EVERYONE | _SALES_WORK | {Permission.leads_claim, Permission.records_delete}),
    # Marketing brings leads in and hands them to sales; customers are sales' records. Marketing
    # writes cases for the playbook too, and runs the campaigns and the web forms leads arrive through.
    Role.marketing: frozenset(
        _EVERYONE
        | {
            Permission.leads_read,
            Permission.leads_write,
            Permission.playbook_read,
            Permission.playbook_write,
            Permission.intake_forms_manage,
            Permission.campaigns_read,
            Permission.campaigns_write,
            Permission.marketing_kpi_read,
        }
    ),
}

# An integrator's key acts for the whole organization, so it never manages identities.
API_KEY_SCOPES: frozenset[Permission] = frozenset(
    {
        Permission.organization_read,
        Permission.users_read,
        Permission.teams_read,
        Permission.audit_read,
        Permission.assignment_rules_read,
        Permission.leads_assign,
        Permission.engagement_write,
        # An ERP or BI sync learns of deletions its `updated_since` reads cannot show.
        Permission.records_read_deleted,
        Permission.changes_read,
        # An ad platform's sync books the campaigns' spend.
        Permission.campaigns_write,
        *_SALES_WORK,
    }
)


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


# Who may take whom out of the organization: an admin anyone, a director only the ranks below.
_RANK: dict[Role, int] = {Role.admin: 3, Role.director: 2, Role.supervisor: 1, Role.rep: 0, Role.marketing: 0}


def may_deactivate(actor_role: Role | None, target_role: Role) -> bool:
    """The one rank rule for every path that deactivates a user or takes away the admin role."""
    if actor_role is None:
        return False
    return actor_role is Role.admin or _RANK[actor_role] > _RANK[target_role]
