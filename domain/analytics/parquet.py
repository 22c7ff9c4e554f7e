"""Parquet files of the analytics assets: one file per partition under a storage root.

The root is a local directory or any fsspec URL (`s3://bucket/prefix`, with the matching fsspec
backend installed); files are flat (`<root>/<asset>/<partition>.parquet`) so DuckDB, pandas or
Polars read a whole asset with one glob.
"""

from __future__ import annotations

import uuid

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq


def partition_path(root: str, asset: str, partition: str) -> str:
    return f"{root.rstrip('/')}/{asset}/{partition}.parquet"


def write_partition(root: str, asset: str, partition: str, table: pa.Table) -> str:
    """Write the partition's file whole (written aside, then moved over the old one); its path."""
    path = partition_path(root, asset, partition)
    fs, target = fsspec.core.url_to_fs(path)
    fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
    # Readers globbing the directory only match `*.parquet`: never a half-written file.
    partial = f"{target}.{uuid.uuid4().hex}.partial"
    with fs.open(partial, "wb") as out:
        pq.write_table(table, out)
    fs.mv(partial, target)
    return path


def exists(path: str) -> bool:
    fs, target = fsspec.core.url_to_fs(path)
    return bool(fs.exists(target))


def read_schema(path: str) -> pa.Schema:
    fs, target = fsspec.core.url_to_fs(path)
    with fs.open(target, "rb") as source:
        return pq.read_schema(source)


def schema_changes(written: pa.Schema, pinned: pa.Schema) -> list[str]:
    """How a file's schema departs from the pinned one, one line per column (empty: identical)."""
    written, pinned = written.remove_metadata(), pinned.remove_metadata()
    changes = [f"missing {f.name}" for f in pinned if f.name not in written.names]
    changes += [f"extra {f.name}" for f in written if f.name not in pinned.names]
    changes += [
        f"{f.name}: {written.field(f.name).type}{'' if written.field(f.name).nullable else ' not null'} "
        f"(pinned {f.type}{'' if f.nullable else ' not null'})"
        for f in pinned
        if f.name in written.names and not written.field(f.name).equals(f)
    ]
    if not changes and written.names != pinned.names:
        changes.append(f"column order {written.names} (pinned {pinned.names})")
    return changes
