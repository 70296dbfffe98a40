"""What a run keeps on disk: checkpoints, ``out=`` datasets, exports.

Owns: :mod:`.checkpoint` (open, resume, lock and write a checkpoint while a run goes),
:mod:`.checkpoint_files` (its layout and encoding), :mod:`.checkpoint_partitions` (a dask
input's checkpoint), :mod:`.load` (reading one back), :mod:`.out` (the ``out=`` Parquet
dataset shards write), :mod:`.export` (``to_parquet``/``to_csv``/``to_json``).

May import: ``_core``, ``errors``. Never a display.
"""
