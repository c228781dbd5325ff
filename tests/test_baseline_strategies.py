"""The VPA and KRR baselines on series small enough to work out by hand.

Expected numbers come from the published algorithms, derived in the comments, never from the
code under test. VPA's buckets (first bucket f, ratio r = 1.05) start at
f * (r**i - 1) / (r - 1) = 20 f * (1.05**i - 1), and a value v falls in bucket
floor(ln(v * 0.05 / f + 1) / ln 1.05), with ln 1.05 = 0.0487902.
"""

import numpy as np
import pandas as pd
import pytest

from recommenders.errors import InputError
from recommenders.strategies.krr_simple import KrrSimpleSettings, KrrSimpleStrategy
from recommenders.strategies.vpa import VpaSettings, VpaStrategy

WEEK = pd.Timedelta(days=7)
MIB = 2**20

# 0.5 cores, f = 0.01: ln(0.5 * 0.05 / 0.01 + 1) = ln 3.5 = 1.252763; / 0.0487902 = 25.68,
# bucket 25. Its end is the start of bucket 26: 0.2 * (1.05**26 - 1) = 0.2 * 2.5556727
# = 0.5111345 cores; + 15 % = 0.5878047.
HALF_CORE_P90 = 0.5111345
HALF_CORE_REQUEST = 0.5878047
# 2 cores: ln(2 * 5 + 1) = ln 11 = 2.397895; / 0.0487902 = 49.15, bucket 49. Its end:
# 0.2 * (1.05**50 - 1) = 0.2 * 10.4674 = 2.093480 cores; + 15 % = 2.407502.
TWO_CORES_REQUEST = 2.407502
# Memory, f = 1e7 bytes: 5e8 and 2e9 bytes are 50 and 200 first buckets, like 0.5 and 2 cores
# are 50 and 200 of CPU's 0.01, so they land in the same buckets 25 and 49, ends times 1e9.
HALF_GB_REQUEST = 0.5878047e9
TWO_GB_REQUEST = 2.407502e9


def _hourly(values, start="2026-10-01", tz="UTC") -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq="1h", tz=tz)
    return pd.Series(np.asarray(values, dtype=float), index=index)


def _at(hours_and_values, tz="UTC") -> pd.Series:
    """A series from (hours after the start, value) pairs."""
    start = pd.Timestamp("2026-10-01", tz=tz)
    index = pd.DatetimeIndex([start + pd.Timedelta(hours=h) for h, _ in hours_and_values])
    return pd.Series([float(v) for _, v in hours_and_values], index=index)


def _spiky_days(days: int, spike_days: int, base: float, spike: float) -> pd.Series:
    """Hourly `base`, with one hour at `spike` at noon of each of the first `spike_days` days."""
    values = np.full(days * 24, base)
    values[[day * 24 + 12 for day in range(spike_days)]] = spike
    return _hourly(values)


# --- VPA: the histogram ----------------------------------------------------------------------


def test_vpa_sizes_a_constant_cpu_series_to_the_end_of_its_bucket_plus_the_margin():
    sizing = VpaStrategy().size(_hourly([0.5] * 48), "cpu", WEEK)
    assert sizing.request == pytest.approx(HALF_CORE_REQUEST, rel=1e-6)
    assert sizing.limit is None
    assert "p90 0.511 cores (top of its bucket) over 48 samples" in sizing.evidence
    assert sizing.model == "VPA decaying histogram (half-life 24 h, p90)"
    assert sizing.basis == "p90 of a decaying histogram (24 h half-life) + 15%"


def test_vpa_margin_is_a_setting():
    sizing = VpaStrategy(VpaSettings(safety_margin=0.0)).size(_hourly([0.5] * 48), "cpu", WEEK)
    assert sizing.request == pytest.approx(HALF_CORE_P90, rel=1e-6)


def test_vpa_values_past_the_last_bucket_get_its_start():
    # 5000 cores is past max 1000: numBuckets = ceil(ln(1000 * 5 + 1) / 0.0487902) + 1
    # = ceil(8.517393 / 0.0487902) + 1 = ceil(174.57) + 1 = 176, so the last bucket is 175,
    # which starts at 0.2 * (1.05**175 - 1), with 1.05**175 = e**(175 * 0.0487902) = e**8.538285
    # = 2980.958 * e**0.538285 = 2980.958 * 1.713058 = 5106.55: 0.2 * 5105.55 = 1021.11 cores.
    # That is the start, not the end: the last bucket has none.
    sizing = VpaStrategy(VpaSettings(safety_margin=0.0)).size(_hourly([5000.0] * 3), "cpu", WEEK)
    assert sizing.request == pytest.approx(1021.11, rel=1e-5)


# --- VPA: the decay --------------------------------------------------------------------------


def test_vpa_an_old_peak_two_half_lives_back_still_holds_p90():
    # Weights 2**-2 = 0.25 (2 cores, 48 h old) and 1 (0.5 cores, newest): total 1.25, p90 needs
    # 1.125, and bucket 25 holds only 1, so the walk goes on to the 2 cores' bucket 49.
    sizing = VpaStrategy().size(_at([(0, 2.0), (48, 0.5)]), "cpu", WEEK)
    assert sizing.request == pytest.approx(TWO_CORES_REQUEST, rel=1e-6)


def test_vpa_an_old_peak_four_half_lives_back_is_forgotten():
    # Weights 2**-4 = 0.0625 and 1: total 1.0625, p90 needs 0.95625 <= 1 already in bucket 25.
    # An old peak stops counting once its share drops below 10 %: older than log2(9) = 3.17
    # half-lives.
    sizing = VpaStrategy().size(_at([(0, 2.0), (96, 0.5)]), "cpu", WEEK)
    assert sizing.request == pytest.approx(HALF_CORE_REQUEST, rel=1e-6)


def test_vpa_with_a_lower_percentile_the_newer_sample_wins_sooner():
    # Weights 0.25 and 1 again, but p75 needs 0.75 * 1.25 = 0.9375 <= 1: bucket 25.
    strategy = VpaStrategy(VpaSettings(target_percentile=0.75))
    sizing = strategy.size(_at([(0, 2.0), (48, 0.5)]), "cpu", WEEK)
    assert sizing.request == pytest.approx(HALF_CORE_REQUEST, rel=1e-6)
    assert "p75" in sizing.model


def test_vpa_samples_at_the_same_time_weigh_the_same():
    # Weights 1 and 1: p90 needs 1.8 of 2, past bucket 25's 1, so the larger one decides.
    sizing = VpaStrategy().size(_at([(0, 2.0), (0, 0.5)]), "cpu", WEEK)
    assert sizing.request == pytest.approx(TWO_CORES_REQUEST, rel=1e-6)


# --- VPA: memory peaks -----------------------------------------------------------------------


def test_vpa_memory_counts_one_peak_per_day_so_a_daily_one_hour_spike_sets_the_size():
    # Four windows, each with a 2e9 peak: every peak is in bucket 49.
    sizing = VpaStrategy().size(_spiky_days(4, 4, 5e8, 2e9), "memory", WEEK)
    assert sizing.request == pytest.approx(TWO_GB_REQUEST, rel=1e-6)
    assert "over 4 daily peaks of 96 samples" in sizing.evidence


def test_vpa_memory_forgets_a_spike_only_on_the_first_of_four_days():
    # Windows start 0, 24, 48, 72 h; the newest sample is at 95 h, so the peaks weigh
    # 2**(-95/24) * (1, 2, 4, 8): only ratios matter, 1 : 2 : 4 : 8 of 15. p90 needs 13.5, and
    # the three 5e8 peaks in bucket 25 hold 14 already.
    sizing = VpaStrategy().size(_spiky_days(4, 1, 5e8, 2e9), "memory", WEEK)
    assert sizing.request == pytest.approx(HALF_GB_REQUEST, rel=1e-6)


def test_vpa_cpu_counts_every_sample_so_the_same_daily_spike_stays_under_p90():
    # Sample k of 96 weighs 2**((k - 95) / 24): the total is (1 - 2**-4) / (1 - 2**(-1/24))
    # = 0.9375 / 0.028468 = 32.93, the spikes at 12, 36, 60, 84 h weigh 2**(-83/24) + 2**(-59/24)
    # + 2**(-35/24) + 2**(-11/24) = 0.091 + 0.182 + 0.364 + 0.728 = 1.365: 4 %, below 10 %.
    sizing = VpaStrategy().size(_spiky_days(4, 4, 0.5, 2.0), "cpu", WEEK)
    assert sizing.request == pytest.approx(HALF_CORE_REQUEST, rel=1e-6)


def test_vpa_memory_windows_skip_gaps_and_align_to_the_first_sample():
    # Samples at 0 h and 10 h share window 0; 30 h is in window 1; 80 h in window 3 (window 2
    # is empty): three peaks, not four, and the 10 h sample's 2e9 is window 0's peak.
    history = _at([(0, 5e8), (10, 2e9), (30, 5e8), (80, 5e8)])
    sizing = VpaStrategy().size(history, "memory", WEEK)
    assert "over 3 daily peaks of 4 samples" in sizing.evidence
    assert "highest peak 1.86 GiB" in sizing.evidence  # 2e9 / 2**30 = 1.863


# --- VPA: minimums, empty history, confidence --------------------------------------------------


def test_vpa_tiny_cpu_is_raised_to_25_millicores():
    # 0.001 cores < f = 0.01: bucket 0, whose end is 0.01; + 15 % = 0.0115 < 0.025.
    sizing = VpaStrategy().size(_hourly([0.001] * 48), "cpu", WEEK)
    assert sizing.request == pytest.approx(0.025)
    assert any("minimum" in note for note in sizing.notes)


def test_vpa_tiny_memory_is_raised_to_250_mib():
    # 1e6 bytes < f = 1e7: bucket 0, end 1e7; + 15 % = 1.15e7 < 250 * 2**20 = 262144000.
    sizing = VpaStrategy().size(_hourly([1e6] * 48), "memory", WEEK)
    assert sizing.request == 250 * MIB
    assert any("minimum" in note for note in sizing.notes)


@pytest.mark.parametrize(("metric", "minimum"), [("cpu", 0.025), ("memory", 250.0 * MIB)])
def test_vpa_without_data_recommends_its_minimum_with_low_confidence(metric, minimum):
    sizing = VpaStrategy().size(_hourly([]), metric, WEEK)
    assert sizing.request == minimum
    assert sizing.confidence == "low"
    assert any("no usage data" in note for note in sizing.notes)


@pytest.mark.parametrize(
    ("hours", "confidence"), [(168, "high"), (167, "medium"), (24, "medium"), (23, "low")]
)
def test_confidence_follows_the_days_of_history(hours, confidence):
    # n hourly samples cover n hours: a week is 168 of them.
    history = _hourly([0.5] * hours)
    assert VpaStrategy().size(history, "cpu", WEEK).confidence == confidence
    assert KrrSimpleStrategy().size(history, "cpu", WEEK).confidence == confidence


def test_vpa_ignores_the_horizon_and_the_time_zone():
    aware = _spiky_days(4, 1, 5e8, 2e9)
    naive = aware.tz_localize(None)
    requests = [
        VpaStrategy().size(series, "memory", horizon).request
        for series in (aware, naive)
        for horizon in (pd.Timedelta(hours=1), WEEK)
    ]
    assert requests == [pytest.approx(HALF_GB_REQUEST, rel=1e-6)] * 4


def test_vpa_handles_five_minute_steps_like_hourly_ones():
    # The same level at any step falls in the same bucket.
    index = pd.date_range("2026-10-01", periods=12 * 48, freq="5min")
    sizing = VpaStrategy().size(pd.Series(0.5, index=index), "cpu", WEEK)
    assert sizing.request == pytest.approx(HALF_CORE_REQUEST, rel=1e-6)
    assert sizing.confidence == "medium"


# --- KRR simple --------------------------------------------------------------------------------


def test_krr_cpu_is_the_interpolated_p95_with_no_limit():
    # numpy's default (linear): position 0.95 * (100 - 1) = 94.05 between 94 and 95 -> 94.05.
    sizing = KrrSimpleStrategy().size(_hourly(np.arange(100)), "cpu", WEEK)
    assert sizing.request == pytest.approx(94.05)
    assert sizing.limit is None
    assert any("unset the CPU limit" in note for note in sizing.notes)
    assert sizing.model == "KRR simple (p95, last 14 days)"


def test_krr_memory_request_and_limit_are_the_peak_plus_15_percent():
    # max 99 * 1.15 = 113.85
    sizing = KrrSimpleStrategy().size(_hourly(np.arange(100)), "memory", WEEK)
    assert sizing.request == pytest.approx(113.85)
    assert sizing.limit == sizing.request


def test_krr_ignores_history_older_than_14_days():
    # 337 hourly samples: the first is 336 h older than the last, outside the 14 days.
    old_peak = _hourly([1e6] + [1.0] * 336)
    assert KrrSimpleStrategy().size(old_peak, "memory", WEEK).request == pytest.approx(1.15)
    assert KrrSimpleStrategy().size(old_peak, "cpu", WEEK).request == pytest.approx(1.0)
    # 336 samples: the first is 335 h old, inside.
    recent_peak = _hourly([1e6] + [1.0] * 335)
    assert KrrSimpleStrategy().size(recent_peak, "memory", WEEK).request == pytest.approx(1.15e6)


def test_krr_window_and_percentile_are_settings():
    # Last 24 h of 0..99 is 76..99; p50 at position 0.5 * 23 = 11.5 -> 87 + 0.5 = 87.5.
    strategy = KrrSimpleStrategy(KrrSimpleSettings(history_hours=24, cpu_percentile=50))
    assert strategy.size(_hourly(np.arange(100)), "cpu", WEEK).request == pytest.approx(87.5)


@pytest.mark.parametrize("metric", ["cpu", "memory"])
def test_krr_without_data_returns_zero_with_low_confidence(metric):
    sizing = KrrSimpleStrategy().size(_hourly([]), metric, WEEK)
    assert sizing.request == 0.0
    assert sizing.confidence == "low"
    assert any("no usage data" in note for note in sizing.notes)


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "where"),
    [
        (lambda: VpaSettings(target_percentile=1.5), "strategy.vpa.target_percentile"),
        (lambda: VpaSettings(half_life_hours=0), "strategy.vpa.half_life_hours"),
        (lambda: VpaSettings(min_cpu_cores=-1), "strategy.vpa.min_cpu_cores"),
        # In percent, as KRR takes it: 0.95 is a mistake for 95.
        (lambda: KrrSimpleSettings(cpu_percentile=0.95), "strategy.krr-simple.cpu_percentile"),
        (lambda: KrrSimpleSettings(history_hours=0), "strategy.krr-simple.history_hours"),
    ],
)
def test_out_of_bounds_settings_name_the_field(build, where):
    with pytest.raises(InputError) as error:
        build()
    assert error.value.where == where
    assert str(error.value).startswith(f"{where}: ")


def test_strategies_describe_themselves():
    for strategy, settings in ((VpaStrategy, VpaSettings), (KrrSimpleStrategy, KrrSimpleSettings)):
        assert strategy.settings_type is settings
        assert strategy.description
    assert (VpaStrategy.name, KrrSimpleStrategy.name) == ("vpa", "krr-simple")
