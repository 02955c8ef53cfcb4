"""reference rates

``reference_rate`` holds the exchange-rate and price-index rows loaded with ``utfall rates refresh``; each
overrides the shipped row of the same table, currency and year.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 06:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'reference_rate',
        sa.Column('table_name', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('row', sa.JSON(), nullable=False),
        sa.Column('loaded_from', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('loaded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('table_name', 'currency', 'year'),
    )


def downgrade() -> None:
    op.drop_table('reference_rate')
