"""The `drift` and `import` commands on the embedded `local` emulator (thin CLI wrappers)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from lagosync.cli import main
from lagosync.emulator import Emulator


def test_import_then_drift_on_the_local_emulator(tmp_path):
    (tmp_path / "lagosync.yaml").write_text("default_environment: local\nenvironments:\n  local: {}\n")
    (tmp_path / ".lagosync").mkdir()
    emu = Emulator(str(tmp_path / ".lagosync" / "local.db"), "lago-local-key")
    for body in ({"code": "vat", "name": "VAT", "rate": "20"}, {"code": "gst", "name": "GST", "rate": "5.5"}):
        assert emu.handle("POST", "/api/v1/taxes", [], {"authorization": "Bearer lago-local-key",
                                                        "content-type": "application/json"},
                          json.dumps({"tax": body}).encode()).status == 200
    del emu
    runner = CliRunner()
    res = runner.invoke(main, ["import", "-w", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "wrote plans/catalog.yaml" in res.output
    res = runner.invoke(main, ["import", "-w", str(tmp_path), "--select", "tax:vat"])
    assert res.exit_code == 0 and "skipped 1 object" in res.output
    res = runner.invoke(main, ["drift", "-w", str(tmp_path), "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["has_drift"] is False and doc["coverage"]["percent"] == "100.0"
    res = runner.invoke(main, ["drift", "-w", str(tmp_path), "--format", "yaml"])
    # a usage error is an error (1), never "drift" (2): a scheduled job must not read a typo as drift
    assert res.exit_code == 1 and "Invalid value" in res.output
