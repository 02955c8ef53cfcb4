"""portfolio share links

``portfolio_share`` holds the read-only links an owner makes to a portfolio: a random token, when it was made
and, once revoked, when.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 06:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'portfolio_share',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('portfolio_id', sa.Integer(), nullable=False),
        sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['portfolio_id'], ['portfolio.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('portfolio_share', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portfolio_share_portfolio_id'), ['portfolio_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_portfolio_share_token'), ['token'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('portfolio_share', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portfolio_share_token'))
        batch_op.drop_index(batch_op.f('ix_portfolio_share_portfolio_id'))
    op.drop_table('portfolio_share')
