"""WeCom sign-in and refresh tokens: wecom_app (the organization's self-built app, secret
encrypted), refresh_token, and one user per WeCom userid in an organization

Revision ID: 0033
Revises: 0029
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db
import app.encryption

revision: str = '0033'
down_revision: str | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _entity_columns() -> list[sa.Column]:
    return [
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('wecom_app',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('corp_id', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('secret', app.encryption.EncryptedText(), nullable=False),
    *_entity_columns(),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_wecom_app_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wecom_app')),
    sa.UniqueConstraint('organization_id', name=op.f('uq_wecom_app_organization_id'))
    )
    op.create_table('refresh_token',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('expires_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', app.db.UTCDateTime(timezone=True), nullable=True),
    *_entity_columns(),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_refresh_token_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_refresh_token_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_refresh_token_token_hash'))
    )
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_token_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refresh_token_user_id'), ['user_id'], unique=False)
    # A WeCom account signs in as one user: where several users of an organization were given the
    # same wecom_userid before it was unique, the oldest keeps it and the others lose it (an admin
    # sets theirs again), so the constraint can be built instead of failing the upgrade.
    op.execute(
        'UPDATE "user" SET wecom_userid = NULL WHERE wecom_userid IS NOT NULL AND EXISTS ('
        ' SELECT 1 FROM "user" AS older WHERE older.organization_id = "user".organization_id'
        ' AND older.wecom_userid = "user".wecom_userid'
        ' AND (older.created_at < "user".created_at'
        ' OR (older.created_at = "user".created_at AND older.id < "user".id)))'
    )
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f('uq_user_organization_id_wecom_userid'), ['organization_id', 'wecom_userid']
        )


def downgrade() -> None:
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_user_organization_id_wecom_userid'), type_='unique')
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_token_user_id'))
        batch_op.drop_index(batch_op.f('ix_refresh_token_family_id'))
    op.drop_table('refresh_token')
    op.drop_table('wecom_app')
