"""contract reproduced

The back-test's verdict (``registry.backtest``: do the payment terms reproduce the realised history?) as an
indexed column, so the registry and the API filter on it. Existing rows get it computed from their
documents here; afterwards every write sets it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:55:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reproduced', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.create_index(batch_op.f('ix_contract_reproduced'), ['reproduced'], unique=False)
    _backfill()


def _backfill() -> None:
    # The verdict is computed by the application's own back-test, as on every write; a stored document the
    # current schema rejects keeps NULL (it could not be written again as it is either).
    from pydantic import ValidationError

    from registry.backtest import verdict_of
    from registry.schema import ContractDocument

    bind = op.get_bind()
    contract = sa.table("contract", sa.column("id"), sa.column("document", sa.JSON), sa.column("reproduced"))
    for cid, document in bind.execute(sa.select(contract.c.id, contract.c.document)).all():
        try:
            verdict = verdict_of(ContractDocument.model_validate(document))
        except ValidationError:
            continue
        if verdict is not None:
            bind.execute(contract.update().where(contract.c.id == cid).values(reproduced=verdict))


def downgrade() -> None:
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_reproduced'))
        batch_op.drop_column('reproduced')
