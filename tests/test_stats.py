"""Bootstrap intervals and paired tests: reproducible, shrinking with data, right verdicts."""

import random

from ftx.stats import bootstrap_ci, paired_test


def test_interval_contains_the_mean_and_is_seeded():
    rng = random.Random(1)
    values = [rng.random() for _ in range(50)]
    low, high = bootstrap_ci(values, seed=3)
    assert low < sum(values) / 50 < high
    assert bootstrap_ci(values, seed=3) == (low, high)


def test_interval_shrinks_with_more_examples():
    rng = random.Random(0)
    small = [rng.random() for _ in range(20)]
    large = [rng.random() for _ in range(2000)]
    w_small = bootstrap_ci(small)[1] - bootstrap_ci(small)[0]
    w_large = bootstrap_ci(large)[1] - bootstrap_ci(large)[0]
    assert w_large < w_small / 5  # ~ 1/sqrt(n): sqrt(100) = 10


def test_paired_verdicts():
    rng = random.Random(0)
    base = [rng.random() * 0.3 for _ in range(40)]
    better = [b + 0.2 + rng.random() * 0.05 for b in base]
    noise = [b + rng.uniform(-0.01, 0.01) for b in base]
    assert paired_test(better, base).verdict == "better"
    assert paired_test(base, better).verdict == "worse"
    assert paired_test(noise, base).verdict == "no significant difference"
    assert paired_test(better, base, higher_is_better=False).verdict == "worse"  # e.g. perplexity
    assert paired_test(base, base).verdict == "no significant difference"
    assert paired_test([1.0] * 5, [0.0] * 5).p_value == 0.0


def test_edge_cases():
    assert bootstrap_ci([0.5]) == (0.5, 0.5)
    assert paired_test([], []).verdict == "no significant difference"
