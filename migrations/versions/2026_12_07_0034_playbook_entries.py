"""playbook library: playbook_entry, the playbook_term search index and playbook_use

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 13:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0034'
down_revision: str | None = '0033'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ('case', 'objection_answer', 'script', 'policy', 'recording')
_STATES = ('draft', 'pending', 'approved', 'rejected')


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f'{target}.id'], name=op.f(f'fk_{table}_{column}_{target}'), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        'playbook_entry',
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column(
            'kind', sa.Enum(*_KINDS, name='playbookkind', native_enum=False, length=16), nullable=False
        ),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('industry', sa.String(length=64), nullable=True),
        sa.Column('customer_type', sa.String(length=64), nullable=True),
        sa.Column('stage_id', sa.Uuid(), nullable=True),
        sa.Column('product_line', sa.String(length=64), nullable=True),
        sa.Column('objection_type', sa.String(length=64), nullable=True),
        sa.Column('author_id', sa.Uuid(), nullable=True),
        sa.Column('activity_id', sa.Uuid(), nullable=True),
        sa.Column(
            'approval_state',
            sa.Enum(*_STATES, name='approvalstate', native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column('approval_decided_by_id', sa.Uuid(), nullable=True),
        sa.Column('approval_decided_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('approval_reason', sa.String(length=500), nullable=True),
        sa.Column('usage_count', sa.Integer(), nullable=False),
        sa.Column('search_terms', sa.Text(), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        _fk('playbook_entry', 'organization_id', 'organization', 'CASCADE'),
        _fk('playbook_entry', 'stage_id', 'pipeline_stage', 'SET NULL'),
        _fk('playbook_entry', 'author_id', 'user', 'SET NULL'),
        _fk('playbook_entry', 'activity_id', 'activity', 'SET NULL'),
        _fk('playbook_entry', 'approval_decided_by_id', 'user', 'SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_playbook_entry')),
    )
    with op.batch_alter_table('playbook_entry', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_playbook_entry_organization_id_approval_state_created_at'),
            ['organization_id', 'approval_state', 'created_at'],
        )
        batch_op.create_index(
            batch_op.f('ix_playbook_entry_organization_id_author_id'), ['organization_id', 'author_id']
        )
    op.create_table(
        'playbook_term',
        sa.Column('entry_id', sa.Uuid(), nullable=False),
        sa.Column('term', sa.String(length=64), nullable=False),
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('is_tag', sa.Boolean(), nullable=False),
        _fk('playbook_term', 'entry_id', 'playbook_entry', 'CASCADE'),
        _fk('playbook_term', 'organization_id', 'organization', 'CASCADE'),
        sa.PrimaryKeyConstraint('entry_id', 'term', name=op.f('pk_playbook_term')),
    )
    with op.batch_alter_table('playbook_term', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_playbook_term_organization_id_term_entry_id_is_tag'),
            ['organization_id', 'term', 'entry_id', 'is_tag'],
        )
    op.create_table(
        'playbook_use',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('entry_id', sa.Uuid(), nullable=False),
        sa.Column('activity_id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=True),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        _fk('playbook_use', 'organization_id', 'organization', 'CASCADE'),
        _fk('playbook_use', 'entry_id', 'playbook_entry', 'CASCADE'),
        _fk('playbook_use', 'activity_id', 'activity', 'CASCADE'),
        _fk('playbook_use', 'user_id', 'user', 'SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_playbook_use')),
        sa.UniqueConstraint('entry_id', 'activity_id', name=op.f('uq_playbook_use_entry_id_activity_id')),
    )


def downgrade() -> None:
    op.drop_table('playbook_use')
    with op.batch_alter_table('playbook_term', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_playbook_term_organization_id_term_entry_id_is_tag'))
    op.drop_table('playbook_term')
    with op.batch_alter_table('playbook_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_playbook_entry_organization_id_author_id'))
        batch_op.drop_index(batch_op.f('ix_playbook_entry_organization_id_approval_state_created_at'))
    op.drop_table('playbook_entry')
