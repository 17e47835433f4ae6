"""webhook_subscription.last_sequence and delivery.sequence: every webhook message carries its
subscription's message number, so a receiver can order retried deliveries

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_sequence', sa.Integer(), nullable=False, server_default=sa.text('0')))
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sequence', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('sequence')
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.drop_column('last_sequence')
