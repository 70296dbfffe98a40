"""to_parquet / to_csv / to_json: status columns kept, nested outputs flattened or kept, no browser."""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest

from anchorframe._core.frames import errors_frame, results_frame, sessions_frame
from anchorframe._core.plan import plan_sessions
from anchorframe._core.table import prepare_input
from anchorframe._run.result import ScrapeResult
from anchorframe.errors import InputError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8


def _result() -> ScrapeResult:
    frame = pd.DataFrame(
        {"url": ["https://a.test/1", "https://a.test/2", None]}, index=pd.Index(["x", "y", "z"], name="sku")
    )
    table = prepare_input(frame)
    first, second = table.work
    first.status, first.attempts = "ok", 1
    first.value = {"name": "A", "shop": {"city": "Oslo", "stars": 4}, "tags": ["new"], "shot": PNG}
    second.status, second.reason, second.message, second.attempts = "failed", "timeout", "too slow", 3
    return ScrapeResult(
        results=results_frame(table, [first, second, None]),
        errors=errors_frame([]),
        sessions=sessions_frame([]),
        plan=plan_sessions(2, cores=2),
        backend="local Chromium",
        run_id="r1",
        elapsed=1.0,
    )


def test_parquet_flattens_nested_dicts_and_keeps_status_and_index(tmp_path):
    """Nested dicts become shop.city / shop.stars columns; the index and af_ columns survive."""
    path = tmp_path / "out" / "r.parquet"
    _result().to_parquet(path)
    back = pd.read_parquet(path)
    assert list(back.index) == ["x", "y", "z"] and back.index.name == "sku"
    assert back["shop.city"].tolist()[0] == "Oslo" and str(back["shop.stars"].dtype) == "Int64"
    assert back["af_status"].astype(str).tolist() == ["ok", "failed", "invalid"]
    assert back["af_attempts"].tolist() == [1, 3, 0] and back["shot"].iloc[0] == PNG


def test_parquet_keeps_structs_by_choice(tmp_path):
    """nested="struct" writes the dict as one Parquet struct column."""
    path = tmp_path / "r.parquet"
    _result().to_parquet(path, nested="struct")
    back = pd.read_parquet(path)
    assert back["shop"].iloc[0] == {"city": "Oslo", "stars": 4} and "shop.city" not in back


def test_csv_and_json_write_text_for_what_they_cannot_hold(tmp_path):
    """CSV gets JSON text for lists and base64 for bytes; JSON Lines keeps objects with nested="struct"."""
    result = _result()
    result.to_csv(tmp_path / "r.csv")
    csv = pd.read_csv(tmp_path / "r.csv", index_col="sku")
    assert json.loads(csv.loc["x", "tags"]) == ["new"] and base64.b64decode(csv.loc["x", "shot"]) == PNG
    assert csv.loc["y", "af_error"] == "too slow"
    result.to_json(tmp_path / "r.jsonl", nested="struct")
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert rows[0]["sku"] == "x" and rows[0]["shop"] == {"city": "Oslo", "stars": 4}
    assert rows[1]["af_status"] == "failed" and rows[2]["af_status"] == "invalid"


def test_unknown_nested_mode_is_an_input_error(tmp_path):
    """A typo in nested= is named with the choices."""
    with pytest.raises(InputError, match="'flatten' or 'struct'"):
        _result().to_parquet(tmp_path / "r.parquet", nested="flat")  # type: ignore[arg-type]
