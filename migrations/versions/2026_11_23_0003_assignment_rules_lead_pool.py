"""assignment rules lead pool

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('assignment_rule',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('conditions', app.db.JSONType, nullable=False),
    sa.Column('strategy', sa.Enum('round_robin', 'least_loaded', 'weighted', name='strategy', native_enum=False), nullable=False),
    sa.Column('user_ids', app.db.JSONType, nullable=False),
    sa.Column('team_ids', app.db.JSONType, nullable=False),
    sa.Column('weights', app.db.JSONType, nullable=False),
    sa.Column('max_open_leads', sa.Integer(), nullable=True),
    sa.Column('max_new_per_day', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_assignment_rule_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment_rule')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_assignment_rule_organization_id_name'))
    )
    with op.batch_alter_table('assignment_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignment_rule_organization_id_enabled_priority'), ['organization_id', 'enabled', 'priority'], unique=False)

    op.create_table('lead_assignment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('lead_id', sa.Uuid(), nullable=False),
    sa.Column('occurred_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.Enum('rule', 'fallback', 'manual', 'claim', 'release', 'recycle', name='assignmentkind', native_enum=False), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('previous_user_id', sa.Uuid(), nullable=True),
    sa.Column('rule_id', sa.Uuid(), nullable=True),
    sa.Column('strategy', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_lead_assignment_lead_id_lead'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_lead_assignment_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['previous_user_id'], ['user.id'], name=op.f('fk_lead_assignment_previous_user_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['rule_id'], ['assignment_rule.id'], name=op.f('fk_lead_assignment_rule_id_assignment_rule'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_lead_assignment_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_assignment'))
    )
    with op.batch_alter_table('lead_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_assignment_organization_id_lead_id_occurred_at'), ['organization_id', 'lead_id', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_assignment_organization_id_user_id_kind_occurred_at'), ['organization_id', 'user_id', 'kind', 'occurred_at'], unique=False)

    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignment_rule_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('assignment_strategy', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('assignment_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('pooled_at', app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('previous_owner_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('release_reason', sa.String(length=500), nullable=True))
        batch_op.create_index(batch_op.f('ix_lead_organization_id_status_pooled_at'), ['organization_id', 'status', 'pooled_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_status_created_at'), ['status', 'created_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_lead_assignment_rule_id_assignment_rule'), 'assignment_rule', ['assignment_rule_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_lead_previous_owner_id_user'), 'user', ['previous_owner_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unavailable_until', app.db.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('unavailable_until')

    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_lead_previous_owner_id_user'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_lead_assignment_rule_id_assignment_rule'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_lead_status_created_at'))
        batch_op.drop_index(batch_op.f('ix_lead_organization_id_status_pooled_at'))
        batch_op.drop_column('release_reason')
        batch_op.drop_column('previous_owner_id')
        batch_op.drop_column('pooled_at')
        batch_op.drop_column('assignment_reason')
        batch_op.drop_column('assignment_strategy')
        batch_op.drop_column('assignment_rule_id')

    with op.batch_alter_table('lead_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_assignment_organization_id_user_id_kind_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_lead_assignment_organization_id_lead_id_occurred_at'))

    op.drop_table('lead_assignment')
    with op.batch_alter_table('assignment_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignment_rule_organization_id_enabled_priority'))

    op.drop_table('assignment_rule')
