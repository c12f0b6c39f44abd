"""What changed between two releases of a study: items added or removed, final labels and individual
labels changed, codebook changes. Computed from the two packages' Parquet files with pyarrow joins
(columnar, no Python object per row) and from the codebook snapshots.

Codebook events: Bugsift does not record a codebook history yet, so the events are derived by
comparing the previous release's codebook.json with this one (dimensions and categories added,
removed, renamed or redefined). When a codebook history exists, it belongs here.
"""

from __future__ import annotations

import zipfile

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labelling.releases import package as pk

EXAMPLES = 20


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded to strings (joins and comparisons want plain types)."""
    columns = [pc.cast(c, pa.string()) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _member(zip_path, member: str) -> bytes:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.read(member)


def _read(zip_path, member: str, columns: list[str] | None = None) -> pa.Table:
    data = _member(zip_path, member)
    table = pq.read_table(pa.BufferReader(data), columns=columns)
    return _plain(table)


def _differs(a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.ChunkedArray:
    """a != b where a null and an empty string count as different, two nulls as equal."""
    neq = pc.fill_null(pc.not_equal(a, b), True)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.and_(neq, pc.invert(both_null))


def data_changes(*, previous_zip, current_dir, final_headers: list[str]) -> dict:
    # Only the ids and the final labels are compared: the other columns (titles, rationales) are not read.
    prev_columns = set(pq.read_schema(pa.BufferReader(_member(previous_zip, pk.PARQUET_PATHS[pk.ITEMS]))).names)
    wanted = ["source_id", *(h for h in final_headers if h in prev_columns)]
    prev_items = _read(previous_zip, pk.PARQUET_PATHS[pk.ITEMS], columns=wanted)
    cur_path = current_dir / pk.PARQUET_PATHS[pk.ITEMS]
    cur_items = _plain(pq.read_table(cur_path, columns=["source_id", *(h for h in final_headers)]))
    prev_ids, cur_ids = prev_items["source_id"], cur_items["source_id"]
    added = pc.invert(pc.is_in(cur_ids, value_set=pc.unique(prev_ids)))
    removed = pc.invert(pc.is_in(prev_ids, value_set=pc.unique(cur_ids)))
    items = {
        "added": pc.sum(added).as_py() or 0,
        "removed": pc.sum(removed).as_py() or 0,
        "added_examples": pc.filter(cur_ids, added)[:EXAMPLES].to_pylist(),
        "removed_examples": pc.filter(prev_ids, removed)[:EXAMPLES].to_pylist(),
    }
    common = [h for h in final_headers if h in prev_items.column_names and h in cur_items.column_names]
    finals = {"changed": 0, "by_dimension": {}}
    if common:
        joined = cur_items.select(["source_id", *common]).join(
            prev_items.select(["source_id", *common]), keys="source_id", right_suffix="__prev"
        )
        joined = joined.filter(pc.or_(pc.is_valid(joined[f"{common[0]}__prev"]), pc.is_valid(joined[common[0]])))
        for h in common:
            n = pc.sum(_differs(joined[h], joined[f"{h}__prev"])).as_py() or 0
            finals["by_dimension"][h] = n
            finals["changed"] += n
    labels = _label_changes(previous_zip, current_dir / pk.PARQUET_PATHS[pk.LABELS])
    return {"items": items, "final_labels": finals, "labels": labels}


def _label_changes(previous_zip, current_path) -> dict:
    """Individual labels added, removed and changed, keyed by (source_id, annotator, dimension).

    The previous labels are held once, compactly (source_id dictionary-encoded); the current ones
    are read row group by row group and joined with the previous rows of the same items, so memory
    stays near one row group plus the previous table."""
    keys = ["source_id", "annotator", "dimension"]
    with zipfile.ZipFile(previous_zip) as zf:
        data = zf.read(pk.PARQUET_PATHS[pk.LABELS])
    prev = pq.read_table(pa.BufferReader(data), columns=[*keys, "value"], read_dictionary=["source_id"])
    del data
    prev = prev.combine_chunks()
    prev_ids = prev["source_id"].chunk(0) if prev.num_rows else pa.array([], pa.dictionary(pa.int32(), pa.string()))
    matched = changed = current_rows = 0
    reader = pq.ParquetFile(current_path)
    for group in range(reader.num_row_groups):
        cur = _plain(reader.read_row_group(group, columns=[*keys, "value"]))
        current_rows += cur.num_rows
        ids = pc.unique(cur["source_id"])
        # is_in on the dictionary (one entry per item), then per row through the indices: no string per row
        wanted = pc.is_in(prev_ids.dictionary, value_set=ids)
        before = _plain(prev.filter(pc.fill_null(pc.take(wanted, prev_ids.indices), False)))
        if not before.num_rows:
            continue
        joined = cur.join(before, keys=keys, join_type="inner", right_suffix="__prev")
        matched += joined.num_rows
        changed += pc.sum(_differs(joined["value"], joined["value__prev"])).as_py() or 0
    return {"added": current_rows - matched, "removed": prev.num_rows - matched, "changed": changed}


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
