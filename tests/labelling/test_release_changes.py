"""labelling.releases.changes.data_changes (streamed, batch by batch) against a plain-Python count of the
same differences, on two small packages with every kind of change: items added and removed, final labels
changed, cleared or given, labels added, removed and changed, a null beside an empty string, a new
annotator and a new dimension."""

from __future__ import annotations

import random
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelling.releases import changes
from labelling.releases import package as pk

CAT = pa.dictionary(pa.int32(), pa.string())
FINALS = ["final_cause", "final_symptom"]


def _write(directory, items: dict[str, dict], labels: dict[tuple, str | None], *, batch: int) -> None:
    (directory / "data").mkdir(parents=True)
    ids = list(items)
    columns = {"source_id": pa.array(ids, pa.string())}
    for h in FINALS:
        columns[h] = pa.array([items[i].get(h) for i in ids], pa.string()).dictionary_encode()
    pq.write_table(pa.table(columns), directory / pk.PARQUET_PATHS[pk.ITEMS], row_group_size=batch)
    keys = list(labels)
    table = pa.table(
        {
            "source_id": pa.array([k[0] for k in keys], pa.string()),
            "annotator": pa.array([k[1] for k in keys], pa.string()).dictionary_encode(),
            "dimension": pa.array([k[2] for k in keys], pa.string()).dictionary_encode(),
            "value": pa.array([labels[k] for k in keys], pa.string()),
        }
    )
    pq.write_table(table, directory / pk.PARQUET_PATHS[pk.LABELS], row_group_size=batch)


def _zip(directory, target):
    with zipfile.ZipFile(target, "w") as zf:
        for name in pk.PARQUET_PATHS.values():
            zf.write(directory / name, name)


def _oracle(prev_items, cur_items, prev_labels, cur_labels) -> dict:
    added = [i for i in cur_items if i not in prev_items]
    removed = [i for i in prev_items if i not in cur_items]
    by_dimension = dict.fromkeys(FINALS, 0)
    for i, row in cur_items.items():
        before = prev_items.get(i, {})
        if before.get(FINALS[0]) is None and row.get(FINALS[0]) is None:
            continue
        for h in FINALS:
            by_dimension[h] += before.get(h) != row.get(h)
    common = prev_labels.keys() & cur_labels.keys()
    return {
        "items": {
            "added": len(added),
            "removed": len(removed),
            "added_examples": added[: changes.EXAMPLES],
            "removed_examples": removed[: changes.EXAMPLES],
        },
        "final_labels": {"changed": sum(by_dimension.values()), "by_dimension": by_dimension},
        "labels": {
            "added": len(cur_labels.keys() - common),
            "removed": len(prev_labels.keys() - common),
            "changed": sum(prev_labels[k] != cur_labels[k] for k in common),
        },
    }


def _study(rng: random.Random, ids: list[str], annotators, dimensions):
    values = ["a", "b", "c", "", None]
    items = {i: {h: rng.choice(["a", "b", None]) for h in FINALS} for i in ids}
    labels = {}
    for i in ids:
        for a in annotators:
            for d in dimensions:
                if rng.random() < 0.8:
                    labels[(i, a, d)] = rng.choice(values)
    return items, labels


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_data_changes_equal_a_plain_count(tmp_path, monkeypatch, seed):
    monkeypatch.setattr(changes, "BATCH_ROWS", 37)  # many batches, none aligned with an item's rows
    rng = random.Random(seed)
    prev_ids = [f"github:x/y#{n}" for n in range(60)]
    cur_ids = [i for i in prev_ids if rng.random() < 0.9] + [f"github:x/y#{n}" for n in range(60, 75)]
    rng.shuffle(cur_ids)  # the order of the items need not be the same
    prev_items, prev_labels = _study(rng, prev_ids, ["A1", "A2", "A3"], ["cause", "symptom"])
    cur_items, cur_labels = _study(rng, cur_ids, ["A1", "A2", "A3", "A4"], ["cause", "symptom", "component"])
    for key in list(prev_labels)[::3]:  # many labels kept as they were
        if key in cur_labels:
            cur_labels[key] = prev_labels[key]
    if seed == 3:  # labels in no particular order (a package made elsewhere): the keys are sorted here
        shuffled = list(prev_labels.items())
        rng.shuffle(shuffled)
        prev_labels = dict(shuffled)
    previous, current = tmp_path / "previous", tmp_path / "current"
    _write(previous, prev_items, prev_labels, batch=23)
    _write(current, cur_items, cur_labels, batch=29)
    _zip(previous, tmp_path / "previous.zip")

    got = changes.data_changes(previous_zip=tmp_path / "previous.zip", current_dir=current, final_headers=FINALS)

    expected = _oracle(prev_items, cur_items, prev_labels, cur_labels)
    assert got == expected
    assert got["labels"]["changed"] and got["labels"]["added"] and got["labels"]["removed"]
    assert got["items"]["added"] and got["items"]["removed"] and got["final_labels"]["changed"]


def test_a_null_and_an_empty_value_differ_and_two_nulls_do_not(tmp_path):
    items = {"r1": {"final_cause": "a", "final_symptom": None}}
    prev_labels = {("r1", "A1", "cause"): None, ("r1", "A2", "cause"): None, ("r1", "A1", "symptom"): "x"}
    cur_labels = {("r1", "A1", "cause"): "", ("r1", "A2", "cause"): None, ("r1", "A1", "symptom"): "y"}
    previous, current = tmp_path / "previous", tmp_path / "current"
    _write(previous, items, prev_labels, batch=10)
    _write(current, items, cur_labels, batch=10)
    _zip(previous, tmp_path / "previous.zip")

    got = changes.data_changes(previous_zip=tmp_path / "previous.zip", current_dir=current, final_headers=FINALS)

    assert got["labels"] == {"added": 0, "removed": 0, "changed": 2}
    assert got["final_labels"]["changed"] == 0
