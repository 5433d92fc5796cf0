"""``cgcap runs``: look at evaluation runs recorded in MLflow.

``cgcap runs compare RUN_ID...`` prints params and metrics side by side; rows whose
values differ between the runs are marked ``*`` (and bold on a terminal).
"""

from __future__ import annotations

import argparse
import math
import sys

from cgcap.commands import CommandError


def register(subparsers) -> None:
    runs = subparsers.add_parser("runs", help="evaluation runs recorded in MLflow").add_subparsers(
        dest="runs_command", required=True
    )
    compare = runs.add_parser("compare", help="params and metrics of runs side by side, differences marked")
    compare.add_argument("run_ids", nargs="*", metavar="RUN_ID")
    compare.add_argument("--children", action="append", default=[], metavar="PARENT_RUN_ID",
                         help="also every child run of this parent (an experiment's or a sweep's), repeatable")
    compare.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    compare.add_argument("--differences", action="store_true", help="show only rows whose values differ")
    compare.set_defaults(handler=_compare)
    listing = runs.add_parser("list", help="the latest runs of the experiment")
    listing.add_argument("--tracking-uri", default=None)
    listing.add_argument("--experiment", default="cgcap")
    listing.add_argument("--max", type=int, default=20)
    listing.set_defaults(handler=_list)


def _format(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def comparison_rows(runs) -> list[tuple[str, list[str], bool]]:
    """(label, one value per run, differs) for every param and metric of any of the runs."""
    rows = []
    for kind, get in (("metric", lambda r: r.data.metrics), ("param", lambda r: r.data.params)):
        names = sorted({name for run in runs for name in get(run)})
        for name in names:
            values = [_format(get(run).get(name)) for run in runs]
            rows.append((f"{kind} {name}", values, len(set(values)) > 1))
    return rows


CELL_WIDTH = 40  # a long param (a settings dump, a list of ids) would otherwise make every column that wide


def _shorten(text: str, width: int = CELL_WIDTH) -> str:
    """Both ends of a long cell: children differ at the end of their names ("decoding.num_iterations=10")."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[-(width - 1 - head):]


def render_comparison(runs, only_differences: bool = False, bold: bool = False) -> str:
    header = ["", *[_shorten(run.info.run_name or run.info.run_id, 28) for run in runs]]
    ids = ["run id", *[run.info.run_id[:12] for run in runs]]
    rows = [(label, values, differs) for label, values, differs in comparison_rows(runs)
            if differs or not only_differences]
    table = [header, ids] + [[("* " if differs else "  ") + label, *map(_shorten, values)]
                             for label, values, differs in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for index, row in enumerate(table):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        if bold and index >= 2 and row[0].startswith("*"):
            line = f"\033[1m{line}\033[0m"
        lines.append(line)
    return "\n".join(lines)


def _client(uri: str | None):
    import mlflow

    from cgcap import tracking

    mlflow.set_tracking_uri(uri or tracking.tracking_uri())  # an explicit --tracking-uri wins, as in jobs/evaluate.py
    return mlflow.MlflowClient()


def _compare(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    client = _client(args.tracking_uri)

    def get(run_id: str):
        try:
            return client.get_run(run_id)
        except MlflowException:
            raise CommandError(f"no MLflow run {run_id!r} in {client.tracking_uri}") from None

    runs = [get(run_id) for run_id in args.run_ids]
    for parent in map(get, args.children):
        children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                      order_by=["attributes.start_time ASC"])
        if not children:
            raise CommandError(f"run {parent.info.run_id!r} has no child runs")
        runs.extend(children)
    if not runs:
        raise CommandError("give RUN_IDs or --children PARENT_RUN_ID")
    print(render_comparison(runs, only_differences=args.differences, bold=sys.stdout.isatty()))
    return 0


def _list(args: argparse.Namespace) -> int:
    client = _client(args.tracking_uri)
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        raise CommandError(f"no MLflow experiment {args.experiment!r} in {client.tracking_uri}")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=args.max)
    for run in runs:
        parent = run.data.tags.get("mlflow.parentRunId", "")
        print(f"{run.info.run_id}  {run.info.status:9}  {(run.info.run_name or ''):30}"
              + (f"  parent {parent[:12]}" if parent else ""))
    return 0
