"""Webhook deliveries seen, by the forge's delivery id: a redelivery (same id) is recognised
and acted on once; one whose handling failed is forgotten so that the forge's retry gets
through."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from bot.store.database import Database, now
from bot.store.tables import Delivery

DUPLICATE = "duplicate"


class Deliveries:
    def __init__(self, database: Database) -> None:
        self.session = database.session

    def first(self, delivery: str, forge: str, event_name: str) -> bool:
        """True the first time a delivery id is seen; GitHub redelivers with the same id."""
        with self.session() as session:
            return insert_delivery(session, delivery, forge, event_name)

    def forget(self, delivery: str) -> None:
        """Let a redelivery through again: acting on this one failed."""
        with self.session() as session:
            session.execute(delete(Delivery).where(Delivery.id == delivery))


def insert_delivery(session: Session, delivery: str, forge: str, event: str) -> bool:
    """Whether the delivery is new; a seen one is left as it is, and the transaction stays
    usable (no error is raised for it)."""
    values = {"id": delivery, "forge": forge, "event": event, "received_at": now()}
    # RETURNING, not rowcount: psycopg reports -1 rows for an INSERT ... ON CONFLICT.
    statement = insert(Delivery).values(**values).on_conflict_do_nothing()
    return session.execute(statement.returning(Delivery.id)).first() is not None
