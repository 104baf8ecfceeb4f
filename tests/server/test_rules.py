"""Domain Match Rules parse, match on label boundaries and pick the closest config."""

from __future__ import annotations

import logging
import threading

import pytest

from bench import bench_rules
from hub_server.errors import ConflictError, ValidationError
from hub_server.rules import (
    DomainMatchRule,
    EntryKind,
    MatchKind,
    RuleEntry,
    RuleIndex,
    parse_rule,
)


@pytest.mark.parametrize(
    ("text", "normalised", "kinds"),
    [
        pytest.param("example.com", "example.com", ["exact"], id="exact"),
        pytest.param("*.example.com", "*.example.com", ["wildcard"], id="wildcard"),
        pytest.param("**.example.com", "**.example.com", ["subtree"], id="subtree"),
        pytest.param("*", "*", ["any"], id="any"),
        pytest.param(
            " Example.COM. ;*.example.com , **.Example.org",
            "example.com; *.example.com; **.example.org",
            ["exact", "wildcard", "subtree"],
            id="both-separators-trimmed",
        ),
        pytest.param(
            "example.com; EXAMPLE.com.", "example.com", ["exact"], id="duplicates"
        ),
        pytest.param(
            "*.büro.example", "*.xn--bro-hoa.example", ["wildcard"], id="F12-u-label"
        ),
        # The private section of the suffix list is an ordinary domain here.
        pytest.param("**.github.io", "**.github.io", ["subtree"], id="private-suffix"),
        pytest.param("*.example.co.uk", "*.example.co.uk", ["wildcard"], id="F06"),
    ],
)
def test_parse_rule(text: str, normalised: str, kinds: list[str]) -> None:
    rule = parse_rule(text)

    assert str(rule) == normalised
    assert [entry.kind.value for entry in rule.entries] == kinds
    assert parse_rule(str(rule)) == rule


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "",
            "domain_match_rule: the rule is empty; write '*' to match every name",
            id="empty",
        ),
        pytest.param(
            "  ",
            "domain_match_rule: the rule is empty; write '*' to match every name",
            id="blank",
        ),
        pytest.param(
            "example.com;;www.example.com",
            "domain_match_rule: 'example.com;;www.example.com' has an empty entry",
            id="empty-entry",
        ),
        pytest.param(
            "example.com,",
            "domain_match_rule: 'example.com,' has an empty entry",
            id="trailing-separator",
        ),
        # F11: public suffixes, in every form, named in the message.
        pytest.param(
            "*.com",
            "domain_match_rule: entry '*.com': 'com' is a public suffix; "
            "name a domain below it",
            id="F11-wildcard-com",
        ),
        pytest.param(
            "co.uk",
            "domain_match_rule: entry 'co.uk': 'co.uk' is a public suffix; "
            "name a domain below it",
            id="F11-co-uk",
        ),
        pytest.param(
            "example.com; **.co.uk",
            "domain_match_rule: entry '**.co.uk': 'co.uk' is a public suffix; "
            "name a domain below it",
            id="F11-subtree-co-uk",
        ),
        pytest.param(
            "**.COM.",
            "domain_match_rule: entry '**.com': 'com' is a public suffix; "
            "name a domain below it",
            id="F11-normalised-first",
        ),
        pytest.param(
            "*.xn--p1ai",
            "domain_match_rule: entry '*.xn--p1ai': 'xn--p1ai' is a public suffix; "
            "name a domain below it",
            id="F11-idn-tld",
        ),
        pytest.param(
            "*.*.example.com",
            "domain_match_rule: '*.*.example.com': '*' is allowed only as a "
            "leading '*.' label",
            id="two-wildcards",
        ),
        pytest.param(
            "**.*.example.com",
            "domain_match_rule: entry '**.*.example.com': '*.example.com': "
            "a wildcard is not allowed",
            id="subtree-of-wildcard",
        ),
        pytest.param(
            "***.example.com",
            "domain_match_rule: '***.example.com': '*' is allowed only as a "
            "leading '*.' label",
            id="three-stars",
        ),
        pytest.param(
            "example.com; bad name.example.com",
            "domain_match_rule: 'bad name.example.com': character ' ' is not "
            "allowed in a name",
            id="bad-character",
        ),
        pytest.param(
            f"{'a' * 64}.example.com",
            f"label '{'a' * 64}' is longer than 63 octets",
            id="label-64",
        ),
    ],
)
def test_parse_rule_refuses(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_rule(text)

    assert message in str(caught.value)
    assert caught.value.field == "domain_match_rule"


def test_parse_rule_names_the_field_it_was_given() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_rule("", field="domain_restrictions")

    assert caught.value.field == "domain_restrictions"


@pytest.mark.parametrize(
    ("rule", "identifier", "expected"),
    [
        pytest.param("example.com", "example.com", True, id="exact"),
        pytest.param("example.com", "www.example.com", False, id="exact-not-below"),
        pytest.param("example.com", "*.example.com", False, id="exact-not-wildcard"),
        pytest.param("*.example.com", "example.com", True, id="wildcard-base"),
        pytest.param("*.example.com", "www.example.com", True, id="wildcard-one"),
        pytest.param("*.example.com", "*.example.com", True, id="wildcard-identifier"),
        pytest.param("*.example.com", "a.b.example.com", False, id="wildcard-two"),
        pytest.param(
            "*.example.com", "*.www.example.com", False, id="wildcard-deeper-wildcard"
        ),
        pytest.param("**.example.com", "example.com", True, id="subtree-base"),
        pytest.param("**.example.com", "a.b.c.example.com", True, id="subtree-deep"),
        pytest.param("**.example.com", "*.b.example.com", True, id="subtree-wildcard"),
        pytest.param("*", "anything.example.net", True, id="any"),
        pytest.param("*", "*.example.net", True, id="any-wildcard"),
        # F09: a shared suffix without a label boundary.
        pytest.param(
            "*.example.com", "www.training-example.com", False, id="F09-wildcard"
        ),
        pytest.param("**.example.com", "training-example.com", False, id="F09-subtree"),
        pytest.param(
            "*.training-example.com",
            "www.training-example.com",
            True,
            id="F09-covering-rule",
        ),
        # F10: look-alike names.
        pytest.param(
            "example.com; *.example.com", "evilexample.com", False, id="F10-prefix"
        ),
        pytest.param(
            "example.com; *.example.com",
            "example.com.evil.test",
            False,
            id="F10-suffix",
        ),
        pytest.param(
            "example.com; *.example.com", "a.b.example.com", False, id="F10-deeper"
        ),
        pytest.param("**.example.com", "a.b.example.com", True, id="F10-subtree"),
        # F12: IDN written either way on either side.
        pytest.param(
            "*.xn--bro-hoa.example", "büro.example", True, id="F12-a-rule-u-name"
        ),
        pytest.param(
            "*.büro.example", "xn--bro-hoa.example", True, id="F12-u-rule-a-name"
        ),
        pytest.param(
            "*.xn--bro-hoa.example",
            "www.BÜRO.example.",
            True,
            id="F12-below-upper-dot",
        ),
        pytest.param(
            "*.büro.example", "buro.example", False, id="F12-not-the-ascii-look-alike"
        ),
        # F13: case, F14: trailing dots.
        pytest.param(
            "example.com;*.example.com", "MixedCase.Example.COM", True, id="F13"
        ),
        pytest.param("EXAMPLE.com", "example.COM", True, id="F13-exact"),
        pytest.param("*.example.com.", "www.example.com.", True, id="F14"),
    ],
)
def test_rule_matches(rule: str, identifier: str, expected: bool) -> None:
    assert parse_rule(rule).matches(identifier) is expected


def test_rule_matches_refuses_a_bad_identifier() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_rule("*").matches("bad..example.com")

    assert caught.value.field == "identifier"


def rule_index(rules: dict[str, str]) -> RuleIndex[str]:
    """Build an index of config id -> rule text."""
    index: RuleIndex[str] = RuleIndex()
    for config_id, text in rules.items():
        index.add(config_id, parse_rule(text))
    return index


# Configs for the precedence table: each id says its rule.
PRECEDENCE_CONFIGS = {
    "exact-www": "www.example.com",
    "wildcard-example": "*.example.com",
    "wildcard-www": "*.www.example.com",
    "subtree-www": "**.www.example.com",
    "subtree-example": "**.example.com",
    "exact-apex": "example.com",
    "any": "*",
}


@pytest.mark.parametrize(
    ("drop", "identifier", "config_id", "entry", "kind"),
    [
        pytest.param(
            (),
            "www.example.com",
            "exact-www",
            "www.example.com",
            MatchKind.EQUAL,
            id="equal-wins",
        ),
        pytest.param(
            ("exact-www",),
            "www.example.com",
            "wildcard-example",
            "*.example.com",
            MatchKind.PARENT_WILDCARD,
            id="then-parent-wildcard",
        ),
        pytest.param(
            ("exact-www", "wildcard-example"),
            "www.example.com",
            "wildcard-www",
            "*.www.example.com",
            MatchKind.BASE_NAME,
            id="then-base-name",
        ),
        pytest.param(
            ("exact-www", "wildcard-example", "wildcard-www"),
            "www.example.com",
            "subtree-www",
            "**.www.example.com",
            MatchKind.SUBTREE,
            id="then-longest-subtree",
        ),
        pytest.param(
            ("exact-www", "wildcard-example", "wildcard-www", "subtree-www"),
            "www.example.com",
            "subtree-example",
            "**.example.com",
            MatchKind.SUBTREE,
            id="then-shorter-subtree",
        ),
        pytest.param(
            (
                "exact-www",
                "wildcard-example",
                "wildcard-www",
                "subtree-www",
                "subtree-example",
            ),
            "www.example.com",
            "any",
            "*",
            MatchKind.ANY,
            id="then-any",
        ),
        pytest.param(
            (),
            "example.com",
            "exact-apex",
            "example.com",
            MatchKind.EQUAL,
            id="apex-equal",
        ),
        pytest.param(
            ("exact-apex",),
            "example.com",
            "wildcard-example",
            "*.example.com",
            MatchKind.BASE_NAME,
            id="apex-base-name",
        ),
        pytest.param(
            (),
            "*.example.com",
            "wildcard-example",
            "*.example.com",
            MatchKind.EQUAL,
            id="wildcard-identifier-equal",
        ),
        pytest.param(
            ("wildcard-example",),
            "*.example.com",
            "subtree-example",
            "**.example.com",
            MatchKind.SUBTREE,
            id="wildcard-identifier-subtree",
        ),
        pytest.param(
            (),
            "*.www.example.com",
            "wildcard-www",
            "*.www.example.com",
            MatchKind.EQUAL,
            id="deeper-wildcard-identifier",
        ),
        pytest.param(
            (),
            "a.b.www.example.com",
            "subtree-www",
            "**.www.example.com",
            MatchKind.SUBTREE,
            id="deep-name-longest-subtree",
        ),
        pytest.param((), "other.test", "any", "*", MatchKind.ANY, id="unrelated-any"),
        # F13, F14, F12: the identifier is normalised before the lookup.
        pytest.param(
            (),
            "WWW.Example.COM.",
            "exact-www",
            "www.example.com",
            MatchKind.EQUAL,
            id="F13-F14",
        ),
    ],
)
def test_best_match_precedence(
    drop: tuple[str, ...],
    identifier: str,
    config_id: str,
    entry: str,
    kind: MatchKind,
) -> None:
    index = rule_index(
        {key: text for key, text in PRECEDENCE_CONFIGS.items() if key not in drop}
    )

    match = index.best_match(identifier)

    assert match is not None
    assert (match.config_id, str(match.entry), match.kind) == (config_id, entry, kind)


def test_best_match_with_idn_written_either_way() -> None:
    index = rule_index(
        {"a-label": "*.xn--bro-hoa.example", "u-label": "*.bücher.example"}
    )

    for identifier, config_id in [
        ("www.büro.example", "a-label"),
        ("www.xn--bcher-kva.example", "u-label"),
    ]:
        match = index.best_match(identifier)
        assert match is not None
        assert match.config_id == config_id


@pytest.mark.parametrize(
    "identifier",
    [
        pytest.param("www.training-example.com", id="F09"),
        pytest.param("evilexample.com", id="F10-prefix"),
        pytest.param("example.com.evil.test", id="F10-suffix"),
        pytest.param("a.b.example.com", id="F10-deeper"),
        pytest.param("*.www.example.com", id="deeper-wildcard"),
    ],
)
def test_best_match_finds_nothing(identifier: str) -> None:
    index = rule_index({"config": "example.com; *.example.com"})

    assert index.best_match(identifier) is None


def test_best_match_skips_configs_the_caller_may_not_use() -> None:
    index = rule_index(
        {"exact": "www.example.com", "wildcard": "*.example.com", "any": "*"}
    )
    asked: list[str] = []

    def allowed(config_id: str) -> bool:
        asked.append(config_id)
        return config_id == "any"

    match = index.best_match("www.example.com", allowed)

    assert match is not None
    assert match.config_id == "any"
    assert asked == ["exact", "wildcard", "any"]
    assert index.best_match("www.example.com", lambda config_id: False) is None


def test_match_says_which_entry_of_the_rule_matched() -> None:
    index = rule_index({"config": "example.com; *.example.com; **.example.org"})

    match = index.best_match("a.b.example.org")

    assert match is not None
    assert match.entry == RuleEntry(EntryKind.SUBTREE, "example.org")
    assert match.entry.kind is EntryKind.SUBTREE


def test_duplicate_entry_is_refused_naming_the_other_config() -> None:
    index = rule_index({"first": "example.com; *.example.com"})
    second = parse_rule("*.EXAMPLE.com.; **.example.org")

    assert index.conflicts(second) == "first"
    with pytest.raises(ConflictError) as caught:
        index.add("second", second)

    assert str(caught.value) == (
        "domain match rule entry '*.example.com' is already used by "
        "managed challenge config 'first'"
    )
    assert "second" not in index
    assert index.best_match("a.example.org") is None


def test_different_forms_of_one_name_do_not_conflict() -> None:
    index = rule_index({"exact": "example.com"})

    for config_id, text in [
        ("wildcard", "*.example.com"),
        ("subtree", "**.example.com"),
    ]:
        rule = parse_rule(text)
        assert index.conflicts(rule) is None
        index.add(config_id, rule)

    assert len(index) == 3


def test_updating_a_config_replaces_its_rule() -> None:
    index = rule_index({"config": "example.com; *.example.com"})
    new_rule = parse_rule("*.example.com; example.org")

    assert index.conflicts(new_rule, ignore="config") is None
    index.add("config", new_rule)

    assert index.rule("config") == new_rule
    assert index.best_match("example.org") is not None
    assert index.best_match("example.com") is not None  # through *.example.com
    match = index.best_match("example.com")
    assert match is not None
    assert match.kind is MatchKind.BASE_NAME


def test_remove_frees_the_entries() -> None:
    index = rule_index({"first": "*.example.com"})

    assert index.remove("first") is True
    assert index.remove("first") is False
    assert index.best_match("www.example.com") is None
    index.add("second", parse_rule("*.example.com"))
    match = index.best_match("www.example.com")
    assert match is not None
    assert match.config_id == "second"


def test_duplicates_loaded_on_purpose_resolve_to_the_first() -> None:
    index: RuleIndex[int] = RuleIndex()
    index.add(7, parse_rule("*.example.com"))
    index.add(3, parse_rule("*.example.com"), allow_duplicates=True)

    match = index.best_match("www.example.com")
    assert match is not None
    assert match.config_id == 7
    index.remove(7)
    match = index.best_match("www.example.com")
    assert match is not None
    assert match.config_id == 3


def test_index_is_safe_to_change_while_matching() -> None:
    index: RuleIndex[int] = RuleIndex()
    index.add(-1, parse_rule("**.example.com"))
    errors: list[BaseException] = []
    done = threading.Event()

    def match_forever() -> None:
        try:
            while not done.is_set():
                assert index.best_match("a.b.example.com") is not None
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    thread = threading.Thread(target=match_forever)
    thread.start()
    for number in range(2000):
        index.add(number, parse_rule(f"*.d{number}.example.com"))
        index.remove(number)
    done.set()
    thread.join()

    assert errors == []


def test_rule_is_a_value() -> None:
    rule = parse_rule("example.com; *.example.com")

    assert rule == DomainMatchRule(
        (
            RuleEntry(EntryKind.EXACT, "example.com"),
            RuleEntry(EntryKind.WILDCARD, "example.com"),
        )
    )
    assert len({rule, parse_rule("EXAMPLE.com,*.example.com.")}) == 1


def test_bench_runs_at_a_tiny_size() -> None:
    figures = bench_rules.run((10, 100), repeat=50)

    assert [figure.configs for figure in figures] == [10, 100]
    assert all(figure.seconds_per_match > 0 for figure in figures)
    assert figures[0].ratio == 1.0


def test_best_match_logs_its_decision(caplog: pytest.LogCaptureFixture) -> None:
    index = rule_index({"config": "*.example.com"})
    caplog.set_level(logging.DEBUG, logger="hub_server.rules")

    index.best_match("WWW.example.com")
    index.best_match("www.example.org")

    assert caplog.messages == [
        "www.example.com matched entry '*.example.com' of config 'config' "
        "(parent-wildcard)",
        "no config matched www.example.org",
    ]
