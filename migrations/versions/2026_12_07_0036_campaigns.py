"""campaigns: campaign and campaign_cost; the campaign and UTM fields of leads, the campaign of
opportunities

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0036'
down_revision: str | None = '0035'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHANNELS = ('exhibition', 'online_ad', 'phone_400', 'bought_list', 'referral', 'wecom', 'other')
_UTM = ('utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content')


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f'{target}.id'], name=op.f(f'fk_{table}_{column}_{target}'), ondelete=ondelete
    )


def _entity_columns() -> list[sa.Column]:
    return [
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        'campaign',
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column(
            'channel', sa.Enum(*_CHANNELS, name='campaignchannel', native_enum=False, length=11), nullable=False
        ),
        sa.Column('starts_on', sa.Date(), nullable=True),
        sa.Column('ends_on', sa.Date(), nullable=True),
        sa.Column('budget', sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('is_archived', sa.Boolean(), nullable=False),
        sa.Column('notes', sa.String(length=2000), nullable=True),
        sa.Column('created_by_id', sa.Uuid(), nullable=True),
        *_entity_columns(),
        _fk('campaign', 'organization_id', 'organization', 'CASCADE'),
        _fk('campaign', 'created_by_id', 'user', 'SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign')),
        sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_campaign_organization_id_name')),
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_organization_id_channel'), ['organization_id', 'channel'])
        batch_op.create_index(
            batch_op.f('ix_campaign_organization_id_created_at'), ['organization_id', 'created_at']
        )
    op.create_table(
        'campaign_cost',
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('campaign_id', sa.Uuid(), nullable=False),
        sa.Column('incurred_on', sa.Date(), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=True),
        sa.Column('created_by_id', sa.Uuid(), nullable=True),
        *_entity_columns(),
        _fk('campaign_cost', 'organization_id', 'organization', 'CASCADE'),
        _fk('campaign_cost', 'campaign_id', 'campaign', 'CASCADE'),
        _fk('campaign_cost', 'created_by_id', 'user', 'SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_cost')),
    )
    with op.batch_alter_table('campaign_cost', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_campaign_cost_organization_id_campaign_id_incurred_on'),
            ['organization_id', 'campaign_id', 'incurred_on'],
        )
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign_id', sa.Uuid(), nullable=True))
        for name in _UTM:
            batch_op.add_column(sa.Column(name, sa.String(length=200), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_lead_campaign_id_campaign'), 'campaign', ['campaign_id'], ['id'], ondelete='SET NULL'
        )
        batch_op.create_index(
            batch_op.f('ix_lead_organization_id_campaign_id_created_at'),
            ['organization_id', 'campaign_id', 'created_at'],
        )
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_opportunity_campaign_id_campaign'),
            'campaign',
            ['campaign_id'],
            ['id'],
            ondelete='SET NULL',
        )
        batch_op.create_index(
            batch_op.f('ix_opportunity_organization_id_campaign_id'), ['organization_id', 'campaign_id']
        )


def downgrade() -> None:
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opportunity_organization_id_campaign_id'))
        batch_op.drop_constraint(batch_op.f('fk_opportunity_campaign_id_campaign'), type_='foreignkey')
        batch_op.drop_column('campaign_id')
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_organization_id_campaign_id_created_at'))
        batch_op.drop_constraint(batch_op.f('fk_lead_campaign_id_campaign'), type_='foreignkey')
        for name in reversed(_UTM):
            batch_op.drop_column(name)
        batch_op.drop_column('campaign_id')
    with op.batch_alter_table('campaign_cost', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_cost_organization_id_campaign_id_incurred_on'))
    op.drop_table('campaign_cost')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_organization_id_created_at'))
        batch_op.drop_index(batch_op.f('ix_campaign_organization_id_channel'))
    op.drop_table('campaign')
