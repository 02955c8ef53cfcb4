"""contract repayment class

``contract.repayment_class`` holds what the investors of each contract got back (full, partial, none, unknown),
derived on every write from the document by ``registry.market.repayment_of``: published investor results, else
the stated investor repayment, else the realised IRR. The registry filter, the API and the market statistics
read it instead of classifying the stated text on every request. Existing rows are classified here, the way
every write does.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 06:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The application's own classification, as on every write: derived from the stored document.
    from registry.market import repayment_of

    with op.batch_alter_table('contract') as batch:
        batch.add_column(sa.Column('repayment_class', sa.String(length=8), nullable=False,
                                   server_default='unknown'))
        batch.create_index('ix_contract_repayment_class', ['repayment_class'])
    bind = op.get_bind()
    contract = sa.table("contract", sa.column("id", sa.String), sa.column("document", sa.JSON),
                        sa.column("repayment_class", sa.String))
    for key, document in bind.execute(sa.select(contract.c.id, contract.c.document)).all():
        cls = repayment_of(document or {}).cls
        if cls != "unknown":
            bind.execute(contract.update().where(contract.c.id == key).values(repayment_class=cls))


def downgrade() -> None:
    with op.batch_alter_table('contract') as batch:
        batch.drop_index('ix_contract_repayment_class')
        batch.drop_column('repayment_class')
