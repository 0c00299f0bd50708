"""How streams are laid out as items (adapters/stream_items.py), without DynamoDB.

Tag states and stream metas read back exactly as they were written, a tag
is written only when its JSON changes, and a write carries its condition
and index attributes. The conditional writes themselves, on a table, are
``tests/integration/test_dynamo_stores.py``'s.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from imagestreams import streams
from imagestreams.adapters.stream_items import (
    TagWrite,
    meta_doc,
    meta_from_doc,
    meta_from_item,
    meta_item,
    tag_doc,
    tag_from_doc,
    tag_put,
    tag_write,
    transaction_groups,
)
from imagestreams.models import ObjectReference, TagImportPolicy, TagReference
from imagestreams.streams import TagMutation, TagState
from tests.unit.test_streams import CASES, META, TAG, Case, success


def stored_text(state: TagState) -> str:
    """Given: ``state`` as the store holds it."""
    return json.dumps(tag_doc(state))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_tag_round_trip(case: Case) -> None:
    # Given a state as tagging leaves it
    state = case.when(case.given)

    # When it is stored as JSON and read back (numbers as boto3 returns them)
    restored = tag_from_doc(json.loads(json.dumps(tag_doc(state)), parse_int=Decimal))

    # Then nothing is lost and nothing counts as changed
    assert restored == state
    assert not streams.changed(state, restored)


def test_tag_round_trip_of_a_clock_with_microseconds() -> None:
    state = success(1, 1, datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC))(None)

    assert tag_from_doc(tag_doc(state)) == state


def test_absent_parts_are_left_out() -> None:
    assert tag_doc(TagState(name=TAG)) == {"name": TAG}
    assert tag_from_doc({"name": TAG}) == TagState(name=TAG)


def test_meta_round_trip() -> None:
    # When the stream's own fields are stored as JSON and read back
    stored = json.loads(json.dumps(meta_doc(META)), parse_int=Decimal)

    # Then they are the same
    assert meta_from_doc(stored) == META


def test_meta_item_keeps_its_own_attributes_out_of_the_doc() -> None:
    item = meta_item(META)

    assert (
        json.loads(item["doc"]["S"])
        .keys()
        .isdisjoint({"uid", "resourceVersion", "generation", "annotations"})
    )
    assert item["resourceVersion"] == {"N": "7"}
    assert item["generation"] == {"N": "3"}
    assert meta_from_item(item) == META


IMPORTED = success(1, 1, datetime(2026, 1, 1, tzinfo=UTC))(None)


@pytest.mark.parametrize(
    "mutate",
    [lambda state: None, lambda state: state, copy.deepcopy],
    ids=["none", "same-object", "equal-copy"],
)
def test_an_unchanged_state_is_not_written(mutate: TagMutation) -> None:
    assert tag_write(TAG, mutate, stored_text(IMPORTED), 1) is None


def test_a_new_tag_left_absent_is_not_written() -> None:
    assert tag_write(TAG, lambda state: state, None, None) is None


def test_a_change_made_in_place_is_written() -> None:
    def rename(state: TagState | None) -> TagState | None:
        assert state is not None
        assert state.spec is not None
        state.spec.annotations = {"edited": "yes"}
        return state

    write = tag_write(TAG, rename, stored_text(IMPORTED), 4)

    assert write is not None
    assert write.version == 4
    assert json.loads(write.text)["spec"]["annotations"] == {"edited": "yes"}
    assert tag_from_doc(json.loads(write.text)) == write.state


def followed(name: str, *, scheduled: bool = False) -> TagState:
    policy = TagImportPolicy(scheduled=scheduled)
    spec = TagReference(
        name=TAG, from_=ObjectReference(kind="DockerImage", name=name), import_policy=policy
    )
    return TagState(name=TAG, spec=spec)


def test_a_new_tag_is_put_only_if_still_absent() -> None:
    state = followed("quay.io/team/app:v1")
    put = tag_put("streams", "team", "app", TagWrite(TAG, state, stored_text(state), None))

    assert put["ConditionExpression"] == "attribute_not_exists(#pk)"
    assert put["Item"]["version"] == {"N": "1"}
    assert put["Item"]["tracks"] == {"S": "quay.io/team/app:v1"}
    assert put["Item"]["registry"] == {"S": "quay.io"}
    assert "scheduled" not in put["Item"]


def test_a_stored_tag_is_put_only_if_still_at_the_version_read() -> None:
    state = followed("quay.io/team/app:v1", scheduled=True)
    put = tag_put("streams", "team", "app", TagWrite(TAG, state, stored_text(state), 6))

    assert put["ConditionExpression"] == "#version = :version"
    assert put["ExpressionAttributeValues"] == {":version": {"N": "6"}}
    assert put["Item"]["version"] == {"N": "7"}
    assert put["Item"]["scheduled"]["S"].startswith("s")
    assert put["Item"]["pk"] == {"S": "stream#team#app"}
    assert put["Item"]["sk"] == {"S": f"tag#{TAG}"}


def test_transactions_hold_at_most_100_writes_and_3_5_mb() -> None:
    small = [TagWrite(f"t{n}", IMPORTED, "x" * 10, None) for n in range(250)]
    large = [TagWrite(f"t{n}", IMPORTED, "x" * 1_000_000, None) for n in range(8)]

    assert [len(group) for group in transaction_groups(small)] == [100, 100, 50]
    assert [len(group) for group in transaction_groups(large)] == [3, 3, 2]
    assert transaction_groups([]) == []
