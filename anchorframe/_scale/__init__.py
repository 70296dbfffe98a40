"""Scale-out: the rows of one run over shard processes here (``workers=N``) or Dask tasks (``cluster=``).

Owns: :mod:`.shards` (the coordinator: hands rows out on demand, takes results back,
exactly once), :mod:`.shard` (a shard process: the engine in feed mode), :mod:`.shard_spec`
(what a shard receives, without secrets), :mod:`.dask` (shards as Dask tasks) and
:mod:`.dask_input` (a dask DataFrame's partitions as the rows).

May import: ``_engine`` and everything below it. Never a display (the run shows progress).
"""
