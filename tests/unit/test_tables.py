"""Server-side printing: the cells ``oc get`` prints, and when a Table is asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from imagestreams.api import tables
from imagestreams.models import NamedTagEventList, TagEvent

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (5399, "About an hour"),
        (5400, "2 hours"),
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (14 * 86400, "2 weeks"),
        (60 * 86400, "2 months"),
        (730 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: int, words: str) -> None:
    assert tables.human_duration(timedelta(seconds=seconds)) == words


def tag(name: str, minutes_ago: int | None) -> NamedTagEventList:
    items = (
        [
            TagEvent(
                created=NOW - timedelta(minutes=minutes_ago), docker_image_reference="x", image="y"
            )
        ]
        if minutes_ago is not None
        else []
    )
    return NamedTagEventList(tag=name, items=items)


@pytest.mark.parametrize(
    ("tags", "shown"),
    [
        ([], ""),
        ([tag("v1", 5)], "v1"),
        ([tag("old", 50), tag("new", 5), tag("mid", 20)], "new,mid,old"),
        ([tag("b", 5), tag("a", 5)], "a,b"),
        ([tag("never", None), tag("v1", 5)], "v1,never"),
        ([tag("x" * 60, 1)], "x" * 60),
        ([tag("x" * 60, 1), tag("y", 2)], "x" * 60 + " + 1 more..."),
        (
            [tag(f"tag-{n:02d}", n) for n in range(20)],
            "tag-00,tag-01,tag-02,tag-03,tag-04 + 15 more...",
        ),
    ],
    ids=[
        "none",
        "one",
        "newest-first",
        "same-time-by-name",
        "never-imported-last",
        "one-too-wide",
        "wide-then-more",
        "many",
    ],
)
def test_tags_column(tags: list[NamedTagEventList], shown: str) -> None:
    assert tables.tags_up_to_width(tags, 40) == shown


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        (None, False),
        ("application/json", False),
        ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json", True),
        ("application/json; as=Table; v=v1; g=meta.k8s.io", True),
        ("application/json,application/json;as=Table;v=v1;g=meta.k8s.io", False),
        ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", False),
    ],
)
def test_a_table_is_what_kubectl_asks_for_first(accept: str | None, wanted: bool) -> None:
    assert tables.wants_table(accept) is wanted
