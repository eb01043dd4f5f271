"""Training's rows as the faces print them: what prepared data holds, and per file."""

from __future__ import annotations

import ddspkit
from ddspkit.report.training import FILE_COLUMNS, file_rows, held_out_text, summary_rows


def test_prepared_data_reads_as_rows_and_one_row_per_file(sung_dataset):
    data = ddspkit.prepare(sung_dataset)
    rows = dict(summary_rows(data))
    assert list(rows) == ["files", "audio", "voiced", "pitch", "power", "model range"]
    assert rows["files"] == "8 read, 1 skipped" and "Hz" in rows["model range"]
    assert rows["audio"].endswith("min usable (non-silent)") and "5th-95th percentile" in rows["pitch"]
    files = file_rows(data, sung_dataset)
    assert len(files) == 8 and all(len(r) == len(FILE_COLUMNS) for r in files)
    assert files[0][0] == "take0.wav" and files[0][1] == "10.1 s"
    assert all(r[5].endswith(" %") for r in files)


def test_the_held_out_loss_reads_with_three_decimals_or_not_at_all():
    assert held_out_text(6.69912) == "6.699" and held_out_text(None) == "n/a"
