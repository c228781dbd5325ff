"""The queue moves to procrastinate (issue #18): its schema in, the hand-written jobs out.

Revision ID: 0002
Revises: 0001

procrastinate's schema is the one its pinned release ships (`pyproject.toml` pins the minor
version): a later release is taken in by a migration of its own that runs procrastinate's
migration files, as its upgrade guide asks. Runs keep their job id, without the foreign key:
the engine may delete the jobs it has finished.
"""

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Many statements and dollar-quoted function bodies: sent as one script, unparsed.
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    driver.execute(SchemaManager.get_schema())
    op.drop_constraint("runs_job_id_fkey", "runs", type_="foreignkey")
    op.alter_column("runs", "job_id", type_=sa.BigInteger())
    op.drop_index("one_queued_job_per_reason", table_name="jobs")
    op.drop_table("jobs")


def downgrade() -> None:
    raise NotImplementedError("one way: the queued jobs now live in procrastinate's tables")
