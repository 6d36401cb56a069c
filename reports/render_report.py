"""The report's Markdown, CSV and HTML. HTML is one self-contained file: plotly's charts with
plotly.js inlined (offline: nothing is fetched when it is viewed), laid out by a jinja2
template (reports/templates/report.html.j2)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from bilge.store.tables import human_size, render

from .document import TOP

_IMAGE_COLUMNS = [
    ("Name", "IMAGE"),
    ("id", "IMAGE ID"),
    ("unique", "UNIQUE SIZE"),
    ("size", "SIZE"),
    ("shared", "SHARED SIZE"),
    ("fair", "FAIR SHARE"),
    ("Containers", "CONTAINERS"),
]
_WHATIF_COLUMNS = [("name", "POLICY"), ("command", "COMMAND"), ("images", "IMAGES"), ("containers", "CONTAINERS")]
_WHATIF_COLUMNS += [("cache", "BUILD CACHE"), ("frees", "FREES")]


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def tables(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The report's tables as rows of display text, shared by Markdown and HTML."""
    if doc["kind"] == "fleet":
        return {
            "hosts": [
                {
                    "host": h["host"],
                    "when": _when(h["generated_at"]),
                    "images": h["images"],
                    "size": human_size(h["images_bytes"], 4),
                    "containers": human_size(h["containers_bytes"], 4),
                    "cache": human_size(h["build_cache_bytes"], 4),
                    "reclaimable": human_size(h["reclaimable_bytes"], 4),
                }
                for h in doc["hosts"]
            ],
            "images": [
                {"Name": i["Name"], "unique": human_size(i["UniqueSize"], 4), "hosts": len(i["Hosts"])}
                for i in doc["images"][:TOP]
            ],
        }
    return {
        "totals": [
            {
                "type": r["Type"],
                "total": r["TotalCount"],
                "active": r["Active"],
                "size": human_size(r["Size"], 4),
                "reclaimable": human_size(r["Reclaimable"], 4),
            }
            for r in doc["totals"]
        ],
        "images": [
            {
                **i,
                "id": i["Id"][7:19],
                "unique": human_size(i["UniqueSize"], 4),
                "size": human_size(i["Size"], 4),
                "shared": human_size(i["SharedSize"], 4),
                "fair": human_size(i["FairShare"], 4),
            }
            for i in doc["images"][:TOP]
        ],
        "layers": [
            {
                "chain": layer["ChainID"][7:19],
                "size": human_size(layer["Size"], 4),
                "count": len(layer["Images"]),
                "images": ", ".join(layer["Images"][:8]) + (" …" if len(layer["Images"]) > 8 else ""),
            }
            for layer in doc["layers"][:TOP]
        ],
        "what_if": [{**s, "frees": f"{human_size(s['bytes'], 4)} ({s['bytes']} bytes)"} for s in doc["what_if"]],
        "waste": [
            {
                "name": w["name"],
                "efficiency": f"{w['efficiency']:.1%}" if "efficiency" in w else "n/a",
                "wasted": human_size(w["wasted"], 4) if "wasted" in w else w.get("error", ""),
                "offenders": ", ".join(f"{o['path']} ({human_size(o['size'], 4)})" for o in w.get("offenders", [])[:3]),
            }
            for w in doc["waste"]
        ],
        "trends": [
            {
                "when": _when(s["taken_at"]),
                "reason": s["reason"],
                "images": human_size(s["images_bytes"], 4),
                "containers": human_size(s["containers_bytes"], 4),
                "cache": human_size(s["build_cache_bytes"], 4),
                "reclaimable": human_size(s["reclaimable_bytes"], 4),
                "free": human_size(s["fs_free_bytes"], 4),
                "freed": human_size(s["freed_bytes"], 4),
            }
            for s in doc["trends"]
        ],
    }


COLUMNS = {
    "totals": [("type", "TYPE"), ("total", "TOTAL"), ("active", "ACTIVE"), ("size", "SIZE")]
    + [("reclaimable", "RECLAIMABLE")],
    "images": _IMAGE_COLUMNS,
    "layers": [("chain", "LAYER"), ("size", "SIZE"), ("count", "IMAGES"), ("images", "SHARED BY")],
    "what_if": _WHATIF_COLUMNS,
    "waste": [("name", "IMAGE"), ("efficiency", "EFFICIENCY"), ("wasted", "WASTED")]
    + [("offenders", "BIGGEST OFFENDERS")],
    "trends": [("when", "WHEN"), ("reason", "REASON"), ("images", "IMAGES"), ("containers", "CONTAINERS")]
    + [("cache", "BUILD CACHE"), ("reclaimable", "RECLAIMABLE"), ("free", "FS FREE"), ("freed", "FREED")],
    "hosts": [("host", "HOST"), ("when", "REPORTED"), ("images", "IMAGES"), ("size", "IMAGES SIZE")]
    + [("containers", "CONTAINERS"), ("cache", "BUILD CACHE"), ("reclaimable", "RECLAIMABLE")],
    "fleet_images": [("Name", "IMAGE"), ("unique", "UNIQUE SIZE (ALL HOSTS)"), ("hosts", "HOSTS")],
}
TITLES = {
    "totals": "Totals",
    "images": "Images by unique bytes",
    "layers": "Largest layers",
    "what_if": "What each prune would free",
    "waste": "Waste in the top images",
    "trends": "Usage over time",
    "hosts": "Hosts",
    "fleet_images": "Images that cost most across the fleet",
}
NO_TRENDS = "No usage snapshots yet: every prune records one, and so does `bilge report --snapshot`."


def sections(doc: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]], list[tuple[str, str]]]]:
    """(key, title, rows, columns) in the order the document shows them."""
    found = tables(doc)
    if doc["kind"] == "fleet":
        found["fleet_images"] = found.pop("images")
    return [(key, TITLES[key], rows, COLUMNS[key]) for key, rows in found.items()]


def _title(doc: dict[str, Any]) -> str:
    if doc["kind"] == "fleet":
        return f"bilge fleet report: {len(doc['hosts'])} hosts"
    return f"bilge space report: {doc['host']}, {_when(doc['generated_at'])}"


def markdown(doc: dict[str, Any]) -> str:
    """Suits a CI job summary: headings and GitHub tables."""
    parts = [f"# {_title(doc)}"]
    for key, title, rows, columns in sections(doc):
        parts.append(f"## {title}")
        parts.append(NO_TRENDS if key == "trends" and not rows else render(rows, columns, "md"))
    return "\n\n".join(parts) + "\n"


def csv_rows(doc: dict[str, Any]) -> str:
    """Every number in long form (section, item, field, value): one table a spreadsheet takes whole."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "item", "field", "value"])
    for section, value in doc.items():
        if isinstance(value, list):
            for n, item in enumerate(value):
                name = item.get("Name") or item.get("name") or item.get("Type") or item.get("host") or str(n)
                for field, cell in item.items():
                    if isinstance(cell, (int, float, str)) and not isinstance(cell, bool):
                        writer.writerow([section, name, field, cell])
        elif isinstance(value, (int, float, str)):
            writer.writerow(["report", "", section, value])
    return out.getvalue()


def _div(fig: Any, key: str) -> str:
    """The chart's div and script, without plotly.js (the page inlines it once) or its logo link."""
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=key, config={"displaylogo": False})


def html(doc: dict[str, Any]) -> str:
    import jinja2
    from plotly.offline import get_plotlyjs

    from . import charts

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bilge.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    figures = charts.fleet(doc) if doc["kind"] == "fleet" else charts.host(doc)
    return env.get_template("report.html.j2").render(
        title=_title(doc),
        sections=sections(doc),
        no_trends=NO_TRENDS,
        charts=[
            (title, fig.to_html(full_html=False, include_plotlyjs=False, div_id=key, config={"displaylogo": False}))
            for key, title, fig in figures
        ],
        plotlyjs=get_plotlyjs(),
    )
