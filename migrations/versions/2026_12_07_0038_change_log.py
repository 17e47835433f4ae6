"""change_log: the entries of GET /changes (incremental sync)

Revision ID: 0038
Revises: 0040
Create Date: 2026-12-07 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0038'
down_revision: str | None = '0040'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPS = ('created', 'updated', 'deleted')


def upgrade() -> None:
    op.create_table(
        'change_log',
        sa.Column(
            'id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False
        ),
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('entity_type', sa.String(length=16), nullable=False),
        sa.Column('entity_id', sa.Uuid(), nullable=False),
        sa.Column('op', sa.Enum(*_OPS, name='changeop', native_enum=False, length=7), nullable=False),
        sa.Column('changed_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('xact_id', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ['organization_id'],
            ['organization.id'],
            name=op.f('fk_change_log_organization_id_organization'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_change_log')),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('change_log', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_change_log_organization_id_xact_id_id'), ['organization_id', 'xact_id', 'id']
        )
        batch_op.create_index(batch_op.f('ix_change_log_changed_at'), ['changed_at'])


def downgrade() -> None:
    with op.batch_alter_table('change_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_log_changed_at'))
        batch_op.drop_index(batch_op.f('ix_change_log_organization_id_xact_id_id'))
    op.drop_table('change_log')
