"""back-test verdicts per payment

The back-test now judges each recorded payment on its own (an unrecorded outcome blocks only the payments that
depend on it) and has a fourth verdict, ``partly``; a tier table that jumps over a recorded figure is a ``no``.
The verdicts stored in ``contract.reproduced`` by the earlier back-test are recomputed here, the way every
write computes them, so the registry and the API do not filter on stale ones until each contract is written
again. A stored document the current schema rejects keeps what it has.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The application's own back-test, as on every write: the verdict is derived from the document, never data.
    from pydantic import ValidationError

    from registry.backtest import verdict_of
    from registry.schema import ContractDocument

    bind = op.get_bind()
    contract = sa.table("contract", sa.column("id", sa.String), sa.column("document", sa.JSON),
                        sa.column("reproduced", sa.String))
    for key, document, stored in bind.execute(
            sa.select(contract.c.id, contract.c.document, contract.c.reproduced)).all():
        try:
            verdict = verdict_of(ContractDocument.model_validate(document))
        except ValidationError:
            continue
        if verdict != stored:
            bind.execute(contract.update().where(contract.c.id == key).values(reproduced=verdict))


def downgrade() -> None:
    # The earlier back-test is gone; its verdicts cannot be recomputed. ``partly`` (which it did not have) reads
    # as the nearest it had: cannot tell.
    contract = sa.table("contract", sa.column("reproduced", sa.String))
    op.get_bind().execute(contract.update().where(contract.c.reproduced == "partly").values(reproduced="unknown"))
