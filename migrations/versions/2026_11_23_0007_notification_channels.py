"""notification channels

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 13:05:14.643737
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# webhook_delivery becomes delivery, shared by webhook subscriptions and notification channels; the rows
# are copied so the delivery log and pending retries survive the upgrade.
_DELIVERY_COLUMNS = (
    'id, organization_id, subscription_id, event_id, event_type, payload, status, attempts, '
    'next_attempt_at, created_at, delivered_at, last_status_code, last_error, response_excerpt, duration_ms'
)


def _webhook_delivery_columns() -> list[sa.Column]:
    return [
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('event_type', sa.String(length=64), nullable=False),
        sa.Column('payload', app.db.JSONType, nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('response_excerpt', sa.Text(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table('notification_channel',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.Enum('wecom_robot', 'wecom_app', 'dingtalk_robot', name='channelkind', native_enum=False), nullable=False),
    sa.Column('event_types', app.db.JSONType, nullable=False),
    sa.Column('config', app.db.JSONType, nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.String(length=200), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_notification_channel_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_channel'))
    )
    with op.batch_alter_table('notification_channel', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_channel_organization_id_is_active'), ['organization_id', 'is_active'], unique=False)

    op.create_table('delivery',
    *_webhook_delivery_columns(),
    sa.Column('subscription_id', sa.Uuid(), nullable=True),
    sa.Column('channel_id', sa.Uuid(), nullable=True),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'delivered', 'gone', 'dead', 'skipped', name='deliverystatus', native_enum=False), nullable=False),
    sa.CheckConstraint('(subscription_id IS NULL) <> (channel_id IS NULL)', name=op.f('ck_delivery_one_destination')),
    sa.ForeignKeyConstraint(['channel_id'], ['notification_channel.id'], name=op.f('fk_delivery_channel_id_notification_channel'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['outbox_event.id'], name=op.f('fk_delivery_event_id_outbox_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_delivery_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscription.id'], name=op.f('fk_delivery_subscription_id_webhook_subscription'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery')),
    sa.UniqueConstraint('channel_id', 'event_id', name=op.f('uq_delivery_channel_id_event_id')),
    sa.UniqueConstraint('subscription_id', 'event_id', name=op.f('uq_delivery_subscription_id_event_id'))
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_organization_id_channel_id_created_at'), ['organization_id', 'channel_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_organization_id_subscription_id_created_at'), ['organization_id', 'subscription_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_status_next_attempt_at'), ['status', 'next_attempt_at'], unique=False)

    op.execute(f'INSERT INTO delivery ({_DELIVERY_COLUMNS}) SELECT {_DELIVERY_COLUMNS} FROM webhook_delivery')

    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_delivery_organization_id_subscription_id_created_at'))
        batch_op.drop_index(batch_op.f('ix_webhook_delivery_status_next_attempt_at'))

    op.drop_table('webhook_delivery')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wecom_userid', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('wecom_userid')

    op.create_table('webhook_delivery',
    *_webhook_delivery_columns(),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'delivered', 'gone', 'dead', name='deliverystatus', native_enum=False), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['outbox_event.id'], name=op.f('fk_webhook_delivery_event_id_outbox_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_webhook_delivery_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscription.id'], name=op.f('fk_webhook_delivery_subscription_id_webhook_subscription'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery')),
    sa.UniqueConstraint('subscription_id', 'event_id', name=op.f('uq_webhook_delivery_subscription_id_event_id'))
    )
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_delivery_status_next_attempt_at'), ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_delivery_organization_id_subscription_id_created_at'), ['organization_id', 'subscription_id', 'created_at'], unique=False)

    # Channel deliveries have no place before this revision and go with their channels.
    op.execute(
        f'INSERT INTO webhook_delivery ({_DELIVERY_COLUMNS}) SELECT {_DELIVERY_COLUMNS} FROM delivery '
        'WHERE subscription_id IS NOT NULL'
    )

    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_status_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_delivery_organization_id_subscription_id_created_at'))
        batch_op.drop_index(batch_op.f('ix_delivery_organization_id_channel_id_created_at'))

    op.drop_table('delivery')
    with op.batch_alter_table('notification_channel', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_channel_organization_id_is_active'))

    op.drop_table('notification_channel')
