"""Shards on a Dask cluster (``cluster=``): placeholder, filled in below."""

from __future__ import annotations

from typing import Any


def dask_shards(options: Any) -> Any:
    raise NotImplementedError
