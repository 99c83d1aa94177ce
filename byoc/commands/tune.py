"""`byoc tune` (a SageMaker hyperparameter tuning job with this image), `byoc tune results|stop|delete`,
and `byoc local tune` (the same search on this machine, with real training jobs).

The search's options (ranges, objective, strategy, job counts) are defined once here for both;
the training job's options are `byoc train`'s (byoc.commands.train). Problems are reported all
at once before any AWS call or any trial starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import tuning
from ..aws import names, preflight
from ..errors import PreflightError
from . import add_image_option, aws_options as opts, path_arg
from .train import add_training_options, parse_channels, parse_hyperparameters, training_spec

DEFAULT_MAX_JOBS = 10


def add_search_options(p: argparse.ArgumentParser) -> None:
    """What `byoc tune` and `byoc local tune` share: the search."""
    search = p.add_argument_group("search")
    search.add_argument("--range", action="append", default=[], metavar="NAME=SPEC", dest="ranges",
                        help="a tuned hyperparameter (repeat): NAME=int:LOW:HIGH[:log], NAME=float:LOW:HIGH[:log] "
                             "(or :linear, :reverse-log), NAME=choice:A,B,C")
    search.add_argument("--objective", metavar="CHANNEL:METRIC",
                        help="the metric to optimise, one the runtime prints, e.g. validation:accuracy")
    way = search.add_mutually_exclusive_group()
    way.add_argument("--maximize", action="store_true", help="(default: inferred from the metric's name)")
    way.add_argument("--minimize", action="store_true")
    search.add_argument("--strategy", default="bayesian", choices=tuple(tuning.STRATEGIES),
                        help="(default: %(default)s)")
    search.add_argument("--max-jobs", type=int, metavar="N",
                        help=f"training jobs in all (default: {DEFAULT_MAX_JOBS}; grid: every combination)")
    search.add_argument("--max-parallel", type=int, default=1, metavar="N",
                        help="training jobs at a time (default: %(default)s)")
    search.add_argument("--random-seed", type=int, metavar="N", help="makes repeated searches alike")


def register(subparsers: Any) -> None:
    p = opts.command_parser(
        subparsers, "tune", "start a SageMaker hyperparameter tuning job with this image",
        "CreateHyperParameterTuningJob: the training jobs of `byoc train` (same image, channels, -H static "
        "hyperparameters, spot), each with values from the --range options, scored by --objective, one of "
        "the metrics the runtime prints. With --wait, shows progress (completed, running, failed, best "
        "objective so far) and prints the best job's model artifact last; without, prints the tuning job's "
        "name. `byoc tune results JOB` tabulates its training jobs; `byoc local tune` runs the same search "
        "on this machine.")
    add_training_options(p, required=False, name_help="the tuning job's name, 1-32 characters "
                                                      "(default: byoc-tune-<yymmddHHMM>-<random>)")
    add_search_options(p)
    more = p.add_argument_group("tuning job")
    more.add_argument("--early-stopping", action="store_true", help="TrainingJobEarlyStoppingType Auto")
    more.add_argument("--warm-start", action="append", default=[], metavar="TUNING_JOB",
                      help="start from what these ended tuning jobs learned (repeat, up to 5)")
    more.add_argument("--warm-start-type", default="identical", choices=("identical", "transfer"), help="identical: same data and image; transfer: new data or image "
                                          "(default: %(default)s)")
    more.add_argument("--max-tuning-runtime", type=int, metavar="SECONDS",
                      help="ResourceLimits.MaxRuntimeInSeconds of the whole tuning job (120-15768000)")
    more.add_argument("--min-resource", type=int, metavar="EPOCHS", help="hyperband: MinResource")
    more.add_argument("--max-resource", type=int, metavar="EPOCHS", help="hyperband: MaxResource")
    opts.add_wait(p, "the tuning job ends")
    p.set_defaults(func=cmd_tune)

    actions = p.add_subparsers(dest="tune_command", metavar="[results|stop|delete]")
    r = opts.command_parser(actions, "results", "one row per training job: a table, a CSV file and a chart",
                            "What tuner.analytics().dataframe() gives SDK users: each training job's tuned "
                            "hyperparameters, objective value, status, start, end and duration, best first; "
                            "written as CSV and drawn as a PNG of the objective over time.")
    r.add_argument("job", metavar="JOB", help="tuning job name")
    r.add_argument("--csv", type=path_arg, help="(default: JOB-results.csv)")
    r.add_argument("--png", type=path_arg, help="(default: JOB-objective.png)")
    r.set_defaults(func=cmd_results)
    s = opts.command_parser(actions, "stop", "stop a tuning job and its running training jobs",
                            "StopHyperParameterTuningJob; the training jobs' artifacts and logs stay.")
    s.add_argument("job", metavar="JOB")
    s.set_defaults(func=cmd_stop)
    d = opts.command_parser(actions, "delete", "delete an ended tuning job's record",
                            "DeleteHyperParameterTuningJob: its training jobs and artifacts stay. A running "
                            "job is refused: stop it first.")
    d.add_argument("job", metavar="JOB")
    d.set_defaults(func=cmd_delete)


def register_local(local_commands: Any) -> None:
    """`byoc local tune`, added to `byoc local`'s commands."""
    p = local_commands.add_parser(
        "tune", help="a hyperparameter search with real training jobs on this machine",
        description="Runs real training jobs (processes, or containers with --image), each in its own job "
                    "folder with hyperparameters.json as SageMaker writes it for a tuning job, reads the objective "
                    "from each job's log as SageMaker does (the last value printed), and writes results.csv and "
                    "objective.png. Prints the best job's model.tar.gz last, for `byoc local serve` and "
                    "`byoc deploy --model`.")
    p.add_argument("--channel", action="append", default=[], metavar="NAME=PATH",
                   help="input channel: train=./data/train (repeat; as for byoc tune, local paths only)")
    p.add_argument("-H", "--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
                   help="a static hyperparameter (repeat); VALUE is parsed as JSON when it can be")
    add_search_options(p)
    p.add_argument("--job-name", help="the tuning job's name (default: byoc-tune-<yymmddHHMM>-<random>)")
    p.add_argument("--job-dir", type=path_arg, help="a new folder for the trials and results (default: jobs/NAME)")
    add_image_option(p)
    p.set_defaults(func=cmd_local_tune)


# -- shared checks ---------------------------------------------------------------------------------


def search_of(args: argparse.Namespace, static: dict[str, Any]) -> tuple[list[tuning.Range], tuning.Objective | None,
                                                                         int, list[str]]:
    """Ranges, objective (None when it has no direction) and job count from the search options, and the
    problems found reading them (tuning.search_problems() checks the search as a whole)."""
    from ..aws.training import runtime_metric_definitions

    problems: list[str] = []
    ranges = []
    for item in args.ranges:
        try:
            ranges.append(tuning.parse_range(item))
        except ValueError as exc:
            problems.append(str(exc))
    objective = None
    if not args.objective:
        problems.append("give the metric to optimise: --objective validation:accuracy (a CHANNEL:METRIC the "
                        "runtime prints)")
    else:
        objective, found = tuning.objective(args.objective, runtime_metric_definitions(),
                                            maximize=args.maximize, minimize=args.minimize)
        problems += found
    max_jobs = tuning.default_max_jobs(args.strategy, ranges, args.max_jobs)
    if max_jobs is None:
        max_jobs = DEFAULT_MAX_JOBS
    return ranges, objective, max_jobs, problems


def warn(lines: list[str]) -> None:
    for line in lines:
        print(f"Warning: {line}", file=sys.stderr)


# -- byoc tune -----------------------------------------------------------------------------------------


def cmd_tune(args: argparse.Namespace) -> int:
    from ..aws import s3
    from ..aws import tuning as aws_tuning

    name = args.job_name or aws_tuning.default_name()
    spec_training = training_spec(args, name)
    ranges, objective, max_jobs, problems = search_of(args, spec_training.hyperparameters)
    spec = aws_tuning.TuningSpec(
        training=spec_training, ranges=ranges, objective=objective or tuning.Objective(args.objective or "", "Maximize"), strategy=args.strategy, max_jobs=max_jobs,
        max_parallel=args.max_parallel, early_stopping=args.early_stopping, warm_start=args.warm_start,
        warm_start_type=args.warm_start_type, random_seed=args.random_seed,
        max_tuning_runtime=args.max_tuning_runtime, min_resource=args.min_resource, max_resource=args.max_resource)
    problems += aws_tuning.spec_problems(spec, opts.region(args))
    warn(preflight.hyperparameter_warnings(spec_training.hyperparameters) + aws_tuning.spec_warnings(spec))
    preflight.require(problems)

    session = opts.session(args)
    aws_tuning.submit(session, spec, s3.lazy_bucket(session, args.bucket))
    if not args.wait:
        print(f"Started; follow it with `byoc tune results {name}` or "
              f"`aws sagemaker describe-hyper-parameter-tuning-job --hyper-parameter-tuning-job-name {name}`.",
              file=sys.stderr)
        print(name)
        return 0
    aws_tuning.follow(session, name, delay=opts.poll(args), timeout=args.wait_timeout)
    best = aws_tuning.best_training_job(session, name)
    value = "" if best.value is None else f" = {best.value:.6g}"
    print(f"Best training job: {best.name} ({best.metric}{value}). See every job: byoc tune results {name}\n"
          f"Deploy it: byoc deploy ENDPOINT --image {args.image} --model {best.model_artifacts}", file=sys.stderr)
    print(best.model_artifacts)
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from .. import tuning_results
    from ..aws import tuning as aws_tuning

    problem = names.problem("tuning job", args.job)
    if problem:
        raise PreflightError(problem)
    session = opts.session(args)
    objective, rows = aws_tuning.results(session, args.job)
    rows = tuning_results.ranked(rows, objective)
    sys.stdout.write(tuning_results.table(rows, objective))
    csv = tuning_results.write_csv(rows, args.csv or Path(f"{args.job}-results.csv"))
    png = tuning_results.plot(rows, objective, args.png or Path(f"{args.job}-objective.png"),
                              title=f"{args.job}: {objective.metric} over time")
    print(f"{len(rows)} training job(s); wrote {csv} and {png}", file=sys.stderr)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from ..aws import tuning as aws_tuning

    session = opts.session(args)
    aws_tuning.stop(session, args.job)
    print(f"Stopping tuning job {args.job} and its running training jobs.", file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ..aws import tuning as aws_tuning

    session = opts.session(args)
    aws_tuning.delete(session, args.job)
    print(f"Deleted tuning job {args.job} (its training jobs and artifacts stay).", file=sys.stderr)
    return 0


# -- byoc local tune -----------------------------------------------------------------------------------


def cmd_local_tune(args: argparse.Namespace) -> int:
    from .. import local_tune, tuning_results
    from ..aws import tuning as aws_tuning
    from . import launcher

    problems: list[str] = []
    sources = parse_channels(args.channel)
    channels = {name: Path(source) for name, source in sources.items()}
    if not channels:
        problems.append("give at least a train channel: --channel train=./data/train")
    elif "train" not in channels:
        problems.append(f"no 'train' channel (got {', '.join(channels)}); the runtime trains on 'train'")
    for name, source in sources.items():
        if source.startswith("s3://"):
            problems.append(f"channel {name}: {source} is on S3; here channels are local files or folders")
        elif not Path(source).exists():
            problems.append(f"channel {name}: {source} does not exist")
    static = parse_hyperparameters(args.hyperparameter)
    ranges, objective, max_jobs, found = search_of(args, static)
    problems += found
    problems += tuning.search_problems(strategy=args.strategy, ranges=ranges, static=static,
                                       max_jobs=args.max_jobs, max_parallel=args.max_parallel)
    if args.strategy == "hyperband":
        problems.append(local_tune.HYPERBAND_REFUSAL)
    name = args.job_name or aws_tuning.default_name()
    problems.append(names.problem("tuning job", name))
    root = args.job_dir or Path("jobs") / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        problems.append(f"{root} is not empty: give a new folder for the tuning job (--job-dir)")
    warn(tuning.search_warnings(strategy=args.strategy, max_jobs=max_jobs, max_parallel=args.max_parallel))
    preflight.require(problems)
    assert objective is not None
    spec = local_tune.LocalTuning(
        name=name, root=root, channels=channels, ranges=ranges, objective=objective, strategy=args.strategy,
        max_jobs=max_jobs, max_parallel=args.max_parallel, static=local_tune.static_strings(static),
        seed=args.random_seed)
    start = launcher(args.image)
    print(f"Tuning {name} here: {args.strategy} search of {', '.join(r.name for r in ranges)}, "
          f"{objective.type.lower()} {objective.metric}, {max_jobs} job(s), {args.max_parallel} at a time, "
          f"in {root}", file=sys.stderr)
    outcome = local_tune.run(spec, launcher=start, out=sys.stderr)
    rows = tuning_results.ranked(outcome.rows, objective)
    sys.stdout.write(tuning_results.table(rows, objective))
    print(f"Wrote {outcome.csv} and {outcome.png}", file=sys.stderr)
    best = local_tune.require_best(outcome, spec)
    print(f"Best: {best.name} ({objective.metric} = {best.objective:.6g}). Serve it: "
          f"byoc local serve {best.model_archive}" + (f" --image {args.image}" if args.image else ""), file=sys.stderr)
    print(best.model_archive)
    return 0
