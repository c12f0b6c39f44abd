"""What changed between two releases of a study: items added or removed, final labels and individual
labels changed, codebook changes. Computed from the two packages' Parquet files, read batch by batch
(``pyarrow.parquet.ParquetFile.iter_batches``), and from the codebook snapshots.

Memory stays small for any size: the previous release's items are held by their ids and final labels
only (about 5 MB for 100,000 items), its labels as two numpy arrays (a 64-bit key per label built from
the item's position, the annotator and the dimension, and a 32-bit number per distinct value: 14 bytes a
label), sorted by key; the current files are then streamed and each batch looked up with
``numpy.searchsorted``. Exact: values are compared through a dictionary of the previous values (a value
the previous release never had is a change), so no hash can collide. The distinct values are held once
each: a free-text dimension with as many distinct values as labels costs their text.

Codebook events: Bugsift does not record a codebook history yet, so the events are derived by
comparing the previous release's codebook.json with this one (dimensions and categories added,
removed, renamed or redefined). When a codebook history exists, it belongs here.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labelling.releases import package as pk

EXAMPLES = 20
BATCH_ROWS = 65_536
KEYS = ["source_id", "annotator", "dimension"]
NO_VALUE, UNKNOWN_VALUE = -1, -2  # a null value; a value the previous release never had


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded to strings (joins and comparisons want plain types)."""
    columns = [pc.cast(c, pa.string()) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _plain_array(array):
    return pc.cast(array, pa.string()) if pa.types.is_dictionary(array.type) else array


def _extract(zip_path, member: str, directory: Path) -> Path:
    """``member`` of the zip copied (streamed) to a file in ``directory``: Parquet reads want a seekable file."""
    target = directory / member.replace("/", "_")
    with zipfile.ZipFile(zip_path) as zf, zf.open(member) as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


def _differs(a, b):
    """a != b where a null and an empty string count as different, two nulls as equal."""
    neq = pc.fill_null(pc.not_equal(a, b), True)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.and_(neq, pc.invert(both_null))


def _batches(path: Path, columns: list[str]):
    reader = pq.ParquetFile(path)
    present = [c for c in columns if c in reader.schema_arrow.names]
    for batch in reader.iter_batches(batch_size=BATCH_ROWS, columns=present, use_threads=False):
        yield pa.Table.from_batches([batch])


def data_changes(*, previous_zip, current_dir, final_headers: list[str]) -> dict:
    """Items added and removed, final labels changed (per dimension) and labels added, removed and changed
    between the package ``previous_zip`` and the one being written in ``current_dir``."""
    current_dir = Path(current_dir)
    with tempfile.TemporaryDirectory(prefix="bugsift-changes-") as tmp:
        prev_items_path = _extract(previous_zip, pk.PARQUET_PATHS[pk.ITEMS], Path(tmp))
        prev_labels_path = _extract(previous_zip, pk.PARQUET_PATHS[pk.LABELS], Path(tmp))
        # Only the ids and the final labels are compared: the other columns (titles, rationales) are not read.
        prev_columns = set(pq.read_schema(prev_items_path).names)
        common = [h for h in final_headers if h in prev_columns]
        prev_items = _plain(pq.read_table(prev_items_path, columns=["source_id", *common], use_threads=False))
        items, finals = _item_changes(prev_items, current_dir / pk.PARQUET_PATHS[pk.ITEMS], final_headers, common)
        labels = _label_changes(prev_items["source_id"], prev_labels_path, current_dir / pk.PARQUET_PATHS[pk.LABELS])
    return {"items": items, "final_labels": finals, "labels": labels}


def _item_changes(prev_items: pa.Table, current_path: Path, final_headers: list[str], common: list[str]):
    prev_ids = prev_items["source_id"].combine_chunks()
    seen = np.zeros(len(prev_ids), dtype=bool)
    added, added_examples = 0, []
    by_dimension = dict.fromkeys(common, 0)
    for cur in _batches(current_path, ["source_id", *final_headers]):
        cur = _plain(cur)
        position = pc.index_in(cur["source_id"], value_set=prev_ids)
        is_new = pc.is_null(position)
        n_new = pc.sum(is_new).as_py() or 0
        if n_new:
            added += n_new
            if len(added_examples) < EXAMPLES:
                added_examples += pc.filter(cur["source_id"], is_new)[: EXAMPLES - len(added_examples)].to_pylist()
        known = pc.invert(is_new)
        where = pc.filter(position, known)
        seen[where.to_numpy(zero_copy_only=False)] = True
        if not common:
            continue
        # Every current item against the previous row of its id (none for a new item: its finals count as
        # changed), among the items with a final label on the first dimension in either release.
        before = {h: pc.take(prev_items[h], position) for h in common}
        compared = pc.or_(pc.is_valid(before[common[0]]), pc.is_valid(cur[common[0]]))
        for h in common:
            differs = pc.filter(_differs(cur[h], before[h]), compared)
            by_dimension[h] += pc.sum(differs).as_py() or 0
    removed = np.flatnonzero(~seen)
    items = {
        "added": added,
        "removed": int(len(removed)),
        "added_examples": added_examples,
        "removed_examples": pc.take(prev_ids, pa.array(removed[:EXAMPLES])).to_pylist(),
    }
    return items, {"changed": sum(by_dimension.values()), "by_dimension": by_dimension}


def _positions(ids, item_ids: pa.Array) -> np.ndarray:
    """The position of each of ``ids`` in ``item_ids`` (-1: not there). The batch's few distinct ids
    are looked up from the items' side (a hash set of the batch's ids, not of 100,000 items per batch)."""
    ids = _plain_array(ids)
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    encoded = pc.dictionary_encode(ids)
    where = pc.index_in(item_ids, value_set=encoded.dictionary)  # for each item: its entry in the batch
    valid = pc.is_valid(where).to_numpy(zero_copy_only=False)
    lookup = np.full(len(encoded.dictionary) + 1, -1, dtype=np.int64)
    lookup[pc.drop_null(where).to_numpy(zero_copy_only=False)] = np.flatnonzero(valid)
    indices = pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy(zero_copy_only=False)
    return lookup[indices]


class _Codes:
    """Small integer codes for the annotators, dimensions and values of both releases."""

    def __init__(self):
        self.annotators: dict[str, int] = {}
        self.dimensions: dict[str, int] = {}
        self.values: dict[str, int] = {}

    @staticmethod
    def _codes(array, table: dict, *, grow: bool, missing: int) -> np.ndarray:
        array = _plain_array(array)
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        encoded = pc.dictionary_encode(array)
        if grow:
            lookup = [table.setdefault(v, len(table)) for v in encoded.dictionary.to_pylist()]
        else:
            lookup = [table.get(v, UNKNOWN_VALUE) for v in encoded.dictionary.to_pylist()]
        lookup = np.array([*lookup, missing], dtype=np.int64)
        indices = pc.fill_null(encoded.indices, len(lookup) - 1).to_numpy(zero_copy_only=False)
        return lookup[indices]

    def keys(self, table: pa.Table, item_ids: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(the key of each row, whether its item is one of ``item_ids``): the item's position in
        ``item_ids`` (32 bits), then the annotator (20 bits) and the dimension (12 bits)."""
        item = _positions(table["source_id"], item_ids)
        known = item >= 0
        annotator = self._codes(table["annotator"], self.annotators, grow=True, missing=(1 << 20) - 1)
        dimension = self._codes(table["dimension"], self.dimensions, grow=True, missing=(1 << 12) - 1)
        return (np.maximum(item, 0) << 32) | (annotator << 12) | dimension, known

    def value_codes(self, array, *, grow: bool) -> np.ndarray:
        return self._codes(array, self.values, grow=grow, missing=NO_VALUE).astype(np.int32)


def _label_changes(item_ids: pa.ChunkedArray, previous_path: Path, current_path: Path) -> dict:
    """Individual labels added, removed and changed, keyed by (source_id, annotator, dimension)."""
    item_ids = item_ids.combine_chunks()
    codes = _Codes()
    total = pq.ParquetFile(previous_path).metadata.num_rows
    prev_keys = np.empty(total, dtype=np.int64)
    prev_values = np.empty(total, dtype=np.int32)
    prev_rows = kept = 0
    for prev in _batches(previous_path, [*KEYS, "value"]):
        prev_rows += prev.num_rows
        key, known = codes.keys(prev, item_ids)
        value = codes.value_codes(prev["value"], grow=True)
        n = int(known.sum())
        prev_keys[kept : kept + n], prev_values[kept : kept + n] = key[known], value[known]
        kept += n
    prev_keys, prev_values = prev_keys[:kept], prev_values[:kept]
    # Written in item order, then pseudonym and codebook order: usually sorted already.
    if kept > 1 and not (prev_keys[1:] > prev_keys[:-1]).all():
        order = np.argsort(prev_keys)
        prev_values = prev_values[order]
        prev_keys.sort()
        del order
    matched = changed = current_rows = 0
    for cur in _batches(current_path, [*KEYS, "value"]):
        current_rows += cur.num_rows
        key, known = codes.keys(cur, item_ids)  # an item the previous release did not have: no match
        value = codes.value_codes(cur["value"], grow=False)
        key, value = key[known], value[known]
        at = np.searchsorted(prev_keys, key)
        found = at < len(prev_keys)
        found[found] = prev_keys[at[found]] == key[found]
        matched += int(found.sum())
        changed += int((prev_values[at[found]] != value[found]).sum())
    return {"added": current_rows - matched, "removed": prev_rows - matched, "changed": changed}


def codebook_events(previous: dict, current: dict) -> list[dict]:
    """Dimensions and categories added, removed, renamed or redefined, as {kind, dimension, category, text}."""
    events = []

    def cats(dim: dict) -> dict:
        out = {}
        for c in dim.get("categories") or []:
            out[c["code"]] = c
            for child in c.get("children") or []:
                out[child["code"]] = child
        return out

    before = {d["code"]: d for d in previous.get("dimensions", [])}
    after = {d["code"]: d for d in current.get("dimensions", [])}
    for code in before.keys() - after.keys():
        events.append(
            {"kind": "dimension_removed", "dimension": code, "category": "", "text": f"dimension '{code}' removed"}
        )
    for code, dim in after.items():
        if code not in before:
            events.append(
                {
                    "kind": "dimension_added",
                    "dimension": code,
                    "category": "",
                    "text": f"dimension '{code}' ({dim['name']}) added",
                }
            )
            continue
        old = before[code]
        if old["name"] != dim["name"]:
            events.append(
                {
                    "kind": "dimension_renamed",
                    "dimension": code,
                    "category": "",
                    "text": f"dimension '{code}' renamed from '{old['name']}' to '{dim['name']}'",
                }
            )
        old_cats, new_cats = cats(old), cats(dim)
        for c in old_cats.keys() - new_cats.keys():
            events.append(
                {
                    "kind": "category_removed",
                    "dimension": code,
                    "category": c,
                    "text": f"category '{c}' of '{code}' removed",
                }
            )
        for c, spec in new_cats.items():
            if c not in old_cats:
                events.append(
                    {
                        "kind": "category_added",
                        "dimension": code,
                        "category": c,
                        "text": f"category '{c}' ({spec['name']}) added to '{code}'",
                    }
                )
            elif old_cats[c]["name"] != spec["name"]:
                events.append(
                    {
                        "kind": "category_renamed",
                        "dimension": code,
                        "category": c,
                        "text": f"category '{c}' of '{code}' renamed from '{old_cats[c]['name']}' to '{spec['name']}'",
                    }
                )
            elif old_cats[c].get("definition", "") != spec.get("definition", ""):
                events.append(
                    {
                        "kind": "category_redefined",
                        "dimension": code,
                        "category": c,
                        "text": f"definition of '{c}' ({code}) changed",
                    }
                )
    return sorted(events, key=lambda e: (e["dimension"], e["kind"], e["category"]))


def first_release_changes() -> dict:
    return {"previous": None}
