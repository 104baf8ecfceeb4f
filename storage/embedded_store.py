"""The embedded DNS server's TXT values, kept in the database so hubs share them."""

from __future__ import annotations

from storage import models


class DatabaseRecordStore:
    """An ``EmbeddedRecordStore`` over the ``embedded_txt_record`` table."""

    def add(self, name: str, value: str, ttl: int) -> None:
        """Add a value; adding it again only updates its TTL."""
        record = models.EmbeddedTxtRecord
        record.insert(name=name, value=value, ttl=ttl).on_conflict(
            conflict_target=[record.name, record.value], update={record.ttl: ttl}
        ).execute()

    def remove(self, name: str, value: str) -> None:
        record = models.EmbeddedTxtRecord
        record.delete().where((record.name == name) & (record.value == value)).execute()

    def lookup(self, name: str) -> list[tuple[str, int]]:
        record = models.EmbeddedTxtRecord
        rows = (
            record.select(record.value, record.ttl)
            .where(record.name == name)
            .order_by(record.created_at, record.id)
        )
        return [(row.value, row.ttl) for row in rows]

    def has_descendants(self, name: str) -> bool:
        record = models.EmbeddedTxtRecord
        return record.select().where(record.name.endswith("." + name)).exists()
