"""room.breakout(groups=N)'s split: sizes within one, balanced by name, random, names."""

import random

import pytest

from zero_nb.kernel_rtc.breakout import assign_groups, group_names

PEOPLE = [(f"id{i}", name) for i, name in enumerate(
    ["eve", "al", "dan", "bo", "cy", "fay", "gus"])]


def test_balanced_is_by_name_and_sizes_differ_by_one_at_most():
    """Name order, contiguous, sizes 3/2/2; the same names give the same groups."""
    groups = assign_groups(PEOPLE, 3)
    names = dict(PEOPLE)
    assert {g: [names[i] for i in ids] for g, ids in groups.items()} == {
        "A": ["al", "bo", "cy"], "B": ["dan", "eve"], "C": ["fay", "gus"]}
    assert assign_groups(list(reversed(PEOPLE)), 3) == groups


def test_random_keeps_everyone_once():
    groups = assign_groups(PEOPLE, 2, "random", random.Random(1))
    ids = [i for g in groups.values() for i in g]
    assert sorted(ids) == sorted(i for i, _ in PEOPLE)
    assert sorted(len(g) for g in groups.values()) == [3, 4]


def test_names_and_errors():
    assert group_names(28)[:3] == ["A", "B", "C"] and group_names(28)[26:] == ["G27", "G28"]
    assert assign_groups([], 2) == {"A": [], "B": []}
    with pytest.raises(ValueError, match="at least 1"):
        assign_groups(PEOPLE, 0)
    with pytest.raises(ValueError, match="balanced"):
        assign_groups(PEOPLE, 2, "alphabetical")
