"""Application Auto Scaling for an endpoint variant: a scalable target and a target-tracking
policy on SageMakerVariantInvocationsPerInstance (invocations per instance per minute)."""

from __future__ import annotations

from typing import IO, Any

from . import names
from .console import STDERR
from ..errors import ByocError, NotFound, PreflightError
from .preflight import require
from .session import AwsSession, translate

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def policy_name(endpoint: str, variant: str) -> str:
    return f"byoc-{endpoint}-{variant}-invocations"


def problems(*, endpoint: str, variant: str, min_capacity: int, max_capacity: int,
             target: float, scale_in_cooldown: int, scale_out_cooldown: int) -> list[str]:
    found = [names.problem("endpoint", endpoint), names.problem("variant", variant)]
    if min_capacity < 1:
        found.append(f"--min {min_capacity}: keep at least 1 instance (scale to zero is not "
                     "documented for instance-backed endpoints)")
    if max_capacity < min_capacity:
        found.append(f"--max {max_capacity} is below --min {min_capacity}")
    if target <= 0:
        found.append(f"--target {target:g} must be above 0 (invocations per instance per minute)")
    for flag, value in (("--scale-in-cooldown", scale_in_cooldown), ("--scale-out-cooldown", scale_out_cooldown)):
        if value < 0:
            found.append(f"{flag} {value} must be 0 or more seconds")
    return [f for f in found if f]


def build_register(*, endpoint: str, variant: str, min_capacity: int, max_capacity: int) -> dict[str, Any]:
    return {
        "ServiceNamespace": NAMESPACE,
        "ResourceId": resource_id(endpoint, variant),
        "ScalableDimension": DIMENSION,
        "MinCapacity": min_capacity,
        "MaxCapacity": max_capacity,
    }


def build_policy(*, endpoint: str, variant: str, target: float, scale_in_cooldown: int = 600,
                 scale_out_cooldown: int = 300, name: str | None = None) -> dict[str, Any]:
    return {
        "PolicyName": name or policy_name(endpoint, variant),
        "ServiceNamespace": NAMESPACE,
        "ResourceId": resource_id(endpoint, variant),
        "ScalableDimension": DIMENSION,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(target),
            "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
            "ScaleInCooldown": scale_in_cooldown,
            "ScaleOutCooldown": scale_out_cooldown,
        },
    }


def scaled_variants(session: AwsSession, endpoint: str) -> dict[str, dict[str, Any]] | None:
    """{variant: scalable target} for the endpoint's registered variants; None when it cannot be
    told (no permission to describe them)."""
    client = session.client("application-autoscaling")
    prefix = f"endpoint/{endpoint}/variant/"
    found: dict[str, dict[str, Any]] = {}
    try:
        with translate("application-autoscaling:DescribeScalableTargets", session):
            for page in client.get_paginator("describe_scalable_targets").paginate(
                    ServiceNamespace=NAMESPACE, ScalableDimension=DIMENSION):
                for target in page.get("ScalableTargets", []):
                    if target["ResourceId"].startswith(prefix):
                        found[target["ResourceId"][len(prefix):]] = target
    except ByocError:
        return None
    return found


def check_variant(session: AwsSession, endpoint: str, variant: str) -> dict[str, Any]:
    """Application Auto Scaling does not check that the endpoint exists (moto does not either):
    this does, and that it has the variant."""
    with translate("sagemaker:DescribeEndpoint", session, not_found=f"endpoint {endpoint} does not exist"):
        described = session.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    variants = [v.get("VariantName") for v in described.get("ProductionVariants") or []]
    if variants and variant not in variants:
        raise PreflightError(f"endpoint {endpoint} has no variant {variant!r}; it has {', '.join(variants)}")
    return described


def apply(session: AwsSession, *, register: dict[str, Any], policy: dict[str, Any],
          out: IO[str] = STDERR) -> str:
    client = session.client("application-autoscaling")
    print(f"Registering {register['ResourceId']} for scaling between {register['MinCapacity']} and "
          f"{register['MaxCapacity']} instances", file=out)
    with translate("application-autoscaling:RegisterScalableTarget", session):
        client.register_scalable_target(**register)
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    print(f"Target tracking: {config['TargetValue']:g} invocations per instance per minute "
          f"(policy {policy['PolicyName']})", file=out)
    with translate("application-autoscaling:PutScalingPolicy", session):
        response = client.put_scaling_policy(**policy)
    return str(response.get("PolicyARN", ""))


def remove(session: AwsSession, endpoint: str, variant: str, *, out: IO[str] = STDERR,
           quiet_if_absent: bool = False) -> list[str]:
    """Delete the variant's scaling policies, then deregister it; returns notes of what failed."""
    client = session.client("application-autoscaling")
    rid = resource_id(endpoint, variant)
    notes = []
    try:
        with translate("application-autoscaling:DescribeScalableTargets", session):
            targets = client.describe_scalable_targets(
                ServiceNamespace=NAMESPACE, ResourceIds=[rid], ScalableDimension=DIMENSION)["ScalableTargets"]
        if not targets:
            if not quiet_if_absent:
                raise NotFound(f"{rid} is not registered with Application Auto Scaling")
            return notes
        with translate("application-autoscaling:DescribeScalingPolicies", session):
            policies = client.describe_scaling_policies(
                ServiceNamespace=NAMESPACE, ResourceId=rid, ScalableDimension=DIMENSION)["ScalingPolicies"]
        for policy in policies:
            with translate("application-autoscaling:DeleteScalingPolicy", session):
                client.delete_scaling_policy(PolicyName=policy["PolicyName"], ServiceNamespace=NAMESPACE,
                                             ResourceId=rid, ScalableDimension=DIMENSION)
            print(f"Deleted scaling policy {policy['PolicyName']}", file=out)
        with translate("application-autoscaling:DeregisterScalableTarget", session):
            client.deregister_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=rid,
                                              ScalableDimension=DIMENSION)
        print(f"Deregistered {rid} from Application Auto Scaling", file=out)
    except NotFound:
        raise
    except ByocError as exc:
        if not quiet_if_absent:
            raise
        notes.append(f"scaling of {rid} not removed: {exc} (DeleteEndpoint deregisters it on AWS)")
    return notes


def require_valid(**kwargs: Any) -> None:
    require(problems(**kwargs))
