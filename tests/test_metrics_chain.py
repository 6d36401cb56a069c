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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from components import require
from registry_fixtures import free_port

from bilge.reports.whatif import requests
from bilge.store.timeutil import parse_rfc3339

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
    for name, command, _ in requests():  # each policy's figure is what its command's dry run plans
        planned = json.loads(bilge(*command.split()[1:], "--dry-run", "--format", "json").stdout)
        assert got[("bilge_reclaimable_bytes", name)] == planned["Bytes"], command
    assert got[("bilge_reclaimable_bytes", "system prune -a")] == 3854111
    assert len([k for k in got if k[0] == "bilge_reclaimable_bytes"]) == len(requests())
    assert got[("bilge_last_prune_timestamp_seconds", "")] == 0

    pruned = json.loads(bilge("image", "prune", "-f", "--format", "json").stdout)
    assert pruned["SpaceReclaimed"] > 0
    after = samples(bilge("metrics").stdout)
    history = json.loads(bilge("gc", "history", "--format", "json").stdout)
    assert after[("bilge_last_prune_freed_bytes", "")] == pruned["SpaceReclaimed"]
    assert after[("bilge_last_prune_timestamp_seconds", "")] == pytest.approx(parse_rfc3339(history[0]["finished"]))
    assert after[("bilge_store_bytes", "images")] == 3854111 - pruned["SpaceReclaimed"]


def test_containers_count_and_are_reclaimed(ctr, fixtures_dir: Path) -> None:
    """With the fixture's two containers (one stopped after writing 40,000 bytes, one created):
    their writable bytes are what system df says, reclaimable is what system prune -a then frees
    (containers included), and the snapshot that prune records says so too."""
    from test_gc_containers import _recreate_fixture_containers

    _recreate_fixture_containers(ctr, fixtures_dir)
    got = samples(ctr("metrics").stdout)
    df = json.loads(ctr("system", "df", "-v", "--format", "json").stdout)
    assert got[("bilge_containers", "")] == len(df["Containers"]) == 2
    assert got[("bilge_store_bytes", "containers")] == sum(c["SizeRw"] for c in df["Containers"]) == 40000
    done = json.loads(ctr("system", "prune", "-a", "-f", "--format", "json").stdout)
    assert got[("bilge_reclaimable_bytes", "system prune -a")] == done["SpaceReclaimed"]
    assert done["SpaceReclaimed"] == df["LayersSize"] + got[("bilge_store_bytes", "containers")]
    (snapshot,) = json.loads(ctr("trends", "--format", "json").stdout)
    assert (snapshot["freed_bytes"], snapshot["stored_bytes"], snapshot["growth_bytes"]) == (
        done["SpaceReclaimed"],
        0,
        None,
    )


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


# -- the chain a fleet runs: textfile -> node_exporter -> Prometheus -> query API ------------------


@dataclass
class Server:
    url: str
    log: Path


def wait_until(what: str, check: Callable[[], object], proc: subprocess.Popen | None, log: Path | None) -> object:
    """Poll `check` until it returns something true (30 s); a dead process fails at once, with its log."""
    deadline = time.monotonic() + 30
    while True:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: exited {proc.returncode}:\n{log.read_text()[-3000:] if log else ''}", pytrace=False)
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within 30 s:\n{log.read_text()[-3000:] if log else ''}", pytrace=False)
        time.sleep(0.2)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[str, list[str], int, str], Server]]:
    """`serve(name, argv, port, ready_path)`: start argv (its own session, log in tmp), wait until
    GET ready_path on the port answers 200, and stop it when the test ends."""
    procs: list[subprocess.Popen] = []

    def start(name: str, argv: list[str], port: int, ready: str) -> Server:
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_until(f"{name} ready", lambda: httpx.get(url + ready, timeout=2).status_code == 200, proc, log)
        return Server(url, log)

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def query(prometheus: Server, promql: str) -> list[dict]:
    reply = httpx.get(prometheus.url + "/api/v1/query", params={"query": promql}, timeout=5)
    reply.raise_for_status()
    body = reply.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def rules(prometheus: Server) -> list[dict]:
    reply = httpx.get(prometheus.url + "/api/v1/rules", timeout=5)
    reply.raise_for_status()
    (group,) = reply.json()["data"]["groups"]
    return group["rules"]


def test_prometheus_scrapes_the_reclaimable_bytes_through_node_exporter(bilge, loaded, serve, tmp_path: Path) -> None:
    """Debian's node_exporter (textfile collector only) and prometheus (private TSDB, 1 s scrapes,
    the shipped rules loaded), both on loopback: the query API returns the exact bytes the dry
    run plans, and after the prune and a rewrite of the file, what the prune left and freed."""
    exporter_exe = require(
        "prometheus-node-exporter", "to expose the textfile (Debian package prometheus-node-exporter)"
    )
    prometheus_exe = require("prometheus", "to scrape node_exporter (Debian package prometheus)")
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    bilge("metrics", "-o", textfiles / "bilge.prom")

    exporter_port, prometheus_port = free_port(), free_port()
    exporter = serve(
        "node_exporter",
        [
            exporter_exe,
            f"--web.listen-address=127.0.0.1:{exporter_port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfiles}",
        ],
        exporter_port,
        "/metrics",
    )
    exposed = httpx.get(exporter.url + "/metrics", timeout=5).text
    assert "bilge_reclaimable_bytes{" in exposed
    assert "node_textfile_scrape_error 0" in exposed, exposed[-2000:]

    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {"job_name": "node", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}
                ],
            }
        )
    )
    prometheus = serve(
        "prometheus",
        [
            prometheus_exe,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        prometheus_port,
        "/-/ready",
    )

    reclaimable = 'bilge_reclaimable_bytes{policy="system prune -a"}'
    planned = json.loads(bilge("system", "prune", "-a", "--dry-run", "--format", "json").stdout)["Bytes"]
    result = wait_until("the first scrape", lambda: query(prometheus, reclaimable), None, prometheus.log)
    assert [(r["metric"]["job"], int(r["value"][1])) for r in result] == [("node", planned)]
    assert planned == 3854111

    # The chain is live: after a prune and a rewrite, Prometheus sees what the prune left.
    freed = json.loads(bilge("system", "prune", "-a", "-f", "--format", "json").stdout)["SpaceReclaimed"]
    assert freed == planned
    bilge("metrics", "-o", textfiles / "bilge.prom")
    wait_until(
        "the scrape after the prune",
        lambda: [r for r in query(prometheus, reclaimable) if r["value"][1] == "0"],
        None,
        prometheus.log,
    )
    last = query(prometheus, "bilge_last_prune_freed_bytes")
    assert int(last[0]["value"][1]) == freed

    # The shipped rules load into the real server and evaluate without error.
    assert {r["name"] for r in rules(prometheus)} == {
        "BilgeStoreOverBudget",
        "BilgeReclaimableHigh",
        "BilgeNoRecentPrune",
    }
    wait_until("the rules evaluated", lambda: all(r["health"] == "ok" for r in rules(prometheus)), None, prometheus.log)
