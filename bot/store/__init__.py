"""What the service remembers, on PostgreSQL: the operator's cluster, or one embedded in the
service's data directory for a trial (`database.py`). One part per concern, each a small
class over the shared `Database`; storage knows nothing of planning (import-linter)."""

from __future__ import annotations

from bot.store.budgets import Budgets
from bot.store.chunks import Chunks
from bot.store.database import Database
from bot.store.deliveries import Deliveries
from bot.store.overrides import Overrides
from bot.store.queue import Queue
from bot.store.releases import Releases
from bot.store.repositories import Repositories
from bot.store.runs import Runs
from bot.store.verifications import Verifications


class Store:
    """The parts, opened on one database."""

    def __init__(self, url: str) -> None:
        self.database = Database(url)
        self.engine = self.database.engine
        self.session = self.database.session
        self.ready = self.database.ready
        self.deliveries = Deliveries(self.database)
        self.repositories = Repositories(self.database)
        self.queue = Queue(self.database)
        self.runs = Runs(self.database)
        self.overrides = Overrides(self.database)
        self.budgets = Budgets(self.database)
        self.releases = Releases(self.database)
        self.verifications = Verifications(self.database)
        self.chunks = Chunks(self.database)
