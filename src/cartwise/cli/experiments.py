"""CLI commands for A/B tests: ``cartwise experiments create|list|show|stop`` and
``cartwise report online`` (per variant and scenario: rates, revenue, intervals, verdicts)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from cartwise.cli.common import (
    ModelDirOpt,
    StoreOpt,
    console,
    model_dir,
    one_line_errors,
    open_store,
)
from cartwise.errors import InputError

experiments_app = typer.Typer(
    name="experiments",
    help="A/B tests: split shoppers between model versions or ranking settings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
report_app = typer.Typer(
    name="report",
    help="Reports on what was served.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

KOpt = Annotated[int, typer.Option("--k", min=1, max=100, help="positions counted by ctr@k")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the report as JSON")]


def parse_variants(
    specs: list[str], weights: list[float] | None, settings: list[str] | None
) -> list[Any]:
    """Variants from ``NAME=VERSION`` (``NAME=active``: the active version), weights in the
    same order (default: equal) and ``NAME.SETTING=VALUE`` settings."""
    from cartwise.data.experiments import Variant

    if weights and len(weights) != len(specs):
        raise InputError(f"{len(weights)} --weight for {len(specs)} --variant: give one each")
    parsed: dict[str, dict[str, Any]] = {}
    for n, spec in enumerate(specs):
        name, sep, version = spec.partition("=")
        if not sep or not name or not version:
            raise InputError(f"--variant '{spec}': write NAME=VERSION, or NAME=active")
        parsed[name] = {"model_version": None if version == "active" else version,
                        "weight": weights[n] if weights else 1.0, "settings": {}}  # fmt: skip
    for spec in settings or []:
        key, sep, raw = spec.partition("=")
        name, dot, setting = key.partition(".")
        if not sep or not dot or name not in parsed:
            raise InputError(f"--setting '{spec}': write VARIANT.SETTING=VALUE for a --variant")
        parsed[name]["settings"][setting] = _value(raw)
    return [Variant(name, **fields) for name, fields in parsed.items()]


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


@experiments_app.command()
def create(
    experiment_id: Annotated[str, typer.Argument(help="a new id, e.g. sasrec-vs-ease")],
    variant: Annotated[
        list[str],
        typer.Option(help="NAME=VERSION (or NAME=active), repeated; the first is the control"),
    ],
    weight: Annotated[
        list[float] | None, typer.Option(help="traffic weight per --variant (default equal)")
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            help="VARIANT.SETTING=VALUE: personalization, diversity, mmr_lambda, max_per_category"
        ),  # fmt: skip
    ] = None,
    scenario: Annotated[
        list[str] | None, typer.Option(help="user, session, search (default: all)")
    ] = None,
    planned_impressions: Annotated[
        int, typer.Option(min=1, help="per variant; reading before uses sequential tests")
    ] = 10_000,
    alpha: Annotated[float, typer.Option(help="significance level")] = 0.05,
    description: Annotated[str, typer.Option(help="what is tested")] = "",
    store: StoreOpt = None,
    models: ModelDirOpt = None,
) -> None:
    """Start an A/B test: shoppers are split by a salted hash of their id (anonymous sessions
    by session id); the service picks it up within seconds."""
    from cartwise.data.experiments import Experiment, create_experiment
    from cartwise.lifecycle import Versions

    with one_line_errors():
        exp = Experiment(
            id=experiment_id,
            variants=parse_variants(variant, weight, setting),
            salt="",
            description=description,
            scenarios=scenario or None,
            planned_impressions=planned_impressions,
            alpha=alpha,
        )
        versions = Versions(model_dir(models)).list()
        made = create_experiment(open_store(store), exp, versions=versions)
    split = ", ".join(
        f"{v.name}={v.model_version or 'active'} ({v.weight:g})" for v in made.variants
    )
    console.print(f"experiment {made.id} running: {split}", highlight=False)


@experiments_app.command(name="list")
def list_experiments(store: StoreOpt = None) -> None:
    """Experiments, oldest first, with their status and variants."""
    from cartwise.data.experiments import list_experiments as found

    with one_line_errors():
        rows = found(open_store(store))
    table = Table(title="experiments")
    for col in ("id", "status", "variants", "scenarios", "planned"):
        table.add_column(col)
    for e in rows:
        variants = ", ".join(
            f"{v.name}={v.model_version or 'active'}:{v.weight:g}" for v in e.variants
        )
        table.add_row(e.id, e.status, variants, ", ".join(e.scenarios or ["all"]),
                      str(e.planned_impressions))  # fmt: skip
    console.print(table)


@experiments_app.command()
def show(
    experiment_id: Annotated[str, typer.Argument(help="the experiment")],
    k: KOpt = 10,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """One experiment's online report."""
    from cartwise.evaluation.online_report import experiment_report

    with one_line_errors():
        report = experiment_report(open_store(store), experiment_id, k)
    _print([report], as_json)


@experiments_app.command()
def stop(experiment_id: Annotated[str, typer.Argument(help="the experiment")],
         store: StoreOpt = None) -> None:  # fmt: skip
    """Stop an experiment: its shoppers go back to the active version; its report stays."""
    from cartwise.data.experiments import stop_experiment

    with one_line_errors():
        stop_experiment(open_store(store), experiment_id)
    console.print(f"experiment {experiment_id} stopped", highlight=False)


@report_app.command()
def online(
    experiment_id: Annotated[
        str | None, typer.Argument(help="one experiment (default: every running one)")
    ] = None,
    k: KOpt = 10,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Online metrics of A/B tests per variant and scenario: impressions, CTR@k, add-to-cart
    and purchase rates, revenue per 1,000 impressions, intervals, and each variant against the
    control (sequential tests before the planned end)."""
    from cartwise.evaluation.online_report import experiment_report, summaries

    with one_line_errors():
        opened = open_store(store)
        if experiment_id is not None:
            reports = [experiment_report(opened, experiment_id, k)]
        else:
            reports = summaries(opened, running_only=True, k=k)
    if not reports and not as_json:
        console.print("no running experiment; `cartwise experiments create` starts one")
        return
    _print(reports, as_json)


def _print(reports: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(reports))
        return
    for report in reports:
        exp = report["experiment"]
        for scen in report["scenarios"]:
            how = "sequential (mSPRT)" if scen["sequential"] else "fixed horizon"
            table = Table(
                title=f"{exp['id']} ({exp['status']}) · {scen['scenario']} · {how} · "
                f"sample-ratio p={scen['sample_ratio_p']:.3g}"
            )
            for col in ("variant", "version", "impr.", "metric", "value", "interval",
                        "vs control", "p", "verdict"):  # fmt: skip
                table.add_column(col)
            for row in scen["variants"]:
                for n, m in enumerate(row["metrics"]):
                    table.add_row(
                        row["variant"] if n == 0 else "",
                        (row["model_version"] or "active") if n == 0 else "",
                        str(row["impressions"]) if n == 0 else "",
                        m["name"], _num(m["value"]),
                        f"[{_num(m['ci_low'])}, {_num(m['ci_high'])}]",
                        "" if m["effect"] is None else
                        f"{_num(m['effect'])} [{_num(m['effect_low'])}, {_num(m['effect_high'])}]",
                        _num(m["p_value"]), m["verdict"] or ("control" if row["control"] else ""),
                    )  # fmt: skip
            console.print(table)
        if not report["scenarios"]:
            console.print(f"{exp['id']}: nothing served yet", highlight=False)


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.4g}"
