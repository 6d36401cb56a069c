"""`bilge metrics` against real Prometheus tooling, on the fixture images Docker made.

promtool (Debian's prometheus package) lints the exposition and the shipped alert rules; the
figures equal what `system df` and a prune's dry run report, and the last prune's what the real
prune freed. The chain a fleet runs (textfile -> node_exporter -> Prometheus -> query API) is
driven end to end on loopback.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import require

FIXTURE = "docker/images.tar.gz"
SAMPLE = re.compile(r'^(\w+)(?:\{(\w+)="((?:[^"\\]|\\.)*)"\})? (\S+)$')


def samples(text: str) -> dict[tuple[str, str], float]:
    """(name, label value) -> value of every sample line."""
    found = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match, line
            name, _, value, number = match.groups()
            found[name, value or ""] = float(number)
    return found


def promtool(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    exe = require("promtool", "to check the exposition and the alert rules (Debian package prometheus)")
    return subprocess.run([exe, *args], input=input, capture_output=True, text=True, timeout=120)


@pytest.fixture
def loaded(bilge, fixtures_dir: Path) -> None:
    bilge("load", "-i", fixtures_dir / FIXTURE)


def test_promtool_accepts_the_exposition(bilge, loaded) -> None:
    text = bilge("metrics").stdout
    checked = promtool("check", "metrics", input=text)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr
    assert "bilge_image_unique_bytes{" in text


def test_promtool_rejects_a_broken_exposition() -> None:
    """The check above can fail: a sample without a value is refused."""
    checked = promtool("check", "metrics", input="# TYPE bilge_x gauge\nbilge_x\n")
    assert checked.returncode != 0


def test_the_figures_are_what_df_and_prune_report(bilge, loaded) -> None:
    got = samples(bilge("metrics").stdout)
    df = json.loads(bilge("system", "df", "-v", "--format", "json").stdout)
    assert got[("bilge_store_bytes", "images")] == df["LayersSize"] == 3854111
    assert got[("bilge_images", "")] == len(df["Images"]) == 8
    unique = {
        (i["RepoTags"][0] if i["RepoTags"] and i["RepoTags"][0] != "<none>:<none>" else i["Id"][7:19]): i["Size"]
        - i["SharedSize"]
        for i in df["Images"]
    }
    assert {k[1]: v for k, v in got.items() if k[0] == "bilge_image_unique_bytes"} == unique
    planned = json.loads(bilge("system", "prune", "-a", "--dry-run", "--format", "json").stdout)
    assert got[("bilge_reclaimable_bytes", "system prune -a")] == planned["Bytes"] == 3854111
    assert got[("bilge_last_prune_timestamp_seconds", "")] == 0

    pruned = json.loads(bilge("image", "prune", "-f", "--format", "json").stdout)
    assert pruned["SpaceReclaimed"] > 0
    after = samples(bilge("metrics").stdout)
    history = json.loads(bilge("gc", "history", "--format", "json").stdout)
    assert after[("bilge_last_prune_freed_bytes", "")] == pruned["SpaceReclaimed"]
    assert after[("bilge_last_prune_timestamp_seconds", "")] == pytest.approx(history[0]["finished"])
    assert after[("bilge_store_bytes", "images")] == 3854111 - pruned["SpaceReclaimed"]


def test_metrics_into_a_textfile_directory(bilge, loaded, tmp_path: Path) -> None:
    target = tmp_path / "textfile" / "bilge.prom"
    target.parent.mkdir()
    assert bilge("metrics", "-o", target).stdout == ""
    written, shown = samples(target.read_text()), samples(bilge("metrics").stdout)
    free = ("bilge_filesystem_free_bytes", "")  # other tests write to the same file system meanwhile
    assert written.pop(free) > 0 and shown.pop(free) > 0
    assert written == shown
    missing = bilge("metrics", "-o", tmp_path / "nowhere" / "bilge.prom", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"Error: cannot write metrics to {tmp_path}/nowhere/bilge.prom: No such file or directory"
    ]


RULES = Path(__file__).resolve().parent.parent / "reports" / "alerts" / "bilge-rules.yml"
GIB = 1024**3


def test_promtool_accepts_the_alert_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 3 rules found" in checked.stdout


def alert(name: str, instance: str, severity: str, summary: str, description: str, **labels: str) -> dict:
    return {
        "exp_labels": {"alertname": name, "instance": instance, "severity": severity, **labels},
        "exp_annotations": {"summary": summary, "description": description},
    }


def test_the_alerts_fire_when_they_say_and_only_then(tmp_path: Path) -> None:
    """promtool's rule unit tests: each alert fires for the host over its threshold once its `for:`
    has passed, and not for the host under it (JSON is YAML, so the test file is written as JSON)."""
    over = "bilge store on h1 is over its budget"
    spec = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'bilge_store_total_bytes{instance="h1"}', "values": f"{200 * GIB}x180"},
                    {"series": 'bilge_store_total_bytes{instance="h2"}', "values": f"{50 * GIB}x180"},
                    {
                        "series": 'bilge_reclaimable_bytes{instance="h1",policy="system prune -a"}',
                        "values": f"{30 * GIB}x180",
                    },
                    {
                        "series": 'bilge_reclaimable_bytes{instance="h2",policy="system prune -a"}',
                        "values": f"{GIB}x180",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "20m", "alertname": "BilgeStoreOverBudget", "exp_alerts": []},
                    {
                        "eval_time": "40m",
                        "alertname": "BilgeStoreOverBudget",
                        "exp_alerts": [
                            alert(
                                "BilgeStoreOverBudget",
                                "h1",
                                "warning",
                                over,
                                "The store holds 200GiB, more than the 100 GiB budget.",
                            )
                        ],
                    },
                    {"eval_time": "50m", "alertname": "BilgeReclaimableHigh", "exp_alerts": []},
                    {
                        "eval_time": "2h",
                        "alertname": "BilgeReclaimableHigh",
                        "exp_alerts": [
                            alert(
                                "BilgeReclaimableHigh",
                                "h1",
                                "info",
                                "bilge on h1 could reclaim space",
                                "A system prune -a would free 30GiB.",
                                policy="system prune -a",
                            )
                        ],
                    },
                ],
            },
            {
                # Scraped every minute: a sparser series would go stale between samples (5 minutes).
                "interval": "1m",
                "input_series": [
                    # h1 never pruned; h2 last pruned at 7.5 days.
                    {"series": 'bilge_last_prune_timestamp_seconds{instance="h1"}', "values": "0x12000"},
                    {"series": 'bilge_last_prune_timestamp_seconds{instance="h2"}', "values": "648000x12000"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "8d",
                        "alertname": "BilgeNoRecentPrune",
                        "exp_alerts": [
                            alert(
                                "BilgeNoRecentPrune",
                                "h1",
                                "warning",
                                "bilge on h1 has not pruned for 7 days",
                                "The last prune finished 8d 0h 0m 0s ago; check its cron job (bilge cron show).",
                            )
                        ],
                    },
                    {"eval_time": "7d", "alertname": "BilgeNoRecentPrune", "exp_alerts": []},
                ],
            },
        ],
    }
    tests = tmp_path / "bilge-rules.test.yml"
    tests.write_text(json.dumps(spec))
    tested = promtool("test", "rules", str(tests))
    assert tested.returncode == 0, tested.stdout + tested.stderr
