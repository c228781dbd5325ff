"""kustomize's output for each batch of directories, parsed, kept between runs of one
repository.

Why: the daily run of a repository nobody changed rendered every environment again, a
fifth of a 5,000-workload plan. A batch's output is kept under a digest of the whole
repository, the code and the settings a render reads (`context`, from the caller), and the
batch's directories: any change to any file renders everything again. That is coarser than
the files each environment reads, and never wrong about them. Only successful renders are
kept; the file holds the last run's renders and nothing older.

The documents are kept as JSON, which reads ten times faster than the YAML kustomize wrote
and, unlike a pickle, cannot run code when read. A render JSON cannot hold exactly (a date,
a number as a key) is not kept: it is rendered again next time rather than read back changed.
The inventory the same files build is kept in the same file under the same digest, in the
same way (`bot/manifests/inventory_codec.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.manifests.inventory_codec import Unencodable, decoded, encoded
from bot.manifests.model import Inventory

FORMAT = "json-1"
"""Part of every key: rows an older version kept (YAML text) are never read as JSON."""


@dataclass
class RenderCache:
    path: Path
    context: str
    hits: set[str] = field(default_factory=set)
    made: dict[str, str] = field(default_factory=dict)
    """JSON of the documents rendered this run, by key, to keep. Kept ones are read from the
    file when asked for and copied by the file at `save`: holding a big repository's renders
    in memory cost half a GiB."""
    inventory_kept: bool = False
    """The file's inventory was this run's, so `save` copies it."""
    made_inventory: str | None = None
    """The inventory this run built, encoded, to keep."""

    @classmethod
    def beside(cls, forecast_cache: Path, context: str) -> RenderCache:
        """The renders kept next to the forecast cache (`FILE.renders`); an unreadable file
        is an empty cache, never an error: every render can be made again."""
        return cls(Path(f"{forecast_cache}.renders"), context)

    def lookup(self, directories: Sequence[str]) -> list[Any] | None:
        key = self._key(directories)
        text = self._kept("SELECT output FROM renders WHERE key = ?", key)
        try:
            documents = None if text is None else json.loads(text)
        except ValueError:
            return None  # damaged: rendered again, and the row replaced at save
        if not isinstance(documents, list):
            return None
        self.hits.add(key)
        return documents

    def inventory(self) -> Inventory | None:
        """The inventory built from these same files before, or None (none kept, or one
        this code cannot read back)."""
        text = self._kept("SELECT body FROM inventory WHERE key = ?", self._inventory_key)
        try:
            found = None if text is None else decoded(text)
        except (ValueError, KeyError, TypeError):
            return None
        self.inventory_kept = found is not None
        return found

    def _kept(self, query: str, key: str) -> str | None:
        """The text the file keeps under `key`, read-only; None when it has none or is not a
        cache this code wrote (an older one, a damaged one)."""
        if not self.path.is_file():
            return None
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            with closing(sqlite3.connect(uri, uri=True)) as db:
                row = db.execute(query, (key,)).fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else str(row[0])

    def keep_inventory(self, inventory: Inventory) -> None:
        """Encoded now, as built: planning goes on to change it (render checks)."""
        try:
            self.made_inventory = encoded(inventory)
        except Unencodable:
            self.made_inventory = None

    def keep(self, directories: Sequence[str], documents: list[Any]) -> None:
        try:
            text = json.dumps(documents, allow_nan=False)
        except (TypeError, ValueError):
            return
        if json.loads(text) == documents:
            self.made[self._key(directories)] = text

    def save(self) -> None:
        """This run's renders replace the file's, whole, so a run killed half-way leaves the
        last complete file, and renders of older trees do not pile up."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".renders-")
        os.close(handle)
        try:
            with closing(sqlite3.connect(temporary)) as db:
                db.execute("CREATE TABLE renders (key TEXT PRIMARY KEY, output TEXT NOT NULL)")
                db.execute("CREATE TABLE inventory (key TEXT PRIMARY KEY, body TEXT NOT NULL)")
                inventory = self._inventory_key
                if self.hits or self.inventory_kept:
                    db.execute("ATTACH DATABASE ? AS kept", (str(self.path),))
                    db.executemany(
                        "INSERT INTO renders SELECT key, output FROM kept.renders WHERE key = ?",
                        [(key,) for key in sorted(self.hits)],
                    )
                if self.inventory_kept:
                    db.execute(
                        "INSERT INTO inventory SELECT key, body FROM kept.inventory WHERE key = ?",
                        (inventory,),
                    )
                elif self.made_inventory is not None:
                    db.execute(
                        "INSERT INTO inventory VALUES (?, ?)", (inventory, self.made_inventory)
                    )
                db.executemany("INSERT OR REPLACE INTO renders VALUES (?, ?)", self.made.items())
                db.commit()
            os.replace(temporary, self.path)
        finally:
            Path(temporary).unlink(missing_ok=True)

    @property
    def _inventory_key(self) -> str:
        return self._key(["\0inventory"])  # no directory's name holds a NUL

    def _key(self, directories: Sequence[str]) -> str:
        return hashlib.sha256("\n".join([FORMAT, self.context, *directories]).encode()).hexdigest()
