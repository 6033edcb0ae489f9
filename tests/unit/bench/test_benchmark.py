"""The network benchmark's plumbing (worker processes, interleaved rounds, table), on the tiny network."""

from __future__ import annotations

import json

from ben2_model.bench.network import main


def test_benchmark_runs_interleaved_rounds_and_reports_every_configuration(tmp_path, capsys):
    out = tmp_path / "results.json"
    assert main(["--tiny", "--runs", "2", "--warmup", "0", "--threads", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert [(r["impl"], r["dtype"]) for r in results] == [("ours", "fp32"), ("ours", "bf16")]
    for r in results:
        assert len(r["times"]) == 2 and all(t > 0 for t in r["times"])
        assert r["peak_rss_mib"] >= r["rss_after_build_mib"] > 0
        assert "backbone.layers.2" in r["stages"] and "upsample2" in r["stages"]
    fp32, bf16 = results
    assert fp32["max_abs_vs_ours_fp32"] == 0.0
    assert 0.0 < bf16["max_abs_vs_ours_fp32"] <= 0.06
    table = capsys.readouterr().out
    assert "interleaved rounds" in table and "per-stage seconds" in table
