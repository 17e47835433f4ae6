"""soft delete with restore (deleted_at, deleted_by_id) on lead, customer, contact and activity;
erased_at on lead and contact; a deleted customer no longer holds its name or uscc

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 12:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOFT_DELETABLE = ('lead', 'customer', 'contact', 'activity')
ERASABLE = ('lead', 'contact')
LISTED_WHEN_DELETED = ('lead', 'customer')
LIVE_BEFORE = sa.text('merged_into_id IS NULL')
LIVE_AFTER = sa.text('merged_into_id IS NULL AND deleted_at IS NULL')
UNIQUE_LIVE = (
    ('uq_customer_live_name_key', 'name_key'),
    ('uq_customer_live_uscc', 'uscc'),
    ('uq_customer_live_phone_key', 'phone_key'),
    ('uq_customer_live_email_key', 'email_key'),
)


def upgrade() -> None:
    for table in SOFT_DELETABLE:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('deleted_at', app.db.UTCDateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column('deleted_by_id', sa.Uuid(), nullable=True))
            if table in ERASABLE:
                batch_op.add_column(sa.Column('erased_at', app.db.UTCDateTime(timezone=True), nullable=True))
            batch_op.create_foreign_key(
                batch_op.f(f'fk_{table}_deleted_by_id_user'), 'user', ['deleted_by_id'], ['id'], ondelete='SET NULL'
            )
            if table in LISTED_WHEN_DELETED:
                batch_op.create_index(batch_op.f(f'ix_{table}_organization_id_deleted_at'), ['organization_id', 'deleted_at'])
    _unique_live_customer_keys(LIVE_AFTER)


def downgrade() -> None:
    _unique_live_customer_keys(LIVE_BEFORE)
    for table in reversed(SOFT_DELETABLE):
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table in LISTED_WHEN_DELETED:
                batch_op.drop_index(batch_op.f(f'ix_{table}_organization_id_deleted_at'))
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_deleted_by_id_user'), type_='foreignkey')
            if table in ERASABLE:
                batch_op.drop_column('erased_at')
            batch_op.drop_column('deleted_by_id')
            batch_op.drop_column('deleted_at')


def _unique_live_customer_keys(predicate: sa.TextClause) -> None:
    for name, column in UNIQUE_LIVE:
        op.drop_index(name, table_name='customer')
        op.create_index(
            name,
            'customer',
            ['organization_id', column],
            unique=True,
            postgresql_where=predicate,
            sqlite_where=predicate,
        )
