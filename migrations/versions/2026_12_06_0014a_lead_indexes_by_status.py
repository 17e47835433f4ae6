"""Leads by status in list order: (organization, status, created_at), and a rep's by status in list
order: (organization, owner, status) gains created_at

The newest leads are mostly not yet worked, so "contacted, newest first" walked past every recent
lead on the created_at index, and a rep's contacted leads were sorted after an owner-and-status
range. Built CONCURRENTLY on PostgreSQL, as 0014's.

Revision ID: 0014a
Revises: 0014
Create Date: 2026-12-06 21:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0014a'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ('ix_lead_organization_id_status_created_at', 'lead', ['organization_id', 'status', 'created_at']),
    (
        'ix_lead_organization_id_owner_id_status_created_at',
        'lead',
        ['organization_id', 'owner_id', 'status', 'created_at'],
    ),
]
# Superseded by the second index above, which appends created_at.
REPLACED = ('ix_lead_organization_id_owner_id_status', 'lead', ['organization_id', 'owner_id', 'status'])


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns)
        op.drop_index(REPLACED[0], table_name=REPLACED[1])
        return
    with op.get_context().autocommit_block():
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns, postgresql_concurrently=True)
        op.drop_index(REPLACED[0], table_name=REPLACED[1], postgresql_concurrently=True)


def downgrade() -> None:
    op.create_index(REPLACED[0], REPLACED[1], REPLACED[2])
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
