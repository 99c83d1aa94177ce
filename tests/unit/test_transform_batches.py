"""Batch transform's record grouping, as SageMaker does it for SplitType=Line."""

import pytest

from byoc.transform import batches, normalise_strategy


def test_multi_record_packs_whole_records_under_the_limit() -> None:
    records = [b"1,2\n"] * 10  # 4 bytes each
    limit_mb = 10 / (1024 * 1024)  # 10 bytes: two records per request
    groups = batches(records, "MultiRecord", limit_mb)
    assert [len(g) for g in groups] == [2, 2, 2, 2, 2]
    assert b"".join(b"".join(g) for g in groups) == b"".join(records)


def test_single_record_sends_one_per_request() -> None:
    assert batches([b"a\n", b"b\n"], "SingleRecord", 6) == [[b"a\n"], [b"b\n"]]


def test_a_record_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="over MaxPayloadInMB"):
        batches([b"x" * 100], "MultiRecord", 50 / (1024 * 1024))


def test_zero_means_no_limit() -> None:
    assert len(batches([b"x\n"] * 1000, "MultiRecord", 0)) == 1


@pytest.mark.parametrize("spelling", ["MULTI_RECORD", "MultiRecord", "multi-record"])
def test_both_spellings_of_the_strategy(spelling: str) -> None:
    assert normalise_strategy(spelling) == "MultiRecord"


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError):
        normalise_strategy("Everything")


def test_one_vocabulary_of_strategies_for_the_emulator_and_the_aws_command() -> None:
    """byoc.transform.STRATEGIES is the one list: the local emulator normalises to it and
    `byoc transform --strategy` is checked against it."""
    from byoc import transform
    from byoc.aws import transform as aws_transform

    assert aws_transform.STRATEGIES is transform.STRATEGIES == ("MultiRecord", "SingleRecord")
    for strategy in transform.STRATEGIES:
        for spelling in (strategy, strategy.upper(), strategy.replace("Record", "_RECORD").upper()):
            assert normalise_strategy(spelling) == strategy

    def strategy_problems(strategy: str) -> list[str]:
        return [p for p in aws_transform.problems(
            name="job", instance_type="ml.m5.large", instance_count=1, split_type="Line", assemble_with=None,
            strategy=strategy, max_payload_mb=None, max_concurrent=None, environment={}) if "--strategy" in p]

    assert all(strategy_problems(s) == [] for s in transform.STRATEGIES)
    assert strategy_problems("MULTI_RECORD") == ["--strategy MULTI_RECORD is not one of MultiRecord, SingleRecord"]
