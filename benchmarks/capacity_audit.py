"""Audit: `analyze capacity`'s forecast and its weekly-pattern verdict against known truth.

Over many seeds, 8-week VPC connector timelines drawn from known laws:

- busy weekday hours (`analyzer.simulate.draw_state_timeline`, weekly strain on: 13:00-21:59
  UTC on weekdays strained 65 % of the time, every other hour 15 %): the forecast's strained
  share in the busy hours against the quiet hours' (goal: at least twice), and the backtest's
  error against the seasonal-naive forecast's (goal: at least 20 % lower over seeds);
- memoryless timelines (`draw_vpc_timeline`, exponential healthy spells of mean 3 h and
  episodes of mean 1.5 h, the same at every hour): seeds where a weekly pattern is claimed
  (goal: at most 1 in 20).

Prints the figures and their goals as JSON.

    uv run python benchmarks/capacity_audit.py --seeds 100
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

import numpy as np

from analyzer.capacity.forecast import backtest, seasonal_forecast
from analyzer.capacity.when import HOURS_A_WEEK, Hours, cut_hours, timeline_states
from analyzer.simulate import (
    DEFAULT_START,
    WeibullLaw,
    draw_state_timeline,
    draw_vpc_timeline,
    is_peak,
)

HOUR_S = 3600.0


def hours_of(timeline: list[tuple[float, str]], weeks: int) -> Hours:
    origin = DEFAULT_START.timestamp()
    states = timeline_states(timeline, origin_s=origin)
    return cut_hours(states, start_s=origin, end_s=origin + weeks * 7 * 86400, zone="UTC")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--weeks", type=int, default=8)
    args = parser.parse_args()
    busy = np.array(
        [is_peak(DEFAULT_START + timedelta(hours=h), weekly_strain=True) for h in range(168)]
    )
    assert len(busy) == HOURS_A_WEEK
    ratios, gains, shown = [], [], 0
    claimed = 0
    for seed in range(args.seeds):
        gen = np.random.default_rng(seed)
        hours = hours_of(draw_state_timeline(gen, days=7 * args.weeks), args.weeks)
        share = hours.share
        forecast = seasonal_forecast(share, hours).share
        ratios.append(float(forecast[busy].mean() / forecast[~busy].mean()))
        scored = backtest(share, hours)
        gains.append(scored.gain_over_seasonal_naive or 0.0)
        shown += scored.beats_both
        memoryless = draw_vpc_timeline(
            np.random.default_rng(10_000 + seed),
            quiet=WeibullLaw(3 * HOUR_S, 1.0),
            episode=WeibullLaw(1.5 * HOUR_S, 1.0),
            days=7 * args.weeks,
        )
        flat = hours_of(memoryless, args.weeks)
        claimed += backtest(flat.share, flat).weekly_pattern
    figures = {
        "seeds": args.seeds,
        "weeks": args.weeks,
        "busy_to_quiet_forecast_ratio_min": round(min(ratios), 3),
        "busy_to_quiet_forecast_ratio_median": round(float(np.median(ratios)), 3),
        "busy_to_quiet_goal": 2.0,
        "gain_over_seasonal_naive_mean": round(float(np.mean(gains)), 3),
        "gain_over_seasonal_naive_min": round(min(gains), 3),
        "gain_goal": 0.20,
        "weekly_forecast_shown_share": round(shown / args.seeds, 3),
        "memoryless_pattern_claimed_share": round(claimed / args.seeds, 3),
        "memoryless_claimed_goal": 0.05,
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
