"""customer de-duplication and merge: uscc, phone and e-mail keys, one live customer per name key,
merged_into_id, and the customer_merge record an undo reads

Customers that already share a name key (accepted before it was unique) stay as they are but the
oldest; each later one gets "#<its code>" after its key, so the unique index can be built and
nothing is hidden or moved without a person deciding. docs/leads-and-customers.md says how to find
and merge them.

Revision ID: 0025
Revises: 0026
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0025'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text('merged_into_id IS NULL')

# Every customer but the oldest of its name key (earliest created, then lowest code) is marked;
# the key is cut so that key, mark and code fit the column's 200 characters.
MARK_LEGACY_DUPLICATES = sa.text(
    """
    UPDATE customer SET name_key = substr(name_key, 1, 183) || '#' || code
    WHERE EXISTS (
        SELECT 1 FROM customer AS older
        WHERE older.organization_id = customer.organization_id
          AND older.name_key = customer.name_key
          AND (older.created_at < customer.created_at
               OR (older.created_at = customer.created_at AND older.code < customer.code))
    )
    """
)


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uscc', sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(
            sa.Column('possible_duplicates', app.db.JSONType, nullable=False, server_default='[]')
        )
        batch_op.add_column(sa.Column('merged_into_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('merged_at', app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_customer_merged_into_id_customer'), 'customer', ['merged_into_id'], ['id']
        )
        batch_op.create_index(batch_op.f('ix_customer_organization_id_phone'), ['organization_id', 'phone'])
        batch_op.create_index(batch_op.f('ix_customer_organization_id_email'), ['organization_id', 'email'])
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.alter_column('possible_duplicates', server_default=None)
    op.execute(MARK_LEGACY_DUPLICATES)
    for name, column in (('uq_customer_live_name_key', 'name_key'), ('uq_customer_live_uscc', 'uscc')):
        op.create_index(
            name,
            'customer',
            ['organization_id', column],
            unique=True,
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        )
    # The contact (organization_id, phone / email) indexes de-duplication reads come with 0022.
    _create_customer_merge()


def _create_customer_merge() -> None:
    op.create_table(
        'customer_merge',
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('survivor_id', sa.Uuid(), nullable=False),
        sa.Column('duplicate_id', sa.Uuid(), nullable=False),
        sa.Column('merged_by_id', sa.Uuid(), nullable=True),
        sa.Column('merged_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('moved', app.db.JSONType, nullable=False),
        sa.Column('stopped_timers', app.db.JSONType, nullable=False),
        sa.Column('previous_last_follow_up_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('undone_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('undone_by_id', sa.Uuid(), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['duplicate_id'], ['customer.id'],
            name=op.f('fk_customer_merge_duplicate_id_customer'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['merged_by_id'], ['user.id'], name=op.f('fk_customer_merge_merged_by_id_user'), ondelete='SET NULL'
        ),
        sa.ForeignKeyConstraint(
            ['organization_id'], ['organization.id'],
            name=op.f('fk_customer_merge_organization_id_organization'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['survivor_id'], ['customer.id'],
            name=op.f('fk_customer_merge_survivor_id_customer'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['undone_by_id'], ['user.id'], name=op.f('fk_customer_merge_undone_by_id_user'), ondelete='SET NULL'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_merge')),
    )
    with op.batch_alter_table('customer_merge', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_customer_merge_organization_id_survivor_id'), ['organization_id', 'survivor_id']
        )
        batch_op.create_index(
            batch_op.f('ix_customer_merge_organization_id_duplicate_id'), ['organization_id', 'duplicate_id']
        )


def downgrade() -> None:
    op.drop_table('customer_merge')
    op.drop_index('uq_customer_live_uscc', table_name='customer')
    op.drop_index('uq_customer_live_name_key', table_name='customer')
    # The legacy-duplicate marks stay: the non-unique index does not mind them, and the name keys
    # are recomputed from the name on the next rename.
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_organization_id_email'))
        batch_op.drop_index(batch_op.f('ix_customer_organization_id_phone'))
        batch_op.drop_constraint(batch_op.f('fk_customer_merged_into_id_customer'), type_='foreignkey')
        batch_op.drop_column('merged_at')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('possible_duplicates')
        batch_op.drop_column('email')
        batch_op.drop_column('phone')
        batch_op.drop_column('uscc')
