"""byoc tune against moto_server: the request as moto stores it, names, pre-flight refusals, and
the calls moto lacks reported as such.

moto (5.0.12+) creates, describes, lists and deletes tuning jobs but runs nothing: a tuning job is
Completed at once, with fixed counters and a BestTrainingJob that is a hard-coded fake
(FakeTrainingJobName, which DescribeTrainingJob does not know). It implements neither
ListTrainingJobsForHyperParameterTuningJob nor StopHyperParameterTuningJob (contract doc, 2.7).
So `byoc tune results`, `byoc tune stop` and the best job's model are proven here only to report
that gap (exit 6); the results table itself is tested on API-shaped data (tests/unit) and through
`byoc local tune` (tests/contract).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aws_helpers import IMAGE, ROLE, sent
from container.metrics import METRIC_DEFINITIONS

pytestmark = pytest.mark.aws

BUCKET = "sagemaker-us-east-1-123456789012"


def tune(byoc, *extra: str, name: str | None = "iris-tune-1", channels: dict[str, Path] | None = None):
    args = ["tune", "--image", IMAGE, "--role", ROLE]
    for channel, source in (channels or {}).items():
        args += ["--channel", f"{channel}={source}"]
    if name:
        args += ["--job-name", name]
    return byoc(*args, *extra)


def s3_channels(aws) -> dict[str, str]:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="iris/train/train.csv", Body=b"0,5.1,3.5,1.4,0.2\n")
    return {"train": "s3://data/iris/train/"}


def test_tune_request_as_received(aws, byoc, calls, sample_data: dict[str, Path]) -> None:
    run = tune(byoc, "--range", "n_estimators=int:10:200:log", "--range", "min_samples_leaf=float:0.001:0.1",
               "--range", "criterion=choice:gini,entropy", "--objective", "validation:accuracy",
               "--strategy", "random", "--max-jobs", "12", "--max-parallel", "3", "--random-seed", "42",
               "--max-tuning-runtime", "7200", "-H", "estimator=random_forest", "-H", "max_depth=null",
               "--spot", "--max-runtime", "600", "--max-wait", "1200", "--env", "BYOC_LOG_LEVEL=DEBUG",
               channels={"train": sample_data["train"], "validation": sample_data["validation"]})
    assert run.code == 0, run.err
    assert run.last_line == "iris-tune-1"
    job = aws.client("sagemaker").describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="iris-tune-1")
    config = job["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:accuracy"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 12, "MaxParallelTrainingJobs": 3,
                                        "MaxRuntimeInSeconds": 7200}
    assert config["RandomSeed"] == 42 and config["TrainingJobEarlyStoppingType"] == "Off"
    assert config["ParameterRanges"] == {
        "IntegerParameterRanges": [{"Name": "n_estimators", "MinValue": "10", "MaxValue": "200",
                                    "ScalingType": "Logarithmic"}],
        "ContinuousParameterRanges": [{"Name": "min_samples_leaf", "MinValue": "0.001", "MaxValue": "0.1",
                                       "ScalingType": "Auto"}],
        "CategoricalParameterRanges": [{"Name": "criterion", "Values": ["gini", "entropy"]}],
    }
    definition = job["TrainingJobDefinition"]
    # static values as strings the runtime parses back; _tuning_objective_metric is the service's to add
    assert definition["StaticHyperParameters"] == {"estimator": "random_forest", "max_depth": "null"}
    assert definition["AlgorithmSpecification"] == {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                                    "MetricDefinitions": METRIC_DEFINITIONS}
    assert definition["RoleArn"] == ROLE
    assert definition["OutputDataConfig"] == {"S3OutputPath": f"s3://{BUCKET}/byoc/tuning"}
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200}
    assert definition["CheckpointConfig"] == {"S3Uri": f"s3://{BUCKET}/byoc/tuning/iris-tune-1/checkpoints",
                                              "LocalPath": "/opt/ml/checkpoints"}
    assert definition["Environment"] == {"BYOC_LOG_LEVEL": "DEBUG"}
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]}
    assert channels == {name: f"s3://{BUCKET}/byoc/tuning/iris-tune-1/input/{name}/" for name in ("train", "validation")}
    for name in channels:  # the local folders were uploaded there, file for file
        prefix = f"byoc/tuning/iris-tune-1/input/{name}/"
        assert sorted(k.removeprefix(prefix) for k in aws.s3_keys(BUCKET) if k.startswith(prefix)) == sorted(
            p.name for p in sample_data[name].iterdir())
    (wire,) = sent(calls, "CreateHyperParameterTuningJob")
    assert wire["TrainingJobDefinition"] == definition  # moto kept the whole definition
    assert "WarmStartConfig" not in wire and "TrainingJobDefinitions" not in wire


def test_generated_names_fit_32_characters_and_differ(aws, byoc) -> None:
    channels = s3_channels(aws)
    made = []
    for _ in range(2):  # in the same minute: the random suffix keeps them apart
        run = tune(byoc, "--range", "n_estimators=int:2:8", "--objective", "validation:log_loss", name=None,
                   channels=channels)
        assert run.code == 0, run.err
        made.append(run.last_line)
    assert made[0] != made[1]
    assert all(len(n) <= 32 and n.startswith("byoc-tune-") for n in made)
    listed = aws.client("sagemaker").list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    assert sorted(j["HyperParameterTuningJobName"] for j in listed) == sorted(made)
    job = aws.client("sagemaker").describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=made[0])
    # the direction follows the metric: log loss goes down; the default strategy is bayesian
    assert job["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["Type"] == "Minimize"
    assert job["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"


def test_direction_overridden_grid_and_early_stopping(aws, byoc) -> None:
    channels = s3_channels(aws)
    run = tune(byoc, "--range", "criterion=choice:gini,entropy", "--range", "max_depth=choice:2,4,null",
               "--objective", "validation:accuracy", "--minimize", "--strategy", "grid", "--early-stopping",
               channels=channels)
    assert run.code == 0, run.err
    config = aws.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="iris-tune-1")["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Grid"
    assert config["HyperParameterTuningJobObjective"]["Type"] == "Minimize"
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6  # every combination
    assert config["TrainingJobEarlyStoppingType"] == "Auto"
    assert "prints it once, at the end of fit" in run.err  # what early stopping can do with this runtime


@pytest.mark.parametrize("extra, says", [
    (["--range", "n=int:1:5", "--objective", "validation:auc_typo"], "is not a metric the runtime prints"),
    (["--range", "n=int:1:5"], "give the metric to optimise: --objective"),
    (["--objective", "validation:accuracy"], "give at least one --range"),
    (["--range", "n=int:1:5", "--objective", "validation:accuracy", "--strategy", "grid"],
     "the grid strategy takes choice ranges only"),
    (["--range", "n=choice:1,2", "--objective", "validation:accuracy", "--strategy", "grid", "--max-jobs", "5"],
     "a grid search runs every combination, 2 here"),
    (["--range", "n=int:1:5", "--objective", "validation:accuracy", "--strategy", "hyperband", "--early-stopping",
      "--max-resource", "10"], "hyperband stops jobs early itself"),
    (["--range", "n=int:1:5", "--objective", "validation:accuracy", "--strategy", "hyperband"],
     "hyperband needs the most epochs"),
    (["--range", "lr=float:0:1:log", "--objective", "validation:accuracy"], "a log scale needs LOW > 0"),
    (["--range", "n=int:0:1:reverse-log", "--objective", "validation:accuracy"], "reverse-log is for float ranges only"),
    (["--range", "n=int:1:5", "--objective", "validation:accuracy", "-H", "n=3"], "n is both tuned"),
    (["--range", "n=int:1:5", "--objective", "validation:accuracy", "--job-name", "x" * 33],
     "is 33 characters; the limit is 32"),
    (["--range", "n=int:1:5", "--objective", "validation:accuracy", "--job-name", "my_tuning"],
     "tuning job name 'my_tuning' is not valid"),
    (["--range", "n=int:1:5", "--objective", "validation:accuracy"]
     + [a for i in range(6) for a in ("--warm-start", f"parent-{i}")], "6 --warm-start parents; the limit is 5"),
    ([a for i in range(31) for a in ("--range", f"p{i}=int:1:2")] + ["--objective", "validation:accuracy"],
     "31 ranges; SageMaker tunes at most 30"),
    (["--range", "n=choice:" + ",".join(map(str, range(31))), "--objective", "validation:accuracy"],
     "has 31 choices; the limit is 30"),
    (["--range", "n=int:1:5", "--objective", "validation:accuracy"] + [a for i in range(99) for a in ("-H", f"s{i}=1")],
     "make 101; SageMaker takes at most 100"),
    (["--range", "n=int:1:5", "--objective", "validation:accuracy", "--max-tuning-runtime", "60"],
     "--max-tuning-runtime is 60; it must be 120-15768000"),
    (["--range", "n=int:1:5", "--objective", "validation:accuracy"] + [a for i in range(49) for a in ("--env", f"E{i}=1")],
     "49 environment variables; a tuning job's training jobs take at most 48"),
])
def test_preflight_refusals_create_nothing(aws, byoc, extra: list[str], says: str) -> None:
    channels = s3_channels(aws)
    name = [] if "--job-name" in extra else ["--job-name", "refused"]
    run = tune(byoc, *name, *extra, name=None, channels=channels)
    assert run.code == 2, run.err
    assert says in run.err
    assert "Traceback" not in run.err
    assert aws.client("sagemaker").list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []


def test_refusals_are_reported_together(aws, byoc) -> None:
    run = byoc("tune", "--range", "lr=float:0:1:log", "--objective", "validation:nope", "--job-name", "x" * 40)
    assert run.code == 2
    for says in ("an image URI is needed", "an execution role is needed", "give at least one channel",
                 "is not a metric the runtime prints", "a log scale needs LOW > 0", "the limit is 32"):
        assert says in run.err, run.err


def test_wait_on_a_completed_job_reports_moto_fake_best_job(aws, byoc) -> None:
    run = tune(byoc, "--range", "n_estimators=int:2:8", "--objective", "validation:accuracy", "--wait",
               channels=s3_channels(aws))
    # the progress shown is what describe said: moto's fixed counters and best job
    assert "tuning job iris-tune-1: Completed: 1 completed, 0 running, 0 failed" in run.err
    assert "best Accuracy = 1 (FakeTrainingJobName)" in run.err
    # the best job's model is read back with DescribeTrainingJob: moto has no such job, and says so
    assert run.code == 6, run.err
    assert "reports FakeTrainingJobName as the best training job of iris-tune-1, but has no such training job" in run.err
    assert run.out == ""  # no model URI made up


def test_best_training_job_is_checked_not_passed_on(aws, byoc) -> None:
    from byoc.aws import tuning as aws_tuning
    from byoc.aws.session import make_session
    from byoc.errors import NotFound, Unsupported

    assert tune(byoc, "--range", "n=int:2:8", "--objective", "validation:accuracy",
                channels=s3_channels(aws)).code == 0
    session = make_session()
    with pytest.raises(Unsupported, match="moto fakes BestTrainingJob"):
        aws_tuning.best_training_job(session, "iris-tune-1")
    with pytest.raises(NotFound, match="tuning job missing-job not found"):
        aws_tuning.best_training_job(session, "missing-job")


def test_results_and_stop_say_the_endpoint_lacks_them(aws, byoc, tmp_path: Path, monkeypatch) -> None:
    assert tune(byoc, "--range", "n=int:2:8", "--objective", "validation:accuracy",
                channels=s3_channels(aws)).code == 0
    monkeypatch.chdir(tmp_path)
    results = byoc("tune", "results", "iris-tune-1")
    assert results.code == 6, results.err
    assert "ListTrainingJobsForHyperParameterTuningJob is not implemented by http://127.0.0.1:" in results.err
    assert list(tmp_path.iterdir()) == []  # no table, CSV or chart made of nothing
    stop = byoc("tune", "stop", "iris-tune-1")
    assert stop.code == 6 and "StopHyperParameterTuningJob is not implemented" in stop.err
    missing = byoc("tune", "results", "no-such-job")
    assert missing.code == 5 and "tuning job no-such-job not found" in missing.err
    bad = byoc("tune", "results", "bad_name")
    assert bad.code == 2 and "not valid" in bad.err


def test_warm_start_from_an_ended_job_with_the_same_objective(aws, byoc, calls) -> None:
    channels = s3_channels(aws)
    assert tune(byoc, "--range", "n=int:2:8", "--objective", "validation:accuracy", name="parent-1",
                channels=channels).code == 0
    run = tune(byoc, "--range", "n=int:2:16", "--objective", "validation:accuracy", "--warm-start", "parent-1",
               "--warm-start-type", "transfer", name="child-1", channels=channels)
    assert run.code == 0, run.err
    job = aws.client("sagemaker").describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="child-1")
    assert job["WarmStartConfig"] == {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent-1"}],
                                      "WarmStartType": "TransferLearning"}
    other = tune(byoc, "--range", "n=int:2:16", "--objective", "validation:f1_macro", "--warm-start", "parent-1",
                 name="child-2", channels=channels)
    assert other.code == 2 and "parent-1 tuned validation:accuracy; warm start needs the same objective" in other.err
    missing = tune(byoc, "--range", "n=int:2:16", "--objective", "validation:accuracy", "--warm-start", "nobody",
                   name="child-3", channels=channels)
    assert missing.code == 5 and "--warm-start: tuning job nobody not found" in missing.err
    created = [c["HyperParameterTuningJobName"] for c in sent(calls, "CreateHyperParameterTuningJob")]
    assert created == ["parent-1", "child-1"]  # the refused ones created nothing


def test_duplicate_name_and_delete(aws, byoc) -> None:
    channels = s3_channels(aws)
    assert tune(byoc, "--range", "n=int:2:8", "--objective", "validation:accuracy", channels=channels).code == 0
    again = tune(byoc, "--range", "n=int:2:8", "--objective", "validation:accuracy", channels=channels)
    assert again.code == 1 and "ResourceInUse" in again.err
    deleted = byoc("tune", "delete", "iris-tune-1")
    assert deleted.code == 0, deleted.err
    assert aws.client("sagemaker").list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []
    assert byoc("tune", "delete", "iris-tune-1").code == 5
