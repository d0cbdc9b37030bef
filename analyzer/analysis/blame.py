"""Blame, as `systemd-analyze blame` does for units: the window's slowest startups with the
phase that cost each the most, and the share of startup time each phase takes per service and
VPC state."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from analyzer.analysis.fleet import service_frame
from analyzer.engine import Engine
from analyzer.errors import AnalyzerError
from analyzer.timewindow import Window

if TYPE_CHECKING:
    import polars as pl


class SlowStartup(BaseModel):
    service: str
    revision: str
    startup_id: str
    started_at: datetime
    duration_s: float  # start to its end; with no end seen, the sum of its phases
    outcome: str
    phase: int  # the phase that cost it the most
    phase_name: str | None
    operation: str
    phase_duration_s: float
    phase_outcome: str
    phase_share: float  # of the startup's time
    vpc_state: str  # of that phase attempt


class PhaseShare(BaseModel):
    service: str
    vpc_state: str
    phase: int
    phase_name: str | None
    operation: str
    attempts: int
    total_s: float
    mean_s: float
    share: float  # of the time of every phase attempt of the service in that state


class Blame(BaseModel):
    env: str
    window: Window
    services: list[str]
    startups: int
    slowest: list[SlowStartup]
    shares: list[PhaseShare]


def blame_frame(frame: pl.DataFrame, *, top: int) -> tuple[list[SlowStartup], list[PhaseShare]]:
    """The slowest `top` startups and the phase shares, from `queries/blame_attempts.sql`'s
    columns."""
    import polars as pl

    costliest = (
        frame.sort(["duration_s", "phase"], descending=[True, False])
        .group_by("startup_id", maintain_order=True)
        .agg(
            pl.all().first(),
            pl.col("duration_s").sum().alias("phases_s"),
        )
        .with_columns(
            pl.coalesce("startup_duration_s", "phases_s").alias("wall_s"),
        )
        .sort(["wall_s", "startup_id"], descending=[True, False])
        .head(top)
    )
    slowest = [
        SlowStartup(
            service=row["service"],
            revision=row["revision"],
            startup_id=row["startup_id"],
            started_at=row["startup_started_at"],
            duration_s=row["wall_s"],
            outcome=row["startup_outcome"],
            phase=row["phase"],
            phase_name=row["phase_name"],
            operation=row["operation"],
            phase_duration_s=row["duration_s"],
            phase_outcome=row["outcome"],
            phase_share=row["duration_s"] / row["wall_s"] if row["wall_s"] > 0 else 1.0,
            vpc_state=row["vpc_state"],
        )
        for row in costliest.iter_rows(named=True)
    ]
    shares = (
        frame.group_by(["service", "vpc_state", "phase", "operation"])
        .agg(
            pl.col("phase_name").drop_nulls().first(),
            pl.len().alias("attempts"),
            pl.col("duration_s").sum().alias("total_s"),
            pl.col("duration_s").mean().alias("mean_s"),
        )
        # sorted before the sum over each state, so that it adds in one order, every run
        .sort(["service", "vpc_state", "phase", "operation"])
        .with_columns(
            (pl.col("total_s") / pl.col("total_s").sum().over(["service", "vpc_state"])).alias(
                "share"
            )
        )
    )
    return slowest, [PhaseShare.model_validate(row) for row in shares.iter_rows(named=True)]


def blame(
    *,
    engine: Engine,
    env: str,
    service: str | None = None,
    since: str = "7d",
    until: str | None = None,
    top: int = 10,
) -> Blame:
    """The window's slowest startups and where startup time goes, per service and state."""
    if top < 1:
        raise AnalyzerError(f"--top {top}: show at least one startup")
    frame, services, window = service_frame(
        engine, "blame_attempts", env=env, service=service, since=since, until=until
    )
    slowest, shares = blame_frame(frame, top=top)
    return Blame(
        env=env,
        window=window,
        services=services,
        startups=frame["startup_id"].n_unique(),
        slowest=slowest,
        shares=shares,
    )
