"""Domain Match Rules: which names a managed challenge config or role may serve."""

from __future__ import annotations

import enum
import functools
import logging
import re
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from publicsuffixlist import PublicSuffixList

from hub_server.errors import ConflictError, ValidationError
from hub_server.names import normalize_name, quote_input

logger = logging.getLogger(__name__)

ConfigId = TypeVar("ConfigId", bound=Hashable)

_SEPARATORS = re.compile(r"[;,]")


class EntryKind(enum.Enum):
    """The four forms a rule entry takes."""

    EXACT = "exact"  # example.com
    WILDCARD = "wildcard"  # *.example.com: the name and one label below
    SUBTREE = "subtree"  # **.example.com: the name and any depth below
    ANY = "any"  # *: every name


_PREFIXES = {
    EntryKind.EXACT: "",
    EntryKind.WILDCARD: "*.",
    EntryKind.SUBTREE: "**.",
}


@dataclass(frozen=True)
class RuleEntry:
    """One entry of a rule: a kind and a normalised base name ("" for ``*``)."""

    kind: EntryKind
    base: str

    def __str__(self) -> str:
        if self.kind is EntryKind.ANY:
            return "*"
        return _PREFIXES[self.kind] + self.base

    def matches(self, name: str) -> bool:
        """Tell whether this entry admits ``name``, which must be normalised.

        Matching is on label boundaries: ``example.com`` never admits
        ``badexample.com``.
        """
        if self.kind is EntryKind.ANY or name == self.base:
            return True
        if self.kind is EntryKind.EXACT or not name.endswith("." + self.base):
            return False
        if self.kind is EntryKind.SUBTREE:
            return True
        # One label below, which includes the wildcard identifier "*.<base>".
        head = name[: -len(self.base) - 1]
        return "." not in head


@dataclass(frozen=True)
class DomainMatchRule:
    """A parsed rule: its entries in the order written, duplicates dropped.

    ``str(rule)`` is the normalised text, entries joined by ``"; "``.
    """

    entries: tuple[RuleEntry, ...]

    def __str__(self) -> str:
        return "; ".join(str(entry) for entry in self.entries)

    def matches(self, identifier: str) -> bool:
        """Tell whether any entry admits ``identifier`` (normalised here first).

        Raises:
            ValidationError: the identifier is not a valid name.
        """
        name = normalize_name(identifier)
        return any(entry.matches(name) for entry in self.entries)


def parse_rule(text: str, field: str = "domain_match_rule") -> DomainMatchRule:
    """Parse a rule: entries separated by ``;`` or ``,``.

    Entries are ``name``, ``*.name``, ``**.name`` or ``*`` alone; names are
    normalised like identifiers. An entry whose base is a public suffix (ICANN
    section of the Public Suffix List, where an unlisted top-level label counts
    as one) is refused: it would hand a token a whole registry.

    Raises:
        ValidationError: naming ``field`` and the offending entry.
    """
    if not text.strip():
        raise ValidationError(field, "the rule is empty; write '*' to match every name")

    entries: list[RuleEntry] = []
    for part in _SEPARATORS.split(text):
        entry = _parse_entry(part.strip(), text, field)
        if entry not in entries:
            entries.append(entry)
    return DomainMatchRule(tuple(entries))


def _parse_entry(part: str, text: str, field: str) -> RuleEntry:
    """Parse one trimmed entry of ``text``."""
    if not part:
        raise ValidationError(field, f"{quote_input(text)} has an empty entry")
    if part == "*":
        return RuleEntry(EntryKind.ANY, "")

    if part.startswith("**."):
        try:
            base = normalize_name(part[3:], field, allow_wildcard=False)
        except ValidationError as exc:
            raise ValidationError(
                field, f"entry {quote_input(part)}: {exc.rule}"
            ) from exc
        entry = RuleEntry(EntryKind.SUBTREE, base)
    else:
        name = normalize_name(part, field, allow_wildcard=True)
        if name.startswith("*."):
            entry = RuleEntry(EntryKind.WILDCARD, name[2:])
        else:
            entry = RuleEntry(EntryKind.EXACT, name)

    if _public_suffixes().is_public(entry.base):
        raise ValidationError(
            field,
            f"entry {str(entry)!r}: {entry.base!r} is a public suffix; "
            "name a domain below it",
        )
    return entry


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    """Load the Public Suffix List shipped with the package, ICANN section only."""
    # Private-section names (github.io and the like) are ordinary domains to an
    # organisation that owns them, so only the ICANN section is refused.
    return PublicSuffixList(only_icann=True)


class MatchKind(enum.Enum):
    """Why an entry matched, in order of precedence: most specific first."""

    EQUAL = "equal"  # the entry is the identifier itself
    PARENT_WILDCARD = "parent-wildcard"  # "*.<parent>": one label below
    BASE_NAME = "base-name"  # "*.<identifier>" admits its own base name
    SUBTREE = "subtree"  # "**.<suffix>", longer suffixes first
    ANY = "any"  # "*"


@dataclass(frozen=True)
class Match(Generic[ConfigId]):
    """The config chosen for an identifier, the entry that matched, and why."""

    config_id: ConfigId
    entry: RuleEntry
    kind: MatchKind


# One place to look for an identifier: what a hit there means, the kind of entry
# held there, that kind's table, and the key.
_Probe = tuple[MatchKind, EntryKind, dict[str, dict[ConfigId, None]], str]


class RuleIndex(Generic[ConfigId]):
    """Many configs' rules, indexed by name so a lookup walks only the labels.

    Each entry belongs to one config: a second config with the same entry is
    refused. Safe to share between threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[ConfigId, DomainMatchRule] = {}
        # kind -> base -> configs holding that entry, in the order they were added
        # (a dict used as an ordered set).
        self._tables: dict[EntryKind, dict[str, dict[ConfigId, None]]] = {
            kind: {} for kind in EntryKind
        }
        # The same tables by name, so a lookup does not hash enum members.
        self._exact = self._tables[EntryKind.EXACT]
        self._wildcard = self._tables[EntryKind.WILDCARD]
        self._subtree = self._tables[EntryKind.SUBTREE]
        self._any = self._tables[EntryKind.ANY]

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, config_id: object) -> bool:
        return config_id in self._rules

    def rule(self, config_id: ConfigId) -> DomainMatchRule | None:
        """Return the rule held for ``config_id``, or None."""
        return self._rules.get(config_id)

    def add(
        self,
        config_id: ConfigId,
        rule: DomainMatchRule,
        *,
        allow_duplicates: bool = False,
    ) -> None:
        """Index ``rule`` for ``config_id``, replacing the rule it had.

        ``allow_duplicates`` admits an entry another config already holds (when
        loading rows that several hubs saved at once); the config added first
        then wins.

        Raises:
            ConflictError: another config holds one of the entries.
        """
        with self._lock:
            if not allow_duplicates:
                self._refuse_conflicts(rule, config_id)
            self._remove_locked(config_id)
            self._rules[config_id] = rule
            for entry in rule.entries:
                holders = self._tables[entry.kind].setdefault(entry.base, {})
                holders[config_id] = None
        logger.debug("indexed config %r with rule %r", config_id, str(rule))

    def remove(self, config_id: ConfigId) -> bool:
        """Drop ``config_id``'s rule; False if it was not indexed."""
        with self._lock:
            return self._remove_locked(config_id)

    def conflicts(
        self, rule: DomainMatchRule, ignore: ConfigId | None = None
    ) -> ConfigId | None:
        """Return another config holding one of ``rule``'s entries, or None.

        ``ignore`` names the config being updated, whose own entries are no
        conflict.
        """
        with self._lock:
            found = self._find_conflict(rule, ignore)
        return None if found is None else found[0]

    def best_match(
        self,
        identifier: str,
        allowed: Callable[[ConfigId], bool] | None = None,
    ) -> Match[ConfigId] | None:
        """Return the most specific config whose rule admits ``identifier``.

        Precedence: an entry equal to the identifier, then ``*.<parent>``, then
        ``*.<identifier>`` (its base name), then ``**.`` entries with the longest
        base first, then ``*``. ``allowed`` skips configs the caller may not
        use; it is called outside the index's lock. None when nothing matches.

        Raises:
            ValidationError: the identifier is not a valid name.
        """
        name = normalize_name(identifier)
        hits: list[tuple[MatchKind, EntryKind, str, tuple[ConfigId, ...]]] = []
        with self._lock:
            for match_kind, entry_kind, table, base in self._probes(name):
                holders = table.get(base)
                if holders:
                    hits.append((match_kind, entry_kind, base, tuple(holders)))
                    if allowed is None:
                        break

        for match_kind, entry_kind, base, config_ids in hits:
            for config_id in config_ids:
                if allowed is None or allowed(config_id):
                    match = Match(config_id, RuleEntry(entry_kind, base), match_kind)
                    logger.debug(
                        "%s matched entry '%s' of config %r (%s)",
                        name,
                        match.entry,
                        config_id,
                        match_kind.value,
                    )
                    return match
        logger.debug("no config matched %s", name)
        return None

    def _probes(self, name: str) -> list[_Probe[ConfigId]]:
        """List where to look for a normalised identifier, most specific first.

        The list grows with the identifier's labels, never with the number of
        configs.
        """
        probes: list[_Probe[ConfigId]] = []
        if name.startswith("*."):
            # A wildcard identifier is matched only by the same "*." entry, by
            # "**." entries above it, and by "*".
            base = name[2:]
            probes.append((MatchKind.EQUAL, EntryKind.WILDCARD, self._wildcard, base))
        else:
            base = name
            probes.append((MatchKind.EQUAL, EntryKind.EXACT, self._exact, name))
            if "." in name:
                parent = name.split(".", 1)[1]
                probes.append(
                    (
                        MatchKind.PARENT_WILDCARD,
                        EntryKind.WILDCARD,
                        self._wildcard,
                        parent,
                    )
                )
            probes.append(
                (MatchKind.BASE_NAME, EntryKind.WILDCARD, self._wildcard, name)
            )

        suffix = base
        while True:
            probes.append((MatchKind.SUBTREE, EntryKind.SUBTREE, self._subtree, suffix))
            if "." not in suffix:
                break
            suffix = suffix.split(".", 1)[1]

        probes.append((MatchKind.ANY, EntryKind.ANY, self._any, ""))
        return probes

    def _refuse_conflicts(self, rule: DomainMatchRule, config_id: ConfigId) -> None:
        """Raise ConflictError naming the other config, if there is one."""
        found = self._find_conflict(rule, config_id)
        if found is not None:
            other, entry = found
            raise ConflictError(
                f"domain match rule entry {str(entry)!r} is already used by "
                f"managed challenge config {other!r}"
            )

    def _find_conflict(
        self, rule: DomainMatchRule, ignore: ConfigId | None
    ) -> tuple[ConfigId, RuleEntry] | None:
        """Find another config holding one of the entries; the lock is held."""
        for entry in rule.entries:
            for holder in self._tables[entry.kind].get(entry.base, ()):
                if holder != ignore:
                    return holder, entry
        return None

    def _remove_locked(self, config_id: ConfigId) -> bool:
        """Drop a config's entries; the lock is held."""
        rule = self._rules.pop(config_id, None)
        if rule is None:
            return False
        for entry in rule.entries:
            table = self._tables[entry.kind]
            holders = table.get(entry.base)
            if holders is None:
                continue
            holders.pop(config_id, None)
            if not holders:
                del table[entry.base]
        return True


def candidate_entries(identifier: str) -> list[str]:
    """Every entry text that could match ``identifier``, most specific first.

    Stored rule entries are looked up by these texts, so matching against a
    database of configs costs one indexed query whatever their number.
    """
    probes = RuleIndex[str]()._probes(normalize_name(identifier))
    return [str(RuleEntry(entry_kind, base)) for _, entry_kind, _, base in probes]
