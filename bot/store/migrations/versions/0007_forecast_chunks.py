"""Forecast chunks a big run shares with every worker (issue #18's fan-out).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecast_chunks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("tasks", sa.LargeBinary(), nullable=False),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_forecast_chunks_run_id", "forecast_chunks", ["run_id"])
    # float64 arrays barely compress: PostgreSQL's default would spend CPU trying on every
    # chunk and answer (pglz on ~370 KB each), on the server every worker shares.
    op.execute("alter table forecast_chunks alter column tasks set storage external")
    op.execute("alter table forecast_chunks alter column result set storage external")


def downgrade() -> None:
    op.drop_index("ix_forecast_chunks_run_id", table_name="forecast_chunks")
    op.drop_table("forecast_chunks")
