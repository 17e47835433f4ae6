"""price floors and discount approval: product.floor_price, quote approval level and decision

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 04:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0028'
down_revision: str | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_STATUSES = ('draft', 'pending_approval', 'sent', 'accepted', 'rejected')
_OLD_STATUSES = ('draft', 'sent', 'accepted', 'rejected')


def upgrade() -> None:
    with op.batch_alter_table('quote') as batch:
        batch.alter_column(
            'status',
            existing_type=sa.String(length=8),
            type_=sa.Enum(*_STATUSES, name='quotestatus', native_enum=False, length=16),
            existing_nullable=False,
        )
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('floor_price', sa.Numeric(precision=18, scale=4), nullable=True))
    with op.batch_alter_table('quote', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval_level', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('approval_decision', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('approval_decided_by_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('approval_decided_at', app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('approval_reason', sa.String(length=500), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_quote_approval_decided_by_id_user'), 'user', ['approval_decided_by_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('quote', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_quote_approval_decided_by_id_user'), type_='foreignkey')
        for column in ('approval_reason', 'approval_decided_at', 'approval_decided_by_id', 'approval_decision', 'approval_level'):
            batch_op.drop_column(column)
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_column('floor_price')
    # A quote waiting for approval goes back to draft: the older schema has no such status.
    op.execute("UPDATE quote SET status = 'draft' WHERE status = 'pending_approval'")
    with op.batch_alter_table('quote') as batch:
        batch.alter_column(
            'status',
            existing_type=sa.String(length=16),
            type_=sa.Enum(*_OLD_STATUSES, name='quotestatus', native_enum=False, length=8),
            existing_nullable=False,
        )
