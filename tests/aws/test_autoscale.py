"""autoscale: the scalable target and policy as Application Auto Scaling (moto) records them.

moto, like the real service, does not check that the endpoint exists; the command does.
"""

from __future__ import annotations

import pytest

from aws_helpers import IMAGE, ROLE, sent

pytestmark = pytest.mark.aws

RESOURCE = "endpoint/iris/variant/AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@pytest.fixture
def endpoint(aws, byoc, model_dir) -> str:
    run = byoc("deploy", "iris", "--image", IMAGE, "--model", model_dir, "--role", ROLE, "--no-smoke")
    assert run.code == 0, run.err
    return "iris"


def _registered(aws) -> tuple[list, list]:
    client = aws.client("application-autoscaling")
    targets = client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    policies = client.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    return targets, policies


def test_autoscale_registers_the_variant_with_a_target_tracking_policy(aws, byoc, endpoint) -> None:
    run = byoc("autoscale", endpoint, "--min", "1", "--max", "3", "--target", "50",
               "--scale-in-cooldown", "900", "--wait")
    assert run.code == 0, run.err
    (target,), (policy,) = _registered(aws)
    assert (target["ResourceId"], target["ScalableDimension"]) == (RESOURCE, DIMENSION)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
    assert policy["PolicyName"] == "byoc-iris-AllTraffic-invocations"
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["ResourceId"] == RESOURCE
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 50.0
    assert config["PredefinedMetricSpecification"] == {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
    assert (config["ScaleInCooldown"], config["ScaleOutCooldown"]) == (900, 300)
    assert run.last_line == policy["PolicyARN"]

    assert byoc("autoscale", endpoint, "--remove").code == 0
    assert _registered(aws) == ([], [])


def test_autoscale_refuses_a_missing_endpoint_or_variant(aws, byoc, endpoint) -> None:
    run = byoc("autoscale", "nope", "--max", "2")
    assert run.code == 5 and "endpoint nope does not exist" in run.err
    run = byoc("autoscale", endpoint, "--variant", "Blue", "--max", "2")
    assert run.code == 2 and "has no variant 'Blue'; it has AllTraffic" in run.err
    assert _registered(aws) == ([], [])


def test_delete_also_removes_the_endpoints_scaling(aws, byoc, endpoint) -> None:
    assert byoc("autoscale", endpoint, "--max", "2").code == 0
    assert _registered(aws) != ([], [])
    run = byoc("delete", endpoint)
    assert run.code == 0, run.err
    assert _registered(aws) == ([], [])
    assert aws.sagemaker_inventory() == {"models": [], "configs": [], "endpoints": []}


def test_a_redeploy_that_changes_a_scaled_variants_instance_type_is_refused(aws, byoc, endpoint, model_dir,
                                                                             calls) -> None:
    assert byoc("autoscale", endpoint, "--max", "2").code == 0
    before = aws.sagemaker_inventory()
    run = byoc("deploy", endpoint, "--image", IMAGE, "--model", model_dir, "--role", ROLE,
               "--instance-type", "ml.c5.xlarge")
    assert run.code == 2
    assert "cannot change its instance type (ml.m5.large -> ml.c5.xlarge)" in run.err
    assert f"byoc autoscale {endpoint} --remove" in run.err
    assert aws.sagemaker_inventory() == before
    # the same instance type: allowed, and the counts autoscaling chose are kept
    run = byoc("deploy", endpoint, "--image", IMAGE, "--model", model_dir, "--role", ROLE)
    assert run.code == 6  # moto has no UpdateEndpoint; the request is what matters here
    assert sent(calls, "UpdateEndpoint")[0]["RetainAllVariantProperties"] is True
