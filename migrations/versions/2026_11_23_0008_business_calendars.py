"""business calendars

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 14:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('business_calendar',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('week', app.db.JSONType, nullable=False),
    sa.Column('holidays', app.db.JSONType, nullable=False),
    sa.Column('workdays', app.db.JSONType, nullable=False),
    sa.Column('public_holidays', sa.String(length=8), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_business_calendar_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_business_calendar')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_business_calendar_organization_id_name'))
    )
    with op.batch_alter_table('business_calendar', schema=None) as batch_op:
        batch_op.create_index('uq_business_calendar_default', ['organization_id'], unique=True, postgresql_where=sa.text('is_default'), sqlite_where=sa.text('is_default'))


def downgrade() -> None:
    with op.batch_alter_table('business_calendar', schema=None) as batch_op:
        batch_op.drop_index('uq_business_calendar_default', postgresql_where=sa.text('is_default'), sqlite_where=sa.text('is_default'))

    op.drop_table('business_calendar')
