"""CLI commands for models: train, recommend, search, models, evaluate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from cartwise.cli.common import (
    BareStoreCommand,
    ForceOpt,
    GateMarginOpt,
    ModelDirOpt,
    StoreOpt,
    console,
    model_dir,
    open_store,
    parse_settings,
)
from cartwise.config import get_settings
from cartwise.data.connect import shown_url
from cartwise.errors import ConfigError

if TYPE_CHECKING:
    from cartwise.data.dataset import Dataset
    from cartwise.evaluation.experiment import ModelRun
    from cartwise.ranking.results import Recommendation
    from cartwise.serving.engine import Engine


HoldoutDaysOpt = Annotated[
    float | None,
    typer.Option(
        "--holdout-days",
        min=0.001,
        help="validate on the last N days of events (default: each shopper's latest event)",
    ),
]
RefitOpt = Annotated[
    bool | None,
    typer.Option(
        "--refit/--no-refit",
        help="after validation, fit again on every event (default: only models that do "
        "not early-stop)",
    ),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(help="dataset file/folder, or a folder name under ../shared/datasets"),
]
EvalStoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="[URL]",
        help="evaluate on the store's events; without a URL, the configured store "
        "(env CARTWISE_STORE_URL)",
    ),
]
SplitOpt = Annotated[
    str | None,
    typer.Option(
        help="temporal or leave-one-out (default: temporal on --store, leave-one-out on --data)"
    ),
]
CutoffOpt = Annotated[
    datetime | None,
    typer.Option(help="temporal split: train before this time, UTC (default: --test-share)"),
]
TestShareOpt = Annotated[
    float, typer.Option(help="temporal split: share of the newest events tested on")
]
ModelsOpt = Annotated[
    str | None,
    typer.Option(
        "--models",
        help="comma-separated (default on --data: pop,itemknn,ease,als,sasrec; on --store: "
        "those, hybrid and the event-aware sasrec-events when it exists)",
    ),
]
TimeBudgetOpt = Annotated[
    str | None,
    typer.Option(
        "--time-budget",
        help="wall time the model's training may take, e.g. 20m, 90s, 1.5h (models with a "
        "time_budget setting; default: SASRec's, derived from the data)",
    ),
]
NprocOpt = Annotated[
    int,
    typer.Option(
        "--nproc",
        min=1,
        help="train in N processes on this machine (torchrun, DistributedDataParallel; "
        "gloo on CPU, NCCL on GPUs); see docs/training.md for several machines",
    ),
]
PresetOpt = Annotated[
    bool,
    typer.Option(
        "--preset/--no-preset",
        help="use the hand-tuned SASRec settings of a public dataset of that name "
        "(--no-preset: the settings the model derives from the data)",
    ),
]


def train(
    model: Annotated[str, typer.Option("--model", "-m", help="registered model name")] = "sasrec",
    setting: Annotated[
        list[str] | None, typer.Option("--set", help="config key=value (repeatable)")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="train on a dataset file/folder instead of the store (needs --out)"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="where to save the model directory")] = None,
    holdout_days: HoldoutDaysOpt = None,
    refit: RefitOpt = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    gate_margin: GateMarginOpt = None,
    force: ForceOpt = False,
    time_budget: TimeBudgetOpt = None,
    nproc: NprocOpt = 1,
    store: StoreOpt = None,
    models: ModelDirOpt = None,
) -> None:
    """Train a model on the store (saved as a new version, activated through the gate) or on a
    dataset file.

    On the store, each shopper's latest event (or the last --holdout-days) is held out: the
    model early-stops on it and the version records its validation NDCG@10/HR@10. The new
    version replaces the active one only when it is not worse on the same holdout by more than
    --gate-margin (--force activates it anyway); a refused version stays saved, and the
    command exits with code 3.
    """
    from cartwise.cli.launch import run_torchrun, train_args
    from cartwise.training import distributed

    config = with_budget(parse_settings(setting), time_budget, model)
    if nproc > 1 and not distributed.launched():
        options = {"--data": data, "--out": out, "--holdout-days": holdout_days,
                   "--gate-margin": gate_margin, "--time-budget": time_budget, "--store": store,
                   "--model-dir": models}  # fmt: skip
        args = train_args(model, seed, setting, options, refit=refit, force=force)
        console.print(f"training in {nproc} processes (torchrun)", highlight=False)
        raise typer.Exit(run_torchrun(nproc, args))
    with distributed.process_group(typer.Exit):  # the gate's refusal exits with a status
        if data is not None:
            _train_on_file(model, config, data, out, seed)
        else:
            _train_on_store(model, config, (holdout_days, refit), (gate_margin, force), seed,
                            store, models)  # fmt: skip


def _train_on_file(model: str, config: dict[str, Any], data: Path, out: Path | None,
                   seed: int) -> None:  # fmt: skip
    """Fit `model` on a dataset file (its last events as validation); rank 0 saves to `out`."""
    from cartwise.data.sources.public import load_dataset
    from cartwise.data.split import leave_last_out
    from cartwise.models.fit import fit
    from cartwise.training import distributed

    if out is None:
        raise ConfigError("--data needs --out DIR: where to save the trained model")
    split = leave_last_out(load_dataset(data))
    fitted = fit(model, config, split.train, valid=split.valid, rng=seed, progress=True)
    if distributed.is_main():
        fitted.model.save(out)
        console.print(f"saved {model} trained on {data} to {out}", highlight=False)


def _train_on_store(
    model: str, config: dict[str, Any], holdout: tuple[float | None, bool | None],
    gate: tuple[float | None, bool], seed: int, store: str | None, models: Path | None,
) -> None:  # fmt: skip
    """Train a version on the store through the gate; rank 0 shows the outcome."""
    from cartwise.cli.versions import gate_of, show_trained
    from cartwise.lifecycle import Holdout, Versions, train_version
    from cartwise.training import distributed

    trained = train_version(
        open_store(store), Versions(model_dir(models)), model, config, rng=seed,
        holdout=Holdout(last_days=holdout[0], refit=holdout[1]), gate=gate_of(*gate),
        progress=True,
    )  # fmt: skip
    if distributed.is_main():
        show_trained(trained)


def with_budget(config: dict[str, Any], budget: str | None, *models: str) -> dict[str, Any]:
    """`config` with ``time_budget`` set when `budget` is given; an error when none of
    `models` has that setting."""
    if budget is None:
        return config
    from cartwise.models.registry import model_class
    from cartwise.training import parse_duration

    seconds = parse_duration(budget)
    if not any("time_budget" in model_class(m).config_class.model_fields for m in models):
        raise ConfigError(
            f"--time-budget: {', '.join(models)} has no time budget; it applies to torch "
            "models such as sasrec"
        )
    return {**config, "time_budget": seconds}


def recommend(
    user_id: Annotated[str, typer.Argument(help="external id of the shopper")],
    k: Annotated[int, typer.Option("-k", help="how many items")] = 10,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="each item's evidence and a sentence phrased from it (by CARTWISE_GENERATOR "
            "when set; the command waits for it)",
        ),
    ] = False,
    store: StoreOpt = None,
    models: ModelDirOpt = None,
) -> None:
    """Show recommendations for a shopper from the active model."""
    engine = configured_engine(store, models)
    if explain:  # a command, not a request: wait for the generator's sentences
        engine.ctx.explain_budget = max(engine.ctx.explain_budget, 600.0)
    title = f"for {user_id} ({engine.active_version()})"
    items = engine.recommend_user(user_id, k, explain=explain).items
    console.print(_table(title, items))
    for n, rec in enumerate(items if explain else [], 1):
        assert rec.explanation is not None
        console.print(f"{n}. {rec.item.title or rec.item.id}: {rec.explanation.reason} "
                      f"[{rec.explanation.source}]", highlight=False, markup=False)  # fmt: skip
        for fact in rec.explanation.evidence:
            console.print(f"   - {fact.text} ({fact.kind}, weight {fact.weight:.2f})",
                          highlight=False, markup=False)  # fmt: skip


def search(
    query: Annotated[str, typer.Argument(help="what the shopper typed")],
    k: Annotated[int, typer.Option("-k", help="how many items")] = 10,
    user: Annotated[
        str | None, typer.Option("--user", help="blend with this shopper's taste")
    ] = None,
    keyword_only: Annotated[
        bool,
        typer.Option(
            "--keyword-only", help="BM25 only, no language model [env CARTWISE_SEARCH_MODE]"
        ),
    ] = False,
    store: StoreOpt = None,
    models: ModelDirOpt = None,
) -> None:
    """Search the catalog: keywords plus the sentence encoder's meaning (when the lm extra is
    installed; CARTWISE_SEARCH_MODE=keyword or --keyword-only turns it off)."""
    updates = {"search_mode": "keyword"} if keyword_only else {}
    engine = configured_engine(store, models, **updates)
    console.print(_table(f"search '{query}'", engine.search(query, k, user_id=user).items))


def configured_engine(store: str | None, models: Path | None, **updates: Any) -> Engine:
    """The engine the settings describe (hybrid search, phrased explanations when a generator
    is set), over the store and model folder named on the command line, else the configured
    ones."""
    from cartwise.serving.engine import Engine

    where = {"model_dir": models, "model_url": None} if models is not None else {}
    settings = get_settings().model_copy(update={**where, **updates})
    return Engine.from_settings(settings, store=open_store(store))


def _table(title: str, recs: list[Recommendation]) -> Table:
    table = Table(title=title)
    for col in ("#", "item", "title", "price", "score", "why"):
        table.add_column(col)
    for i, rec in enumerate(recs, 1):
        price = f"{rec.item.price:.2f} {rec.item.currency}" if rec.item.price is not None else ""
        table.add_row(str(i), rec.item.id, rec.item.title, price, f"{rec.score:.3f}", rec.reason)
    return table


def evaluate(
    data: DataOpt = None,
    store: EvalStoreOpt = None,
    split: SplitOpt = None,
    cutoff: CutoffOpt = None,
    test_share: TestShareOpt = 0.1,
    models: ModelsOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="md, html or md,html")] = "md,html",
    out: Annotated[Path, typer.Option(help="folder for the report")] = Path("reports"),
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="model.key=value, e.g. --set sasrec.epochs=5 (repeatable)"),
    ] = None,
    tune: Annotated[bool, typer.Option(help="tune baselines on validation first")] = True,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    time_budget: TimeBudgetOpt = None,
    use_preset: PresetOpt = True,
) -> None:
    """Evaluate models offline with full ranking on a dataset file or on the store's own events;
    write a Markdown/HTML report with plots (and results.json)."""
    from cartwise.evaluation.report import write_report
    from cartwise.evaluation.suite import SplitSpec, default_models, labels, run_models

    formats = [f.strip() for f in fmt.split(",") if f.strip()]
    if not formats or set(formats) - {"md", "html"}:
        raise ConfigError(f"--format '{fmt}': choose md, html or md,html")
    if (data is None) == (store is None):
        raise ConfigError(
            "name what to evaluate: --data FILE (a dataset file or folder) or --store [URL] "
            "(the shop's events), one of them"
        )
    names = labels(models or default_models(from_store=data is None))
    overrides = _model_overrides(setting, names, time_budget)
    when = cutoff.replace(tzinfo=UTC) if cutoff is not None and cutoff.tzinfo is None else cutoff
    kind = split or ("leave-one-out" if data is not None else "temporal")
    spec = SplitSpec(kind, when, test_share)
    dataset, title, preset_name = _evaluation_data(data, store)
    chosen, protocol = spec.apply(dataset)
    console.print(f"{dataset}: {protocol}; {len(chosen.test)} users evaluated", highlight=False)
    preset_name = preset_name if use_preset else ""
    runs = run_models(names, chosen, dataset=preset_name, overrides=overrides, tune=tune,
                      seed=seed, progress=True, on_run=_announce)  # fmt: skip
    for path in write_report(runs, out, dataset=title, formats=formats, protocol=protocol):
        console.print(f"wrote {path}", highlight=False)


def _model_overrides(
    setting: list[str] | None, names: list[str], budget: str | None = None
) -> dict[str, dict[str, Any]]:
    """``--set model.key=value`` pairs per model label, and ``time_budget`` for the labels
    whose model has one when `budget` is given."""
    from cartwise.evaluation.experiment import ALIASES
    from cartwise.evaluation.suite import variants
    from cartwise.models.registry import model_class

    overrides: dict[str, dict[str, Any]] = {}
    for key, value in parse_settings(setting).items():
        model, sep, field = key.partition(".")
        if not sep or ALIASES.get(model, model) not in names:
            raise ConfigError(
                f"--set '{key}': expected model.key=value for a model in --models, "
                "e.g. --set sasrec.epochs=5"
            )
        overrides.setdefault(ALIASES.get(model, model), {})[field] = value
    if budget is None:
        return overrides
    bases = {label: variants().get(label, (label, {}))[0] for label in names}
    timed = [label for label, base in bases.items()
             if "time_budget" in model_class(base).config_class.model_fields]  # fmt: skip
    for label in timed:
        overrides[label] = with_budget(overrides.get(label, {}), budget, bases[label])
    if not timed:
        with_budget({}, budget, *bases.values())  # the error naming the models
    return overrides


def _evaluation_data(data: Path | None, store: str | None) -> tuple[Dataset, str, str]:
    """The dataset to evaluate on, its title in the report and its preset name."""
    from cartwise.data.dataset import Dataset
    from cartwise.data.sources.public import load_dataset

    if data is not None:
        return load_dataset(data), data.name, data.name
    shop = open_store(store)
    return Dataset.from_store(shop), f"the store {shown_url(shop.url)}", ""


def _announce(label: str, run: ModelRun | None) -> None:
    if run is None:
        console.print(f"[bold]{label}[/bold] ...")
        return
    test = run.test
    console.print(
        f"  test NDCG@10 {test['ndcg@10']:.4f}  HR@10 {test['hr@10']:.4f}  "
        f"({run.train_seconds:.1f} s)",
        highlight=False,
    )


def register(command: Callable[..., Any]) -> None:
    """Add this module's commands to the app."""
    for fn in (train, recommend, search):
        command(fn)
    command(evaluate, cls=BareStoreCommand)
