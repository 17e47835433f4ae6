"""customer health: the current score and band on the customer, a daily snapshot per customer, and
the satisfaction survey score on activities

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 03:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BAND = sa.Enum('green', 'yellow', 'red', name='healthband', native_enum=False, length=6)


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('health_score', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('health_band', BAND, nullable=True))
        batch_op.add_column(sa.Column('health_computed_at', app.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('satisfaction', sa.Integer(), nullable=True))
    op.create_table('customer_health_snapshot',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('snapshot_on', sa.Date(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('band', BAND, nullable=False),
    sa.Column('computed_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_customer_health_snapshot_customer_id_customer'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_customer_health_snapshot_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_health_snapshot')),
    sa.UniqueConstraint('organization_id', 'customer_id', 'snapshot_on', name='uq_customer_health_snapshot_day')
    )


def downgrade() -> None:
    op.drop_table('customer_health_snapshot')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_column('satisfaction')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('health_computed_at')
        batch_op.drop_column('health_band')
        batch_op.drop_column('health_score')
