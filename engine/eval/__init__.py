"""The eval launcher: a suite of benchmarks run through the engine (backends, exactly-once
shards, resume, progress) and its verifiers, with statistics, a report and paired comparison.

``load_suite(path)`` reads a suite; ``benchmark_sources(suite)`` lists its benchmarks as
question sources (for a recipe's decontamination); ``EvalRun`` runs one; ``compute_results``
recomputes every figure from an eval's output directory.
"""

from engine.eval.suite import Suite, benchmark_sources, load_suite

__all__ = ["Suite", "benchmark_sources", "load_suite"]
