"""`byoc autoscale`: target tracking on invocations per instance for an endpoint variant."""

from __future__ import annotations

import argparse
from typing import Any

from ..aws import names, preflight
from . import aws_options as opts


def register(subparsers: Any) -> None:
    p = opts.command_parser(
        subparsers, "autoscale", "scale an endpoint variant on invocations per instance",
        "Registers the variant with Application Auto Scaling (min and max instances) and puts a "
        "target-tracking policy on SageMakerVariantInvocationsPerInstance, the average number of "
        "invocations per instance per minute. --remove undoes both.")
    p.add_argument("endpoint")
    p.add_argument("--variant", default="AllTraffic", help="(default: %(default)s)")
    p.add_argument("--min", dest="min_capacity", type=int, default=1, help="(default: %(default)s)")
    p.add_argument("--max", dest="max_capacity", type=int, default=4, help="(default: %(default)s)")
    p.add_argument("--target", type=float, default=100.0,
                   help="invocations per instance per minute to hold (default: %(default)s)")
    p.add_argument("--scale-in-cooldown", type=int, default=600, metavar="SECONDS")
    p.add_argument("--scale-out-cooldown", type=int, default=300, metavar="SECONDS")
    p.add_argument("--policy-name", help="(default: byoc-ENDPOINT-VARIANT-invocations)")
    p.add_argument("--remove", action="store_true", help="delete the policy and deregister the variant")
    opts.add_wait(p, "the endpoint is InService before registering (it cannot be while Updating)")
    p.set_defaults(func=cmd_autoscale)


def cmd_autoscale(args: argparse.Namespace) -> int:
    from ..aws import autoscaling, endpoints

    if args.remove:
        preflight.require([names.problem("endpoint", args.endpoint), names.problem("variant", args.variant)])
        autoscaling.remove(opts.session(args), args.endpoint, args.variant)
        return 0
    preflight.require(autoscaling.problems(
        endpoint=args.endpoint, variant=args.variant, min_capacity=args.min_capacity,
        max_capacity=args.max_capacity, target=args.target, scale_in_cooldown=args.scale_in_cooldown,
        scale_out_cooldown=args.scale_out_cooldown)
        + [names.problem("scaling policy", args.policy_name) if args.policy_name else None])
    session = opts.session(args)
    if args.wait:
        endpoints.wait_in_service(session, args.endpoint, delay=opts.poll(args), timeout=args.wait_timeout)
    autoscaling.check_variant(session, args.endpoint, args.variant)
    policy_arn = autoscaling.apply(
        session,
        register=autoscaling.build_register(endpoint=args.endpoint, variant=args.variant,
                                            min_capacity=args.min_capacity, max_capacity=args.max_capacity),
        policy=autoscaling.build_policy(endpoint=args.endpoint, variant=args.variant, target=args.target,
                                        scale_in_cooldown=args.scale_in_cooldown,
                                        scale_out_cooldown=args.scale_out_cooldown, name=args.policy_name))
    print(policy_arn or autoscaling.policy_name(args.endpoint, args.variant))
    return 0
