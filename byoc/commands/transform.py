"""`byoc transform`: batch-score an S3 prefix (or local files, uploaded) with a transform job.

Arguments become a byoc.aws.transform.TransformSpec; its problems are reported all at once
before any AWS call; byoc.aws.transform starts the job (making its model, when asked) and
follows it, deleting the model it made once the job has ended.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from typing import Any

from ..aws import names, preflight
from . import aws_options as opts


def register(subparsers: Any) -> None:
    p = opts.command_parser(
        subparsers, "transform", "batch-score an S3 prefix with a transform job",
        "CreateTransformJob on an existing SageMaker model (--model-name), or on a model made "
        "here from --image, --model and --role (deleted again after --wait unless --keep-model). "
        "Input is split and assembled by line by default, so each input line gets one output "
        "line. Prints the output S3 path last.")
    src = p.add_argument_group("model (one of)")
    src.add_argument("--model-name", help="an existing SageMaker model")
    src.add_argument("--image", help="ECR image URI, to make a model with --model and --role")
    src.add_argument("--model", help="model folder, model.tar.gz or s3:// URI")
    opts.add_role(src)
    src.add_argument("--skip-load-check", action="store_true")
    src.add_argument("--keep-model", action="store_true", help="keep the model made here")
    p.add_argument("--input", required=True, help="s3:// prefix (or a local file or folder, uploaded)")
    p.add_argument("--output", help="S3OutputPath (default: s3://BUCKET/PREFIX/transform/JOB)")
    p.add_argument("--job-name", help="(default: byoc-transform-<timestamp>)")
    p.add_argument("--content-type", default="text/csv", help="(default: %(default)s)")
    p.add_argument("--accept", help="output content type, e.g. text/csv or application/json")
    p.add_argument("--split-type", default="Line", help="None, Line, RecordIO, TFRecord (default: %(default)s)")
    p.add_argument("--assemble-with", help="None or Line (default: Line when splitting by line)")
    p.add_argument("--strategy", default="MultiRecord", help="MultiRecord or SingleRecord (default: %(default)s)")
    p.add_argument("--max-payload-mb", type=int, help="MaxPayloadInMB (0-100)")
    p.add_argument("--max-concurrent", type=int, help="MaxConcurrentTransforms")
    p.add_argument("--instance-type", default=opts.DEFAULT_INSTANCE, help="x86 only (default: %(default)s)")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    opts.add_bucket(p)
    opts.add_wait(p, "the job ends")
    p.set_defaults(func=cmd_transform)


def cmd_transform(args: argparse.Namespace) -> int:
    from ..aws import modeldata, s3, transform

    spec = transform.TransformSpec(
        name=args.job_name or names.unique("byoc-transform"), input=args.input, model_name=args.model_name,
        image=args.image, model=args.model, role=opts.role(args), keep_model=args.keep_model,
        output=args.output, content_type=args.content_type, accept=args.accept, split_type=args.split_type,
        assemble_with=args.assemble_with, strategy=args.strategy, max_payload_mb=args.max_payload_mb,
        max_concurrent=args.max_concurrent, instance_type=args.instance_type,
        instance_count=args.instance_count, environment=opts.key_values(args.env, "--env"), prefix=args.prefix)
    preflight.require(transform.spec_problems(spec, opts.region(args)))

    model = (modeldata.prepared(str(spec.model), load=not args.skip_load_check, image=spec.image,
                                environment=spec.environment) if spec.makes_model else nullcontext(None))
    with model as prepared:
        session = opts.session(args)
        run = transform.start_job(session, spec, prepared, s3.lazy_bucket(session, args.bucket))
    if not args.wait:
        if run.made_model:
            print(f"Model {run.model_name} stays for the job; remove it afterwards with "
                  f"`aws sagemaker delete-model --model-name {run.model_name}`.", file=sys.stderr)
        print(run.output)
        return 0
    transform.finish(session, run, delay=opts.poll(args), timeout=args.wait_timeout)
    print(f"Transform job {run.name} Completed; results under {run.output}", file=sys.stderr)
    print(run.output)
    return 0
