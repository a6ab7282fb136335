"""CLI commands for models: train, recommend, search, models, evaluate."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from cartwise.cli.common import ModelDirOpt, StoreOpt, console, model_dir, open_store
from cartwise.config import get_settings
from cartwise.errors import ConfigError

if TYPE_CHECKING:
    from cartwise.ranking.results import Recommendation
    from cartwise.serving.engine import Engine


def parse_settings(pairs: list[str] | None) -> dict[str, Any]:
    """``["epochs=5", "loss=sampled"]`` → ``{"epochs": 5, "loss": "sampled"}`` (JSON values)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set '{pair}': expected key=value, e.g. --set epochs=5")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


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
    holdout_days: Annotated[
        float | None,
        typer.Option(
            "--holdout-days",
            min=0.001,
            help="validate on the last N days of events (default: each shopper's latest event)",
        ),
    ] = None,
    refit: Annotated[
        bool | None,
        typer.Option(
            "--refit/--no-refit",
            help="after validation, fit again on every event (default: only models that do "
            "not early-stop)",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    time_budget: TimeBudgetOpt = None,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc", min=1,
            help="train in N processes on this machine (torchrun, DistributedDataParallel; "
            "gloo on CPU, NCCL on GPUs); see docs/training.md for several machines",
        ),
    ] = 1,
    store: StoreOpt = None,
    models: ModelDirOpt = None,
) -> None:  # fmt: skip
    """Train a model on the store (saved as a new active version) or on a dataset file.

    On the store, each shopper's latest event (or the last --holdout-days) is held out: the
    model early-stops on it and the version records its validation NDCG@10/HR@10.
    """
    from cartwise.training import distributed

    config = with_budget(parse_settings(setting), time_budget, model)
    if nproc > 1 and not distributed.launched():
        args = _train_args(model, setting, data, out, holdout_days, refit, seed, time_budget,
                           store, models)  # fmt: skip
        raise typer.Exit(_launch(nproc, args))
    distributed.init_from_env()
    try:
        _train(model, config, data, out, holdout_days, refit, seed, store, models)
    finally:
        distributed.shutdown()


def _launch(nproc: int, args: list[str]) -> int:
    from cartwise.cli.launch import run_torchrun

    console.print(f"training in {nproc} processes (torchrun)", highlight=False)
    return run_torchrun(nproc, args)


def _train_args(
    model: str, setting: list[str] | None, data: Path | None, out: Path | None,
    holdout_days: float | None, refit: bool | None, seed: int, time_budget: str | None,
    store: str | None, models: Path | None,
) -> list[str]:  # fmt: skip
    """The ``cartwise train`` arguments of this command, without ``--nproc``."""
    args = ["train", "--model", model, "--seed", str(seed)]
    args += [f"--set={s}" for s in setting or []]
    options = {"--data": data, "--out": out, "--holdout-days": holdout_days,
               "--time-budget": time_budget, "--store": store, "--model-dir": models}  # fmt: skip
    args += [f"{k}={v}" for k, v in options.items() if v is not None]
    if refit is not None:
        args.append("--refit" if refit else "--no-refit")
    return args


def _train(
    model: str, config: dict[str, Any], data: Path | None, out: Path | None,
    holdout_days: float | None, refit: bool | None, seed: int, store: str | None,
    models: Path | None,
) -> None:  # fmt: skip
    from cartwise.lifecycle import Holdout
    from cartwise.models.fit import fit
    from cartwise.training import distributed

    if data is not None:
        from cartwise.data.sources.public import load_dataset
        from cartwise.data.split import leave_last_out

        if out is None:
            raise ConfigError("--data needs --out DIR: where to save the trained model")
        split = leave_last_out(load_dataset(data))
        fitted = fit(model, config, split.train, valid=split.valid, rng=seed, progress=True)
        if distributed.is_main():
            fitted.model.save(out)
            console.print(f"saved {model} trained on {data} to {out}", highlight=False)
        return
    from cartwise.serving.engine import Engine

    engine = Engine(open_store(store), model_dir(models))
    holdout = Holdout(last_days=holdout_days, refit=refit)
    version = engine.train(model, config, rng=seed, holdout=holdout, progress=True)
    if not distributed.is_main():
        return
    valid = engine.versions.info(version).get("validation", {})
    shown = "  ".join(f"{k} {v:.4f}" for k, v in valid.items() if k in ("ndcg@10", "hr@10"))
    console.print(f"trained {model}: version {version} is active" + (f" (validation {shown})"
                  if shown else ""), highlight=False)  # fmt: skip


TimeBudgetOpt = Annotated[
    str | None,
    typer.Option(
        "--time-budget",
        help="wall time the model's training may take, e.g. 20m, 90s, 1.5h (models with a "
        "time_budget setting; default: SASRec's 20m)",
    ),
]


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
    """The engine the settings describe (hybrid search, reranking when on), over the store
    and model folder named on the command line, else the configured ones."""
    from cartwise.serving.engine import Engine

    settings = get_settings().model_copy(update={"model_dir": model_dir(models), **updates})
    return Engine.from_settings(settings, store=open_store(store))


def _table(title: str, recs: list[Recommendation]) -> Table:
    table = Table(title=title)
    for col in ("#", "item", "title", "price", "score", "why"):
        table.add_column(col)
    for i, rec in enumerate(recs, 1):
        price = f"{rec.item.price:.2f} {rec.item.currency}" if rec.item.price is not None else ""
        table.add_row(str(i), rec.item.id, rec.item.title, price, f"{rec.score:.3f}", rec.reason)
    return table


def models(models: ModelDirOpt = None) -> None:
    """List saved model versions; the active one is marked with *."""
    from cartwise.lifecycle import Versions

    versions = Versions(model_dir(models))
    active = versions.active()
    for version in versions.list():
        console.print(("* " if version == active else "  ") + version, highlight=False)


def evaluate(
    data: Annotated[
        Path, typer.Option(help="dataset file/folder, or a folder name under ../shared/datasets")
    ],
    models: Annotated[
        str, typer.Option("--models", help="comma-separated: pop,itemknn,ease,als,bpr,sasrec")
    ] = "pop,itemknn,ease,als,sasrec",
    fmt: Annotated[str, typer.Option("--format", help="md, html or md,html")] = "md,html",
    out: Annotated[Path, typer.Option(help="folder for the report")] = Path("reports"),
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="model.key=value, e.g. --set sasrec.epochs=5 (repeatable)"),
    ] = None,
    tune: Annotated[bool, typer.Option(help="tune baselines on validation first")] = True,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    time_budget: TimeBudgetOpt = None,
    use_preset: Annotated[
        bool,
        typer.Option(
            "--preset/--no-preset",
            help="use the hand-tuned SASRec settings of a public dataset of that name "
            "(--no-preset: the settings the model derives from the data)",
        ),
    ] = True,
) -> None:
    """Evaluate models leave-one-out with full ranking; write a Markdown/HTML report."""
    from cartwise.data.sources.public import load_dataset
    from cartwise.data.split import leave_last_out
    from cartwise.evaluation.experiment import GRIDS, model_names, run_model
    from cartwise.evaluation.report import write_report

    formats = [f.strip() for f in fmt.split(",") if f.strip()]
    if not formats or set(formats) - {"md", "html"}:
        raise ConfigError(f"--format '{fmt}': choose md, html or md,html")
    names = model_names(models)
    overrides = _model_overrides(setting, names)
    dataset = load_dataset(data)
    split = leave_last_out(dataset)
    console.print(f"{dataset}: {len(split.test)} users evaluated", highlight=False)
    runs = []
    for name in names:
        console.print(f"[bold]{name}[/bold] ...")
        config = _eval_config(name, data.name if use_preset else None, overrides, time_budget)
        run = run_model(
            name,
            split,
            config=config,
            grid=GRIDS.get(name) if tune else None,
            rng=seed,
            progress=True,
        )
        test = run.test
        console.print(
            f"  test NDCG@10 {test['ndcg@10']:.4f}  HR@10 {test['hr@10']:.4f}  "
            f"({run.train_seconds:.1f} s)",
            highlight=False,
        )
        runs.append(run)
    for path in write_report(runs, out, dataset=dataset.name, formats=formats):
        console.print(f"wrote {path}", highlight=False)


def _model_overrides(setting: list[str] | None, names: list[str]) -> dict[str, dict[str, Any]]:
    """``--set model.key=value`` pairs per model of `names`."""
    from cartwise.evaluation.experiment import ALIASES

    overrides: dict[str, dict[str, Any]] = {}
    for key, value in parse_settings(setting).items():
        model, sep, field = key.partition(".")
        if not sep or ALIASES.get(model, model) not in names:
            raise ConfigError(
                f"--set '{key}': expected model.key=value for a model in --models, "
                "e.g. --set sasrec.epochs=5"
            )
        overrides.setdefault(ALIASES.get(model, model), {})[field] = value
    return overrides


def _eval_config(
    name: str, preset_of: str | None, overrides: dict[str, dict[str, Any]], budget: str | None
) -> dict[str, Any]:
    """Model `name`'s settings: the preset of the dataset `preset_of` (None: none), then the
    ``--set`` overrides, then ``--time-budget`` where the model has one."""
    from cartwise.evaluation.experiment import preset
    from cartwise.models.registry import model_class

    config = {**(preset(preset_of, name) if preset_of else {}), **overrides.get(name, {})}
    if budget is not None and "time_budget" in model_class(name).config_class.model_fields:
        config = with_budget(config, budget, name)
    return config


def register(command: Callable[[Callable[..., Any]], Any]) -> None:
    """Add this module's commands to the app."""
    for fn in (train, recommend, search, models, evaluate):
        command(fn)
