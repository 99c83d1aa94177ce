"""Real-time endpoints: deploy (create, or blue/green onto a new config), invoke, delete.

Every deploy creates a new model and a new endpoint config, named <endpoint>-<timestamp>, so
a deploy over a live endpoint is UpdateEndpoint onto the new config: SageMaker starts the new
instances, shifts traffic, then stops the old ones (blue/green, no downtime). Once the endpoint
is InService on the new config, the previous config and model are deleted, as nothing uses them.
`delete` removes the endpoint, the config it uses and that config's models: nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any, Mapping

from . import models, names, waiting
from .console import STDERR
from ..errors import ByocError, Failed, NotFound, PreflightError, Unsupported
from .session import AwsSession, delete_quietly, error_code, error_message, translate

DEFAULT_VARIANT = "AllTraffic"
TAG_KEY = "byoc:endpoint"
BUSY = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}
#: Statuses in which an endpoint takes no requests (while Updating, the old config still serves).
NOT_SERVING = {"Creating", "Deleting", "Failed", "OutOfService"}


# -- pure request builders ----------------------------------------------------------------


def serving_environment(*, workers: int | None = None, timeout: int | None = None,
                        max_payload_mb: float | None = None,
                        extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The container's environment: the runtime's knobs under the names it reads, then extras."""
    env: dict[str, str] = {}
    if workers is not None:
        env["MODEL_SERVER_WORKERS"] = str(workers)
    if timeout is not None:
        env["MODEL_SERVER_TIMEOUT"] = str(timeout)
    if max_payload_mb is not None:
        env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = f"{max_payload_mb:g}"
    env.update({str(k): str(v) for k, v in (extra or {}).items()})
    return env


def runtime_environment_problem(environment: Mapping[str, str]) -> str | None:
    """What `serve` would refuse at start in this environment (MODEL_SERVER_WORKERS=0, a timeout
    out of range, ...), read by the runtime's own settings parser: its limits are the only ones."""
    from container.errors import ByocError
    from container.settings import ServingSettings

    try:
        ServingSettings.from_env(environment)
    except ByocError as exc:
        return f"the container would refuse to start with this environment: {exc}"
    return None


def tags_for(endpoint: str) -> list[dict[str, str]]:
    return [{"Key": TAG_KEY, "Value": endpoint}]


def build_endpoint_config(*, name: str, model_name: str, instance_type: str, instance_count: int = 1,
                          variant: str = DEFAULT_VARIANT, startup_timeout: int | None = None,
                          download_timeout: int | None = None, volume_gb: int | None = None,
                          tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    production: dict[str, Any] = {
        "VariantName": variant,
        "ModelName": model_name,
        "InstanceType": instance_type,
        "InitialInstanceCount": instance_count,
        "InitialVariantWeight": 1.0,
    }
    if startup_timeout is not None:
        production["ContainerStartupHealthCheckTimeoutInSeconds"] = startup_timeout
    if download_timeout is not None:
        production["ModelDataDownloadTimeoutInSeconds"] = download_timeout
    if volume_gb is not None:
        production["VolumeSizeInGB"] = volume_gb
    request: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": [production]}
    if tags:
        request["Tags"] = tags
    return request


def build_create_endpoint(*, name: str, config_name: str,
                          tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"EndpointName": name, "EndpointConfigName": config_name}
    if tags:
        request["Tags"] = tags
    return request


def build_update_endpoint(*, name: str, config_name: str, retain_properties: bool = False) -> dict[str, Any]:
    """Blue/green onto the new config. The variants' instance count and weight come from the new
    config, or, with retain_properties (an autoscaled endpoint), stay what they are now."""
    return {"EndpointName": name, "EndpointConfigName": config_name,
            "RetainAllVariantProperties": retain_properties}


def scaling_problems(previous: Mapping[str, Any], new: Mapping[str, Any], scaled: set[str]) -> list[str]:
    """What UpdateEndpoint refuses on autoscaled variants: removing one, or changing its instance type."""
    old_variants = {v["VariantName"]: v for v in previous.get("ProductionVariants") or []}
    new_variants = {v["VariantName"]: v for v in new.get("ProductionVariants") or []}
    problems = []
    for variant in sorted(scaled):
        if variant not in new_variants:
            problems.append(f"variant {variant} has autoscaling and the new config drops it")
        elif variant in old_variants and old_variants[variant].get("InstanceType") != new_variants[variant].get("InstanceType"):
            problems.append(f"variant {variant} has autoscaling, and UpdateEndpoint cannot change its instance type "
                            f"({old_variants[variant].get('InstanceType')} -> {new_variants[variant].get('InstanceType')}) "
                            "while it does")
    return problems


@dataclass
class DeployPlan:
    endpoint: str
    model_name: str
    config_name: str
    create_model: dict[str, Any]
    create_config: dict[str, Any]


def plan_deploy(*, endpoint: str, role: str, instance_type: str, image: str | None = None,
                model_data_url: str | None = None, model_package: str | None = None,
                instance_count: int = 1, variant: str = DEFAULT_VARIANT,
                environment: Mapping[str, str] | None = None, startup_timeout: int | None = None,
                download_timeout: int | None = None, volume_gb: int | None = None,
                name: str | None = None, now: float | None = None) -> DeployPlan:
    """Every request a deploy sends; the model and the config share one name, <endpoint>-<time>
    (or name). The model is an image and model data, or an approved model package version. No AWS call."""
    model_name = config_name = name or names.unique(endpoint, now=now)
    tags = tags_for(endpoint)
    return DeployPlan(
        endpoint=endpoint,
        model_name=model_name,
        config_name=config_name,
        create_model=models.build_create_model(name=model_name, image=image, model_data_url=model_data_url,
                                               model_package=model_package, role=role,
                                               environment=environment, tags=tags),
        create_config=build_endpoint_config(name=config_name, model_name=model_name,
                                            instance_type=instance_type, instance_count=instance_count,
                                            variant=variant, startup_timeout=startup_timeout,
                                            download_timeout=download_timeout, volume_gb=volume_gb,
                                            tags=tags),
    )


def models_of(config: Mapping[str, Any]) -> list[str]:
    """The model names a DescribeEndpointConfig response refers to, in order, once each."""
    found: list[str] = []
    for key in ("ProductionVariants", "ShadowProductionVariants"):
        for variant in config.get(key) or []:
            name = variant.get("ModelName")
            if name and name not in found:
                found.append(name)
    return found


def in_service_status(response: Mapping[str, Any]) -> str:
    return str(response.get("EndpointStatus", "?"))


def smoke_payload(metadata: Mapping[str, Any]) -> bytes | None:
    """One CSV row of zeros with as many features as the model was trained on, when known."""
    n = metadata.get("n_features")
    if isinstance(n, int) and n > 0:
        return (",".join(["0"] * n) + "\n").encode()
    return None


# -- calls ---------------------------------------------------------------------------------


def describe_endpoint(session: AwsSession, name: str) -> dict[str, Any] | None:
    try:
        with translate("sagemaker:DescribeEndpoint", session, not_found=f"endpoint {name} not found"):
            return session.client("sagemaker").describe_endpoint(EndpointName=name)
    except NotFound:
        return None


def describe_endpoint_config(session: AwsSession, name: str) -> dict[str, Any] | None:
    try:
        with translate("sagemaker:DescribeEndpointConfig", session, not_found=f"config {name} not found"):
            return session.client("sagemaker").describe_endpoint_config(EndpointConfigName=name)
    except NotFound:
        return None


def require_serving(session: AwsSession, name: str) -> dict[str, Any]:
    """DescribeEndpoint before a request: a missing endpoint is NotFound (exit 5) and one that
    takes no requests (Creating, Failed, ...) is Failed, each saying what to do. InvokeEndpoint
    would say the same on AWS, but an emulator such as moto answers any name."""
    described = describe_endpoint(session, name)
    if described is None:
        raise NotFound(f"endpoint {name} does not exist in {session.region}",
                       hint="Endpoint names are case-sensitive; `aws sagemaker list-endpoints` lists them.")
    status = described.get("EndpointStatus")
    if status in NOT_SERVING:
        reason = f" ({described['FailureReason']})" if described.get("FailureReason") else ""
        hint = {"Failed": f"Remove it with `byoc delete {name}`, then deploy again.",
                "Creating": "--wait waits until it is InService, then sends the request."}.get(status)
        raise Failed(f"endpoint {name} is {status}{reason}, not InService: it takes no requests", hint=hint)
    return described


@dataclass
class DeployResult:
    endpoint: str
    model_name: str
    config_name: str
    updated: bool
    previous_config: str | None = None
    previous_models: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    status: str | None = None


def wait_in_service(session: AwsSession, name: str, *, delay: float | None = None,
                    timeout: float | None = None, out: IO[str] = STDERR) -> dict[str, Any]:
    client = session.client("sagemaker")
    with translate("sagemaker:DescribeEndpoint", session, not_found=f"endpoint {name} not found"):
        waiting.wait(client, "endpoint_in_service", {"EndpointName": name}, label=f"endpoint {name}",
                     status_of=in_service_status, delay=delay, timeout=timeout, out=out,
                     still_running_hint=f"Follow it with: aws sagemaker describe-endpoint --endpoint-name {name}",
                     done="InService")
        return client.describe_endpoint(EndpointName=name)


def deploy(session: AwsSession, plan: DeployPlan, *, wait: bool, delay: float | None = None,
           timeout: float | None = None, keep_previous: bool = False,
           out: IO[str] = STDERR) -> DeployResult:
    client = session.client("sagemaker")
    existing = describe_endpoint(session, plan.endpoint)
    if existing:
        status = existing.get("EndpointStatus")
        if status in BUSY:
            waiter = "endpoint-deleted" if status == "Deleting" else "endpoint-in-service"
            raise Failed(f"endpoint {plan.endpoint} is {status}; deploy again once it has settled",
                         hint=f"`aws sagemaker wait {waiter} --endpoint-name {plan.endpoint}` waits for that.")
        if status == "Failed":
            raise Failed(f"endpoint {plan.endpoint} exists but is Failed "
                         f"({existing.get('FailureReason', 'no reason given')}); it cannot be updated.",
                         hint=f"Remove it with `byoc delete {plan.endpoint}`, then deploy again.")
    previous_config = existing.get("EndpointConfigName") if existing else None
    previous_models: list[str] = []
    scaled: dict[str, Any] | None = {}
    if previous_config:
        from . import autoscaling

        described = describe_endpoint_config(session, previous_config)
        previous_models = models_of(described) if described else []
        scaled = autoscaling.scaled_variants(session, plan.endpoint)
        if scaled is None:
            print("Note: could not read the endpoint's autoscaling (application-autoscaling:"
                  "DescribeScalableTargets); an update that changes a scaled variant will be refused by AWS.",
                  file=out)
        elif scaled and described:
            problems = scaling_problems(described, plan.create_config, set(scaled))
            if problems:
                raise PreflightError(problems, hint=f"Remove the scaling first (byoc autoscale {plan.endpoint} "
                                     "--remove), deploy, then set it up again.")

    models.create(session, plan.create_model, out=out)
    created = {"model": plan.model_name}
    try:
        print(f"Creating endpoint config {plan.config_name} "
              f"({plan.create_config['ProductionVariants'][0]['InstanceType']} x "
              f"{plan.create_config['ProductionVariants'][0]['InitialInstanceCount']})", file=out)
        with translate("sagemaker:CreateEndpointConfig", session):
            client.create_endpoint_config(**plan.create_config)
        created["config"] = plan.config_name
        # CreateEndpoint/UpdateEndpoint read the config eventually consistently: read it first.
        with translate("sagemaker:DescribeEndpointConfig", session):
            client.describe_endpoint_config(EndpointConfigName=plan.config_name)
        if existing:
            print(f"Updating endpoint {plan.endpoint}: {previous_config} -> {plan.config_name} "
                  "(blue/green: new instances start before the old ones stop)", file=out)
            if scaled:
                print(f"Keeping the instance counts autoscaling set ({', '.join(sorted(scaled))}): "
                      "RetainAllVariantProperties", file=out)
            with translate("sagemaker:UpdateEndpoint", session):
                client.update_endpoint(**build_update_endpoint(name=plan.endpoint, config_name=plan.config_name,
                                                               retain_properties=bool(scaled)))
        else:
            print(f"Creating endpoint {plan.endpoint}", file=out)
            with translate("sagemaker:CreateEndpoint", session):
                client.create_endpoint(**build_create_endpoint(name=plan.endpoint, config_name=plan.config_name,
                                                               tags=tags_for(plan.endpoint)))
    except ByocError as exc:
        _undo(session, created, out)
        if isinstance(exc, Unsupported) and existing:
            exc.hint = ("The endpoint still runs its previous config "
                        f"({previous_config}); the new model and config were removed again. "
                        "On AWS, UpdateEndpoint does this blue/green switch.")
        raise

    result = DeployResult(plan.endpoint, plan.model_name, plan.config_name, updated=bool(existing),
                          previous_config=previous_config, previous_models=previous_models)
    if not wait:
        result.status = "Updating" if existing else "Creating"
        return result
    final = wait_in_service(session, plan.endpoint, delay=delay, timeout=timeout, out=out)
    result.status = final.get("EndpointStatus")
    if final.get("EndpointConfigName") != plan.config_name:
        # An update that fails rolls back: the endpoint is InService again, on the old config.
        _undo(session, created, out)
        raise Failed(f"endpoint {plan.endpoint} is InService but on {final.get('EndpointConfigName')}, "
                     f"not the new {plan.config_name}: the update was rolled back"
                     + (f" ({final['FailureReason']})" if final.get("FailureReason") else "") + ".")
    if existing and not keep_previous:
        result.removed = remove_unused(session, previous_config, previous_models,
                                       keep_models={plan.model_name}, out=out)
    return result


def _undo(session: AwsSession, created: Mapping[str, str], out: IO[str]) -> None:
    """Remove what this deploy created and nothing uses."""
    client = session.client("sagemaker")
    if "config" in created:
        delete_quietly(session, "sagemaker:DeleteEndpointConfig", out, f"endpoint config {created['config']}",
                      lambda: client.delete_endpoint_config(EndpointConfigName=created["config"]))
    if "model" in created:
        models.delete(session, created["model"], out=out)


def remove_unused(session: AwsSession, config: str | None, model_names: list[str], *,
                  keep_models: set[str], out: IO[str]) -> list[str]:
    client = session.client("sagemaker")
    removed = []
    if config:
        if delete_quietly(session, "sagemaker:DeleteEndpointConfig", out, f"previous endpoint config {config}",
                         lambda: client.delete_endpoint_config(EndpointConfigName=config)):
            removed.append(config)
    for model in model_names:
        if model not in keep_models and models.delete(session, model, what="previous model", out=out):
            removed.append(model)
    return removed


# -- invoke --------------------------------------------------------------------------------


@dataclass
class InvokeResult:
    body: bytes
    content_type: str | None
    variant: str | None
    custom_attributes: str | None


def build_invoke(*, endpoint: str, body: bytes, content_type: str, accept: str | None = None,
                 custom_attributes: str | None = None, target_variant: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"EndpointName": endpoint, "Body": body, "ContentType": content_type}
    if accept:
        request["Accept"] = accept
    if custom_attributes:
        request["CustomAttributes"] = custom_attributes
    if target_variant:
        request["TargetVariant"] = target_variant
    return request


def invoke(session: AwsSession, request: Mapping[str, Any]) -> InvokeResult:
    from botocore.exceptions import ClientError

    client = session.client("sagemaker-runtime")
    with translate("sagemaker:InvokeEndpoint", session):
        try:
            response = client.invoke_endpoint(**request)
        except ClientError as exc:
            if error_code(exc) == "ModelError":
                data = exc.response
                status = data.get("OriginalStatusCode")
                raise Failed(
                    f"the container answered {status or 'an error'}: "
                    f"{data.get('OriginalMessage') or error_message(exc)}",
                    hint=(f"Its log: {data['LogStreamArn']}" if data.get("LogStreamArn") else None),
                ) from None
            if error_code(exc) == "ValidationException" and "not found" in error_message(exc):
                raise NotFound(f"{error_message(exc)} (endpoint names are case-sensitive here)") from None
            raise
    return InvokeResult(body=response["Body"].read(), content_type=response.get("ContentType"),
                        variant=response.get("InvokedProductionVariant"),
                        custom_attributes=response.get("CustomAttributes"))


# -- delete --------------------------------------------------------------------------------


@dataclass
class DeleteResult:
    endpoint: str
    config: str | None
    models: list[str]
    deleted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def delete(session: AwsSession, endpoint: str, *, wait: bool, delay: float | None = None,
           timeout: float | None = None, out: IO[str] = STDERR) -> DeleteResult:
    """The endpoint, then its config, then the config's models; scaling targets on its variants."""
    from . import autoscaling

    client = session.client("sagemaker")
    described = describe_endpoint(session, endpoint)
    if described is None:
        raise NotFound(f"endpoint {endpoint} does not exist; nothing was deleted.")
    config_name = described.get("EndpointConfigName")
    config = describe_endpoint_config(session, config_name) if config_name else None
    variants = [v["VariantName"] for v in described.get("ProductionVariants") or []]
    result = DeleteResult(endpoint, config_name, models_of(config) if config else [])
    if config_name and config is None:
        result.notes.append(f"its config {config_name} was already gone, so its models are unknown")

    for variant in variants:
        result.notes.extend(autoscaling.remove(session, endpoint, variant, out=out, quiet_if_absent=True))

    print(f"Deleting endpoint {endpoint}", file=out)
    with translate("sagemaker:DeleteEndpoint", session, not_found=f"endpoint {endpoint} does not exist"):
        client.delete_endpoint(EndpointName=endpoint)
    result.deleted.append(f"endpoint {endpoint}")
    if wait:
        with translate("sagemaker:DescribeEndpoint", session):
            waiting.wait(client, "endpoint_deleted", {"EndpointName": endpoint}, label=f"endpoint {endpoint}",
                         status_of=in_service_status, delay=delay, timeout=timeout, out=out, done="gone")
    if config_name and config is not None and delete_quietly(
            session, "sagemaker:DeleteEndpointConfig", out, f"endpoint config {config_name}",
            lambda: client.delete_endpoint_config(EndpointConfigName=config_name)):
        result.deleted.append(f"endpoint config {config_name}")
    for model in result.models:
        if models.delete(session, model, out=out):
            result.deleted.append(f"model {model}")
    return result
