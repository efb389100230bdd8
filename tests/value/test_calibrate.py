"""``storyspace calibrate`` end to end on a few HANNA stories with the real embedded reader."""

from __future__ import annotations

import json
import math

import pytest

from storyspace.cli import main
from storyspace.value.model import load_calibration

pytestmark = pytest.mark.slow


def test_a_tiny_calibration_writes_a_usable_file(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "cal.json"
    assert main(["calibrate", "--n-stories", "4", "--no-judge", "--device", "cpu", "--out", str(out), "--quiet"]) == 0
    assert "Best coherence signal" in capsys.readouterr().out
    data = json.loads(out.read_text())
    cur, pmi = data["curiosity"], data["coherence"]["pmi"]
    assert data["reader"] == "embedded" and data["config"]["judge"] is False and data["config"]["n_stories"] == 4
    assert 1.0 < cur["mu"] < 8.0 and cur["sigma"] > 0 and cur["n_steps"] >= 4
    assert math.isfinite(pmi["center"]) and pmi["scale"] > 0
    assert set(data["comparison"]["signal_auc"]) == {"pmi", "cosine"}  # no judge signal
    cal = load_calibration(str(out), "embedded")  # the file is what --calibration takes
    assert cal.curiosity.mu == pytest.approx(cur["mu"])
