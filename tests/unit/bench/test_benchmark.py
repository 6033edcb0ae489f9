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
        assert "backbone.layers.2" in r["stages"]
        assert r["stages_run_s"] in r["times"] and sum(r["stages"].values()) <= r["stages_run_s"]
        # the fast path runs the head's last two layers as one kernel, the plain path as modules
        assert ("upsample2+output" if r["kernels"] == "fast" else "upsample2") in r["stages"]
        assert len(r["warmup_s"]) == 1 and r["kernels"] in ("fast", "reference") and not r["compiled"]
    fp32, bf16, plain_fp32, plain_bf16 = results
    assert fp32["max_abs_vs_ours_fp32"] == 0.0
    assert 0.0 < bf16["max_abs_vs_ours_fp32"] <= 0.06 and plain_bf16["max_abs_vs_ours_fp32"] <= 0.06
    assert plain_fp32["max_abs_vs_ours_fp32"] <= 1e-4  # the plain path computes the same function
    table = capsys.readouterr().out
    assert "interleaved rounds" in table and "per-stage seconds" in table
    assert "load average (1, 5, 15 min): at start" in table  # the conditions go with the figures
    probe_lines = [line for line in table.splitlines() if line.strip().startswith(("fp32:", "bf16:"))]
    assert "host speed probe" in table and len(probe_lines) == len(_probed_dtypes())
    assert all(len(line.split(":")[1].split(",")) == 3 for line in probe_lines)  # before 2 rounds, then the end


def _probed_dtypes() -> set[str]:
    """fp32 always; bf16 where this CPU has it in hardware (the probe skips emulated bf16)."""
    import torch

    from ben2_model.weights.dtypes import slow_dtype_warning

    return {"fp32"} | ({"bf16"} if slow_dtype_warning(torch.bfloat16, "cpu") is None else set())


def test_host_speed_probe_measures_the_precisions_the_cpu_has():
    from ben2_model.bench.network import host_speed

    speeds = host_speed(threads=1, repeats=2)
    assert set(speeds) == _probed_dtypes() and all(v > 0 for v in speeds.values())
    assert host_speed(threads=1, device="cuda") is None  # the probe describes the CPU host only


def test_host_speed_probe_skips_emulated_bf16(monkeypatch):
    import ben2_model.weights.dtypes as dtypes
    from ben2_model.bench.network import host_speed

    monkeypatch.setattr(dtypes, "cpu_flags", lambda: {"sse2", "avx2"})  # an AVX2-only x86 CPU
    assert set(host_speed(threads=1, repeats=1)) == {"fp32"}


def test_probe_drift_and_round_ratios_are_reported(capsys):
    from ben2_model.bench.network import _print_probes, _round_ratios

    _print_probes([{"fp32": 300.0, "bf16": 2900.0}, {"fp32": 290.0, "bf16": 900.0}])
    captured = capsys.readouterr()
    assert "bf16: 2900, 900" in captured.out
    assert "bf16 speed moved 3.22x" in captured.err and "fp32 speed moved" not in captured.err
    assert _round_ratios({"times": [2.0, 5.0]}, {"times": [20.0, 20.0]}) == [10.0, 4.0]


def test_stage_times_include_the_head_kernel(monkeypatch):
    """The fast path's last two head layers are one kernel call, not module calls: their time is
    still a stage of its own rather than hidden in the rest."""
    import torch

    import ben2_model.network.kernels as kernels
    from ben2_model.bench.network import FUSED_HEAD, _stage_timer
    from ben2_model.network.model import BEN2
    from ben2_model.weights.seeded import TINY_CONFIG

    monkeypatch.setattr(kernels, "upsampled_output", kernels.upsampled_output)  # undone after the test
    model = BEN2(**TINY_CONFIG).eval()
    totals = _stage_timer(model, torch.device("cpu"))
    with torch.inference_mode():
        model(torch.zeros(1, 3, 512, 512))
    assert totals[FUSED_HEAD] > 0 and "upsample2" not in totals and totals["upsample1"] > 0


def test_the_short_module_name_runs_the_same_benchmark():
    """``python -m ben2_model.benchmark`` is ``ben2_model.bench.network`` (its options, its main)."""
    import subprocess
    import sys

    import ben2_model.benchmark as short
    from ben2_model.bench import network

    assert short.main is network.main
    done = subprocess.run([sys.executable, "-m", "ben2_model.benchmark", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--reference-compile" in done.stdout and "--device" in done.stdout
