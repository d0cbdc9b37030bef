"""What `analyze capacity` answers, as it crosses into JSON, the table and the report."""

from __future__ import annotations

from pydantic import BaseModel, Field

from analyzer.timewindow import Window


class HourOfWeek(BaseModel):
    hour: int = Field(description="Hour of the week: 0 = Monday 00:00 in the zone.")
    strained_share: float | None = Field(
        description="The history's share of this hour in pressure, scaling or critical."
    )
    forecast: float | None = Field(
        description="The share expected next week; null where the forecast is not shown."
    )
    forecast_low: float | None = None
    forecast_high: float | None = None


class ForecastBacktest(BaseModel):
    """The last weeks held out, each forecast from the weeks before it, scored by RMSE."""

    held_out_weeks: int
    hours_scored: int
    seasonal_rmse: float | None
    seasonal_naive_rmse: float | None
    flat_mean_rmse: float | None
    weekly_pattern: bool = Field(description="The seasonal model beats the flat mean.")
    forecast_shown: bool = Field(description="It beats both the seasonal-naive and flat mean.")
    verdict: str


class StrainTrend(BaseModel):
    weekly_share: list[float] = Field(description="Strained share of each week, oldest first.")
    slope_per_week: float | None
    slope_se: float | None
    direction: str


class StrainEpisodes(BaseModel):
    count: int
    cut_by_window: int
    median_s: float | None
    p90_s: float | None
    longest_s: float | None


class ServiceCost(BaseModel):
    service: str
    startups: int
    strained_startups: int
    healthy_mean_s: float | None = Field(description="Mean startup seconds begun while healthy.")
    extra_s_per_week: float | None = Field(
        description="Strained startups' seconds over the healthy mean, per week."
    )
    failed: int
    failed_in_strain: int
    would_fail_in_strain: int = Field(
        description="Completed in strain, but a phase ran past the timeout deployed now."
    )
    deploys: int
    deploys_in_strain: int
    deploy_strain_share: float | None
    failures_saved: float | None = Field(
        description="Failures in strain past what the healthy failure rate would give."
    )


class WhatIf(BaseModel):
    change: str
    evidence: str
    confirm_by: str
    limits: str


class Capacity(BaseModel):
    env: str
    service: str | None
    zone: str
    window: Window
    weeks: float
    strained_share: float | None
    hour_of_week: list[HourOfWeek]
    backtest: ForecastBacktest
    trend: StrainTrend
    episodes: StrainEpisodes
    costs: list[ServiceCost]
    what_ifs: list[WhatIf]
