"""SageMaker models: the CreateModel request for this image, and a model's life around its user.

A model is an image, a model.tar.gz and a role, or a registered model package version and a
role. A deploy makes one per endpoint config (and
endpoints.py removes it with the config it belongs to); a transform job on an image and model
data gets one made for it, which goes again once the job has ended, or at once when the job
could not be started. Every CreateModel and DeleteModel of the CLI goes through here.
"""

from __future__ import annotations

from typing import IO, Any, Mapping

from .console import STDERR
from .session import AwsSession, delete_quietly, translate

#: The tag on a model made for one transform job, naming the job.
TRANSFORM_TAG_KEY = "byoc:transform-job"


def build_create_model(*, name: str, role: str, image: str | None = None, model_data_url: str | None = None,
                       model_package: str | None = None, environment: Mapping[str, str] | None = None,
                       tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """CreateModel from an image and model data, or from a registered model package version.

    A package is one container of Containers holding only its ModelPackageName (and the serving
    environment), as the SDK sends it: SageMaker takes the image and model data from the version.
    """
    if model_package:
        if image or model_data_url:
            raise ValueError("a model is made from a model package or from an image and model data, not both")
        container: dict[str, Any] = {"ModelPackageName": model_package}
        if environment:
            container["Environment"] = dict(environment)
        request: dict[str, Any] = {"ModelName": name, "ExecutionRoleArn": role, "Containers": [container]}
    else:
        if not (image and model_data_url):
            raise ValueError("a model needs an image and model data, or a model package")
        container = {"Image": image, "ModelDataUrl": model_data_url, "Mode": "SingleModel"}
        if environment:
            container["Environment"] = dict(environment)
        request = {"ModelName": name, "ExecutionRoleArn": role, "PrimaryContainer": container}
    if tags:
        request["Tags"] = tags
    return request


def create(session: AwsSession, request: Mapping[str, Any], *, out: IO[str] = STDERR) -> str:
    print(f"Creating model {request['ModelName']}", file=out)
    with translate("sagemaker:CreateModel", session):
        session.client("sagemaker").create_model(**request)
    return str(request["ModelName"])


def require(session: AwsSession, name: str) -> dict[str, Any]:
    """DescribeModel, or NotFound (exit 5) naming the model."""
    with translate("sagemaker:DescribeModel", session, not_found=f"model {name} does not exist"):
        return session.client("sagemaker").describe_model(ModelName=name)


def delete(session: AwsSession, name: str, *, what: str = "model", out: IO[str] = STDERR) -> bool:
    """Delete a model while cleaning up, saying so (see session.delete_quietly)."""
    return delete_quietly(session, "sagemaker:DeleteModel", out, f"{what} {name}",
                          lambda: session.client("sagemaker").delete_model(ModelName=name))
