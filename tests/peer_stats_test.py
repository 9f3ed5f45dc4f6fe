#!/usr/bin/python3
"""bench/peer_stats.py must compute what src/measure/stats.c computes: the same nearest-rank
percentiles (the values pinned by tests/test_stats.c) and the same summary, so that the peer
benchmark's figures for ONNX Runtime, OpenVINO and PyTorch mean what plaster's mean."""
import math
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import peer_stats  # noqa: E402
import peers  # noqa: E402


class OutputCheckTest(unittest.TestCase):
    """The output check compares every runner with plaster's reference backend: `plaster run`
    defaults to the cpu backend, so the yardstick must name the reference (it once did not, and
    the cpu backend was compared with itself)."""

    def test_commands(self):
        a = {"plaster": "build/plaster", "torch_python": "/usr/bin/python3"}
        runs = peers.output_check_commands(a, {"plaster-cpu": []}, "m", "in", "out", 2, True)
        ref, cpu = runs["plaster"], runs["plaster-cpu"]
        self.assertEqual(ref[ref.index("--backend") + 1], "reference")
        self.assertEqual(cpu[cpu.index("--backend") + 1], "cpu")
        self.assertNotEqual(ref[ref.index("--output-dir") + 1], cpu[cpu.index("--output-dir") + 1])
        for peer in peers.PEERS:
            self.assertIn(peer, runs)
        old = peers.output_check_commands(a, {"plaster": []}, "m", "in", "out", 2, False)
        self.assertNotIn("--backend", old["plaster"])
        self.assertNotIn("plaster-cpu", old)


class PercentileTest(unittest.TestCase):
    def test_one_to_hundred(self):
        s = peer_stats.summarize([float(100 - i) for i in range(100)])  # unsorted on purpose
        self.assertEqual((s["p50_ns"], s["p90_ns"], s["p95_ns"], s["p97_ns"]), (50, 90, 95, 97))
        self.assertEqual((s["p99_ns"], s["p999_ns"], s["min_ns"], s["max_ns"]), (99, 100, 1, 100))
        self.assertAlmostEqual(s["mean_ns"], 50.5, delta=1e-12)
        self.assertAlmostEqual(s["stddev_ns"], 29.011491975882016, delta=1e-9)

    def test_five(self):
        s = peer_stats.summarize([30, 10, 50, 20, 40])
        self.assertEqual((s["p50_ns"], s["p90_ns"]), (30, 50))
        v = [10, 20, 30, 40, 50]
        self.assertEqual(peer_stats.percentile_sorted(v, 10), 10)
        self.assertEqual(peer_stats.percentile_sorted(v, 0), 10)
        self.assertEqual(peer_stats.percentile_sorted(v, 100), 50)
        self.assertEqual(peer_stats.percentile_sorted([], 50), 0.0)

    def test_nearest_rank_not_interpolated(self):
        # 64 queries (LoadGen's single-stream minimum): p50 is the 32nd, p99 the 64th (ceil(63.36))
        v = list(range(1, 65))
        self.assertEqual(peer_stats.percentile_sorted(v, 50), 32)
        self.assertEqual(peer_stats.percentile_sorted(v, 90), 58)
        self.assertEqual(peer_stats.percentile_sorted(v, 99), 64)
        self.assertEqual(peer_stats.summarize([])["p50_ns"], 0.0)


class LoopTest(unittest.TestCase):
    def test_single_stream_on_a_fake_clock(self):
        # each infer() advances the clock 1 ms: 1 first run + 3 warmup runs (warmup_ms 0), then
        # 64 timed queries although 10 ms would already be enough
        t = [0]

        def infer():
            t[0] += 1000000
        r = peer_stats.single_stream(infer, 4, 0.01, 0, 64, clock=lambda: t[0])
        self.assertEqual((r["queries"], r["samples"], r["warmup_runs"]), (64, 256, 3))
        self.assertEqual((r["p50_ns"], r["p99_ns"], r["first_run_ns"]), (1e6, 1e6, 1e6))
        self.assertTrue(math.isclose(r["samples_per_s"], 256 / 0.064))


if __name__ == "__main__":
    unittest.main(verbosity=0)
