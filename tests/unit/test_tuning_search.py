"""The tuning vocabulary (byoc.tuning) and the request byoc.aws.tuning builds from it: pure functions."""

from __future__ import annotations

import pytest

from byoc import tuning
from byoc.aws import names
from byoc.aws import tuning as aws_tuning
from byoc.aws.training import TrainingSpec, build_training_job, Channel
from container.metrics import METRIC_DEFINITIONS


@pytest.mark.parametrize("text, expected", [
    ("n_estimators=int:10:200", tuning.Range("n_estimators", "int", 10, 200, "Auto")),
    ("n_estimators=int:10:200:log", tuning.Range("n_estimators", "int", 10, 200, "Logarithmic")),
    ("lr=float:1e-4:0.5:log", tuning.Range("lr", "float", 1e-4, 0.5, "Logarithmic")),
    ("frac=float:0:0.99:reverse-log", tuning.Range("frac", "float", 0, 0.99, "ReverseLogarithmic")),
    ("c=float:-1:1:linear", tuning.Range("c", "float", -1, 1, "Linear")),
    ("criterion=choice:gini,entropy", tuning.Range("criterion", "choice", choices=("gini", "entropy"))),
    ("max_depth=choice:3,null", tuning.Range("max_depth", "choice", choices=("3", "null"))),
])
def test_parse_range(text: str, expected: tuning.Range) -> None:
    assert tuning.parse_range(text) == expected
    assert tuning.parse_range(expected.describe()) == expected  # describe() writes what parse reads


@pytest.mark.parametrize("text, says", [
    ("n_estimators", "is not NAME=int:LOW:HIGH"),
    ("=int:1:2", "is not NAME="),
    ("x=integer:1:2", "kind 'integer' is not int, float or choice"),
    ("x=int:1", "write x=int:LOW:HIGH"),
    ("x=int:1:2:3:4", "write x=int:LOW:HIGH"),
    ("x=int:1.5:3", "must be integers"),
    ("x=float:a:3", "must be numbers"),
    ("x=float:1:inf", "must be finite"),
    ("x=int:1:9:cubic", "scale 'cubic' is not one of"),
    ("x=choice:", "give the choices"),
    ("x=choice:a,,b", "none empty"),
])
def test_parse_range_refuses_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        tuning.parse_range(text)


@pytest.mark.parametrize("metric, direction", [
    ("validation:accuracy", "Maximize"), ("validation:auc", "Maximize"), ("validation:f1_macro", "Maximize"),
    ("validation:precision", "Maximize"), ("test:recall_macro", "Maximize"), ("validation:r2", "Maximize"),
    ("validation:log_loss", "Minimize"), ("validation:rmse", "Minimize"), ("train:mae", "Minimize"),
    ("validation:progress", None),
])
def test_direction_follows_the_metric_name(metric: str, direction: str | None) -> None:
    assert tuning.direction(metric) == direction


def test_every_runtime_metric_has_a_direction() -> None:
    # a metric added to container.metrics without a known direction would need --maximize/--minimize
    assert [d["Name"] for d in METRIC_DEFINITIONS if tuning.direction(d["Name"]) is None] == []


def test_objective_needs_a_metric_definition_and_a_direction() -> None:
    objective, problems = tuning.objective("validation:accuracy", METRIC_DEFINITIONS)
    assert objective == tuning.Objective("validation:accuracy", "Maximize") and problems == []
    objective, problems = tuning.objective("validation:rmse", METRIC_DEFINITIONS, maximize=True)
    assert objective == tuning.Objective("validation:rmse", "Maximize")  # overridden
    objective, problems = tuning.objective("validation:auc_typo", METRIC_DEFINITIONS)
    assert "is not a metric the runtime prints" in problems[0] and "validation" in problems[0]
    defs = [{"Name": "validation:progress", "Regex": "p=(.*);"}]
    objective, problems = tuning.objective("validation:progress", defs)
    assert objective is None and problems == [
        "cannot tell whether validation:progress should go up or down: add --maximize or --minimize"]
    assert tuning.objective("validation:progress", defs, minimize=True)[0] == tuning.Objective(
        "validation:progress", "Minimize")
    assert "not both" in tuning.objective("validation:accuracy", METRIC_DEFINITIONS, maximize=True,
                                          minimize=True)[1][0]


def test_objective_better() -> None:
    assert tuning.Objective("v:accuracy", "Maximize").better(0.9, 0.8)
    assert tuning.Objective("v:rmse", "Minimize").better(0.8, 0.9)


def _problems(strategy: str = "bayesian", ranges: list[str] = ("a=int:1:5",), static: dict | None = None,
              max_jobs: int | None = 10, max_parallel: int = 1, **kw) -> list[str]:
    return tuning.search_problems(strategy=strategy, ranges=[tuning.parse_range(r) for r in ranges],
                                  static=static or {}, max_jobs=max_jobs, max_parallel=max_parallel, **kw)


def test_a_sound_search_has_no_problems() -> None:
    assert _problems() == []
    assert _problems("grid", ["a=choice:1,2", "b=choice:x,y,z"], max_jobs=None) == []
    assert _problems("grid", ["a=choice:1,2", "b=choice:x,y,z"], max_jobs=6) == []
    assert _problems("hyperband", static={"epochs": "10"}) == []
    assert _problems("hyperband", max_resource=20) == []


@pytest.mark.parametrize("kwargs, says", [
    ({"ranges": []}, "give at least one --range"),
    ({"ranges": [f"p{i}=int:1:2" for i in range(31)]}, "31 ranges; SageMaker tunes at most 30"),
    ({"ranges": ["a=choice:" + ",".join(map(str, range(31)))]}, "has 31 choices; the limit is 30"),
    ({"ranges": ["a=int:1:2", "a=int:3:4"]}, "--range a is given twice"),
    ({"ranges": ["a=choice:x,x"]}, "lists a choice twice"),
    ({"ranges": ["a=int:5:1"]}, "LOW is above HIGH"),
    ({"ranges": ["a=float:0:1:log"]}, "a log scale needs LOW > 0"),
    ({"ranges": ["a=int:0:10:log"]}, "a log scale needs LOW > 0"),
    ({"ranges": ["a=int:0:1:reverse-log"]}, "reverse-log is for float ranges only"),
    ({"ranges": ["a=float:0:1:reverse-log"]}, "reverse-log needs 0 <= LOW and HIGH < 1"),
    ({"ranges": ["_a=int:1:2"]}, "are the platform's own"),
    ({"static": {"a": "3"}}, "a is both tuned (--range) and static (-H)"),
    ({"static": {"_tuning_objective_metric": "x"}}, "is set by the tuner itself"),
    ({"static": {f"s{i}": "1" for i in range(99)}}, "make 101; SageMaker takes at most 100"),
    ({"max_parallel": 0}, "--max-parallel is 0"),
    ({"max_parallel": 101}, "over 100"),
    ({"max_jobs": 0}, "--max-jobs is 0"),
    ({"max_jobs": 10001}, "over 10000"),
    ({"strategy": "grid", "ranges": ["a=int:1:2", "b=choice:x"]}, "the grid strategy takes choice ranges only (a"),
    ({"strategy": "grid", "ranges": ["a=choice:1,2"], "max_jobs": 3}, "every combination, 2 here"),
    ({"strategy": "hyperband", "early_stopping": True, "max_resource": 5}, "drop --early-stopping"),
    ({"strategy": "hyperband"}, "hyperband needs the most epochs"),
    ({"max_resource": 5}, "--max-resource applies to the hyperband strategy only"),
    ({"strategy": "annealing"}, "--strategy annealing is not one of"),
])
def test_search_problems_the_service_would_refuse(kwargs: dict, says: str) -> None:
    found = _problems(**kwargs)
    assert any(says in p for p in found), found


def test_grid_and_its_default_job_count() -> None:
    ranges = [tuning.parse_range("a=choice:1,2"), tuning.parse_range("b=choice:x,y,z")]
    combos = tuning.grid(ranges)
    assert len(combos) == 6 == tuning.default_max_jobs("grid", ranges, None)
    assert combos[0] == {"a": "1", "b": "x"} and combos[-1] == {"a": "2", "b": "z"}
    assert len({tuple(c.items()) for c in combos}) == 6
    assert tuning.default_max_jobs("bayesian", ranges, None) is None
    assert tuning.default_max_jobs("grid", [tuning.parse_range("a=int:1:3")], None) is None
    assert tuning.default_max_jobs("grid", ranges, 4) == 4


def test_warnings() -> None:
    assert any("default quota of 750" in w for w in tuning.search_warnings(strategy="random", max_jobs=800,
                                                                             max_parallel=1))
    assert any("at most 3 run" in w for w in tuning.search_warnings(strategy="random", max_jobs=3, max_parallel=5))
    assert any("none to learn from" in w for w in tuning.search_warnings(strategy="bayesian", max_jobs=4,
                                                                           max_parallel=4))
    assert tuning.search_warnings(strategy="bayesian", max_jobs=10, max_parallel=2) == []


def test_parameter_ranges_are_the_api_shapes_with_string_bounds() -> None:
    ranges = tuning.parse_ranges(["n=int:10:200:log", "lr=float:0.001:0.5", "c=choice:gini,entropy"])
    assert tuning.parameter_ranges(ranges) == {
        "IntegerParameterRanges": [{"Name": "n", "MinValue": "10", "MaxValue": "200", "ScalingType": "Logarithmic"}],
        "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001", "MaxValue": "0.5", "ScalingType": "Auto"}],
        "CategoricalParameterRanges": [{"Name": "c", "Values": ["gini", "entropy"]}],
    }
    assert tuning.parameter_ranges(tuning.parse_ranges(["c=choice:a"])) == {
        "CategoricalParameterRanges": [{"Name": "c", "Values": ["a"]}]}


def test_training_hyperparameters_carry_the_objective_name() -> None:
    assert tuning.training_hyperparameters({"s": "1"}, {"n": "5"}, "validation:auc") == {
        "s": "1", "n": "5", "_tuning_objective_metric": "validation:auc"}


def test_tuning_job_names() -> None:
    name = names.unique_short("byoc-tune", limit=32)
    assert len(name) <= 32 and names.problem("tuning job", name) is None
    assert names.unique_short("byoc-tune", limit=32) != name  # the random part, within one minute
    long = names.unique_short("a-very-long-experiment-name-indeed", limit=32)
    assert len(long) == 32 and names.problem("tuning job", long) is None
    assert "the limit is 32" in names.problem("tuning job", "x" * 33)
    assert "not valid" in names.problem("tuning job", "my_tuning")
    # the tuner's training jobs, <name>-<NNN>-<8 hex>, still fit a training job name
    assert names.problem("training job", f"{'x' * 32}-001-abcdef12") is None


def _training_request() -> dict:
    return build_training_job(
        name="t1", image="1.dkr.ecr.us-east-1.amazonaws.com/x:1", role="arn:aws:iam::123456789012:role/R",
        channels=[Channel("train", "s3://b/p/train/")], output_path="s3://b/p/tuning",
        hyperparameters={"estimator": "random_forest"}, metric_definitions=METRIC_DEFINITIONS,
        spot=True, max_runtime=600, max_wait=1200, checkpoint_s3="s3://b/p/tuning/t1/checkpoints",
        environment={"A": "1"})


def test_definition_is_the_training_request_in_the_tuning_shape() -> None:
    request = _training_request()
    definition = aws_tuning.definition(request)
    assert "TrainingJobName" not in definition and "HyperParameters" not in definition
    assert definition["StaticHyperParameters"] == {"estimator": "random_forest"}
    assert definition["AlgorithmSpecification"] == {
        "TrainingImage": "1.dkr.ecr.us-east-1.amazonaws.com/x:1", "TrainingInputMode": "File",
        "MetricDefinitions": METRIC_DEFINITIONS}
    for key in ("RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig", "StoppingCondition",
                "EnableManagedSpotTraining", "CheckpointConfig", "Environment"):
        assert definition[key] == request[key]
    # botocore validates the request against the API model: the shape is what the API takes
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateHyperParameterTuningJob").input_shape
    spec = aws_tuning.TuningSpec(
        training=TrainingSpec(name="t1", image="x", role="r", channels={}),
        ranges=tuning.parse_ranges(["n=int:2:20:log", "c=choice:gini,entropy"]),
        objective=tuning.Objective("validation:accuracy", "Maximize"), strategy="random", max_jobs=8,
        max_parallel=2, early_stopping=True, warm_start=["parent-1"], random_seed=7, max_tuning_runtime=3600)
    full = aws_tuning.build_request(spec, request)
    report = ParamValidator().validate(full, shape)
    assert not report.has_errors(), report.generate_report()
    config = full["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random" and config["RandomSeed"] == 7
    assert config["ResourceLimits"] == {"MaxParallelTrainingJobs": 2, "MaxNumberOfTrainingJobs": 8,
                                        "MaxRuntimeInSeconds": 3600}
    assert config["TrainingJobEarlyStoppingType"] == "Auto"
    assert full["WarmStartConfig"] == {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent-1"}],
                                       "WarmStartType": "IdenticalDataAndAlgorithm"}


def test_status_line_shows_counters_and_the_best_so_far() -> None:
    described = {
        "HyperParameterTuningJobStatus": "InProgress",
        "HyperParameterTuningJobConfig": {"HyperParameterTuningJobObjective": {"Type": "Maximize",
                                                                               "MetricName": "validation:auc"}},
        "TrainingJobStatusCounters": {"Completed": 3, "InProgress": 2, "RetryableError": 0, "NonRetryableError": 1,
                                      "Stopped": 0},
        "BestTrainingJob": {"TrainingJobName": "t-002-abcd",
                            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:auc",
                                                                             "Value": 0.91234567}},
    }
    assert aws_tuning.status_of(described) == (
        "InProgress: 3 completed, 2 running, 1 failed; best validation:auc = 0.912346 (t-002-abcd)")
    del described["BestTrainingJob"]
    assert aws_tuning.status_of(described) == "InProgress: 3 completed, 2 running, 1 failed"
