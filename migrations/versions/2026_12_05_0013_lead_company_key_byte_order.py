"""lead.company_key in byte order ("C") on PostgreSQL, so its index serves the fuzzy duplicate
look-up's prefix LIKE and nearest-name ranges instead of a scan of the tenant's leads

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 22:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite compares text bytewise already.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE lead ALTER COLUMN company_key TYPE VARCHAR(200) COLLATE "C"')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE lead ALTER COLUMN company_key TYPE VARCHAR(200) COLLATE "default"')
