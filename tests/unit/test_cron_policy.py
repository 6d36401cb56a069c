"""The policy file: the issue's example as written, every problem named with its key and line,
and the Request it becomes (the prune commands' own, so the collector decides as it always does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from toygraph import DAY, T0, Toy

from bilge.cron.policy import PolicyError, load
from bilge.gc.prune import plan

# The policy as issue 13 writes it; tests/test_cron.py reads the same file.
ISSUE_EXAMPLE = (Path(__file__).parent.parent / "cron-issue-13-policy.toml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load(path)
    assert caught.value.exit_code == 2
    return [p.removeprefix(f"{path}:") for p in caught.value.problems]


def test_the_issues_example_reads_as_written(tmp_path: Path) -> None:
    policy = load(write(tmp_path, ISSUE_EXAMPLE))
    assert (policy.containers, policy.build_cache) == (True, True)
    images = policy.images
    assert images is not None and not images.all and images.keep == 3
    assert (images.unused_for, images.min_age, images.max_size) == (7 * DAY, 3600, 20_000_000_000)
    assert (images.high, images.low) == (85, 80)
    assert images.exclude == ["registry.example.com/base/*"]
    assert policy.filters == ["label!=keep"]
    assert policy.output.report == Path("/var/lib/bilge/report.html")
    assert policy.output.report_format == "html"
    assert policy.output.metrics == Path("/var/lib/node_exporter/textfile/bilge.prom")


def test_the_shipped_example_is_a_valid_policy() -> None:
    import bilge.cron

    example = Path(bilge.cron.__file__).parent / "policy.example.toml"
    assert load(example).describe() == "containers, dangling images, build cache"


def test_the_request_is_the_prune_commands_own(tmp_path: Path) -> None:
    request = load(write(tmp_path, ISSUE_EXAMPLE)).request(T0)
    assert request.command == "cron run"
    assert request.containers is not None and request.containers.not_labels == ["keep"]
    assert request.images is not None and not request.images.all
    assert (request.images.keep, request.images.max_size, request.images.high, request.images.low) == (3, 20e9, 85, 80)
    assert request.images.exclude == ["registry.example.com/base/*"]
    assert request.cache is not None and request.cache.until is None


def test_nothing_asked_for_means_no_kind_requested(tmp_path: Path) -> None:
    request = load(write(tmp_path, '[prune]\nimages = "none"\n')).request(T0)
    assert (request.containers, request.images, request.cache) == (None, None, None)


def test_an_empty_policy_takes_dangling_images_only(tmp_path: Path) -> None:
    policy = load(write(tmp_path, ""))
    assert policy.describe() == "dangling images"


def test_a_typo_is_named_with_its_line_and_a_suggestion(tmp_path: Path) -> None:
    text = ISSUE_EXAMPLE.replace("max_size =", "maxsize =")
    [problem] = problems(tmp_path, text)
    assert problem.startswith("8: prune.maxsize: unknown key 'maxsize' (did you mean 'max_size'?)")


def test_a_bad_size_is_named_with_its_line(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, ISSUE_EXAMPLE.replace('"20GB"', '"20XB"'))
    assert problem == "8: prune.max_size: invalid size '20XB' (examples: 500MB, 2GiB, 1000000)"


@pytest.mark.parametrize("low", ["85", "90"])
def test_low_not_below_high_is_impossible(tmp_path: Path, low: str) -> None:
    [problem] = problems(tmp_path, ISSUE_EXAMPLE.replace("low = 80", f"low = {low}"))
    assert problem == f"10: prune.low: low ({low}) must be below high (85)"


def test_low_without_high(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "[prune]\nlow = 80\n")
    assert problem.startswith("2: prune.low: low needs high")


def test_every_problem_is_listed_in_line_order(tmp_path: Path) -> None:
    text = """\
stray = 1
[prune]
containers = "yes"
images = "all"
keep = -1
unused_for = "a week"
high = 120
exclude = "label=keep"
filter = ["colour=red"]
[output]
report = "report.html"
[outptu]
"""
    found = problems(tmp_path, text)
    assert [p.split(":")[0] for p in found] == ["1", "3", "4", "5", "6", "7", "8", "9", "11", "12"]
    assert found[0] == "1: stray: a key outside any table (put it under [prune] or [output])"
    assert found[1] == "3: prune.containers: 'yes' is not true or false"
    assert found[2] == "4: prune.images: 'all' is not one of 'dangling', 'unused', 'none'"
    assert "invalid duration 'a week'" in found[4] and "invalid percentage '120'" in found[5]
    assert "invalid filter 'colour=red'" in found[7]
    assert "not an absolute path" in found[8]
    assert found[9].startswith("12: [outptu]: unknown table 'outptu' (did you mean 'output'?)")


def test_quoted_keys_and_indented_tables_are_found(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, '# a comment\n  [ prune ]\n  "keep" = "three"\n')
    assert problem.startswith("3: prune.keep:")


def test_the_same_key_in_another_table_does_not_mislead_the_line(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, '[output]\nreport = "/r.html"\n[prune]\nreport = "x"\n')
    assert problem.startswith("4: prune.report: unknown key")


def test_bad_toml_says_where(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "[prune]\nkeep = \n")
    assert "not valid TOML" in problem and "line 2" in problem


def test_a_missing_policy_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(
        PolicyError, match=r"absent.toml: no policy there \(give --policy FILE, or start from .*policy.example.toml\)"
    ):
        load(tmp_path / "absent.toml")
    with pytest.raises(PolicyError, match="cannot read the policy: Is a directory"):
        load(tmp_path)


def test_sizes_and_percentages_take_toml_numbers(tmp_path: Path) -> None:
    images = load(write(tmp_path, '[prune]\nmax_size = 5000\nhigh = 90.5\nlow = "80%"\n')).images
    assert images is not None and (images.max_size, images.high, images.low) == (5000, 90.5, 80)


def test_the_report_format_follows_the_file_name(tmp_path: Path) -> None:
    assert load(write(tmp_path, '[output]\nreport = "/r.md"\n')).output.report_format == "md"
    named = load(write(tmp_path, '[output]\nreport = "/r.txt"\nreport_format = "json"\n'))
    assert named.output.report_format == "json"


def test_exclude_keeps_images_by_reference_pattern_and_label(tmp_path: Path) -> None:
    toy = Toy(tmp_path / "store")
    toy.image("base", toy.stack(("b", 1000)), tags=("registry.example.com/base/alpine:3",))
    toy.image("kept", toy.stack(("k", 100)), tags=("app:1",), labels={"keep": "yes"})
    toy.image("other", toy.stack(("o", 10)), tags=("other:1",))
    toy.image("loose", toy.stack(("l", 20)))
    policy = load(
        write(tmp_path, '[prune]\nimages = "unused"\nexclude = ["registry.example.com/base/*", "label=keep"]\n')
    )
    taken = plan(toy.graph(), policy.request(T0), T0, None)
    assert toy.names(taken.images) == {"other", "loose"}
