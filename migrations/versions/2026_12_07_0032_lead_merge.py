"""lead merge: merged_into_id on leads and the lead_merge record an undo reads; one live customer
per phone and per e-mail (phone_key, email_key)

Customers that already share a phone or an e-mail (accepted before they were unique) keep them as
they are shown; only the key of each but the oldest gets "#<its code>" after it, so the unique
indexes can be built. docs/leads-and-customers.md says how to find and merge them.

Revision ID: 0032
Revises: 0025
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0032'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text('merged_into_id IS NULL')


def _mark_legacy_duplicates(key: str) -> sa.TextClause:
    """Every live customer but the oldest (earliest created, then lowest code) sharing the key."""
    return sa.text(
        f"""
        UPDATE customer SET {key} = {key} || '#' || code
        WHERE merged_into_id IS NULL AND {key} IS NOT NULL AND EXISTS (
            SELECT 1 FROM customer AS older
            WHERE older.organization_id = customer.organization_id
              AND older.{key} = customer.{key}
              AND older.merged_into_id IS NULL
              AND (older.created_at < customer.created_at
                   OR (older.created_at = customer.created_at AND older.code < customer.code))
        )
        """
    )


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('email_key', sa.String(length=280), nullable=True))
    op.execute('UPDATE customer SET phone_key = phone, email_key = email')
    for key in ('phone_key', 'email_key'):
        op.execute(_mark_legacy_duplicates(key))
        op.create_index(
            f'uq_customer_live_{key}',
            'customer',
            ['organization_id', key],
            unique=True,
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        )
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('merged_at', app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_lead_merged_into_id_lead'), 'lead', ['merged_into_id'], ['id'])
    _create_lead_merge()


def _create_lead_merge() -> None:
    op.create_table(
        'lead_merge',
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('survivor_id', sa.Uuid(), nullable=False),
        sa.Column('duplicate_id', sa.Uuid(), nullable=False),
        sa.Column('merged_by_id', sa.Uuid(), nullable=True),
        sa.Column('merged_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('moved', app.db.JSONType, nullable=False),
        sa.Column('stopped_timers', app.db.JSONType, nullable=False),
        sa.Column('duplicate_status', sa.Enum(
            'new', 'pooled', 'assigned', 'contacted', 'qualified', 'converted', 'disqualified', 'merged',
            name='leadstatus', native_enum=False, length=12,
        ), nullable=False),
        sa.Column('filled', app.db.JSONType, nullable=False),
        sa.Column('undone_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('undone_by_id', sa.Uuid(), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['duplicate_id'], ['lead.id'], name=op.f('fk_lead_merge_duplicate_id_lead'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['merged_by_id'], ['user.id'], name=op.f('fk_lead_merge_merged_by_id_user'), ondelete='SET NULL'
        ),
        sa.ForeignKeyConstraint(
            ['organization_id'], ['organization.id'],
            name=op.f('fk_lead_merge_organization_id_organization'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['survivor_id'], ['lead.id'], name=op.f('fk_lead_merge_survivor_id_lead'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['undone_by_id'], ['user.id'], name=op.f('fk_lead_merge_undone_by_id_user'), ondelete='SET NULL'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_merge')),
    )
    with op.batch_alter_table('lead_merge', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_lead_merge_organization_id_survivor_id'), ['organization_id', 'survivor_id']
        )
        batch_op.create_index(
            batch_op.f('ix_lead_merge_organization_id_duplicate_id'), ['organization_id', 'duplicate_id']
        )


def downgrade() -> None:
    op.drop_table('lead_merge')
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_lead_merged_into_id_lead'), type_='foreignkey')
        batch_op.drop_column('merged_at')
        batch_op.drop_column('merged_into_id')
    op.drop_index('uq_customer_live_email_key', table_name='customer')
    op.drop_index('uq_customer_live_phone_key', table_name='customer')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('email_key')
        batch_op.drop_column('phone_key')
