"""When each repository's scheduled run was last queued: every web replica runs the
schedules, and the first to fire takes the slot (issue #18).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "repositories", sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("repositories", "scheduled_at")
