"""Indexes for every screen at a million leads: activity, customer, opportunity and task in list
order, a customer's merged leads, and trigram search over lead and customer names (PostgreSQL)

On PostgreSQL the indexes are built CONCURRENTLY, outside a transaction: building them on a
large tenant takes minutes, and a plain CREATE INDEX would block writes to the table meanwhile.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 20:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ('ix_activity_organization_id_occurred_at', 'activity', ['organization_id', 'occurred_at']),
    ('ix_customer_organization_id_created_at', 'customer', ['organization_id', 'created_at']),
    ('ix_opportunity_organization_id_created_at', 'opportunity', ['organization_id', 'created_at']),
    ('ix_task_organization_id_due_at', 'task', ['organization_id', 'due_at']),
    ('ix_lead_organization_id_customer_id', 'lead', ['organization_id', 'customer_id']),
]
TRIGRAM_INDEXES = [('lead', 'name'), ('lead', 'company'), ('lead', 'phone'), ('customer', 'name'), ('customer', 'code')]


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns)
        return
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    with op.get_context().autocommit_block():
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns, postgresql_concurrently=True)
        for table, column in TRIGRAM_INDEXES:
            op.create_index(
                f'ix_{table}_{column}_trgm',
                table,
                [column],
                postgresql_using='gin',
                postgresql_ops={column: 'gin_trgm_ops'},
                postgresql_concurrently=True,
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table, column in TRIGRAM_INDEXES:
            op.drop_index(f'ix_{table}_{column}_trgm', table_name=table)
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
