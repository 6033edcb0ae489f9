"""The network benchmark's plumbing (worker processes, interleaved rounds, table), on the tiny network."""

from __future__ import annotations

import json

from ben2_model.bench.network import main


def test_benchmark_runs_interleaved_rounds_and_reports_every_configuration(tmp_path, capsys):
    out = tmp_path / "results.json"
    argv = ["--tiny", "--runs", "2", "--warmup", "1", "--threads", "1", "--kernels", "fast", "reference", "--json", str(out)]
    assert main(argv) == 0
    results = json.loads(out.read_text())
    assert [(r["impl"], r["dtype"]) for r in results] == [
        ("ours", "fp32"), ("ours", "bf16"), ("ours-refkern", "fp32"), ("ours-refkern", "bf16")
    ]
    for r in results:
        assert len(r["times"]) == 2 and all(t > 0 for t in r["times"])
        assert r["peak_rss_mib"] >= r["rss_after_build_mib"] > 0
        assert "backbone.layers.2" in r["stages"] and "upsample2" in r["stages"]
        assert len(r["warmup_s"]) == 1 and r["kernels"] in ("fast", "reference") and not r["compiled"]
    fp32, bf16, plain_fp32, plain_bf16 = results
    assert fp32["max_abs_vs_ours_fp32"] == 0.0
    assert 0.0 < bf16["max_abs_vs_ours_fp32"] <= 0.06 and plain_bf16["max_abs_vs_ours_fp32"] <= 0.06
    assert plain_fp32["max_abs_vs_ours_fp32"] <= 1e-4  # the plain path computes the same function
    table = capsys.readouterr().out
    assert "interleaved rounds" in table and "per-stage seconds" in table
    assert "load average (1, 5, 15 min): at start" in table  # the conditions go with the figures
