"""The collector's commands: rmi, image/container/system/builder prune, pin/unpin, gc history."""

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from bilge.store.cli import FormatOpt
from bilge.store.session import check_format, err, open_store, out

if TYPE_CHECKING:
    from bilge.store.core import Store

    from .policy import ImagePolicy
    from .prune import Outcome, Plan, Request

_WARN = {
    "image": "WARNING! This will remove all dangling images.",
    "image-all": "WARNING! This will remove all images without at least one container associated to them.",
    "container": "WARNING! This will remove all stopped containers.",
    "system": "WARNING! This will remove:\n  - all stopped containers\n  - all dangling images\n  - all dangling build cache",
    "system-all": "WARNING! This will remove:\n  - all stopped containers\n"
    "  - all images without at least one container associated to them\n  - all build cache",
    "builder": "WARNING! This will remove all dangling build cache.",
    "builder-all": "WARNING! This will remove all build cache.",
}

FilterOpt = Annotated[Optional[list[str]], typer.Option("--filter", help="until=, label=, label!= (repeatable)")]
AllOpt = Annotated[bool, typer.Option("--all", "-a", help="Remove all unused images, not just dangling ones")]
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print what would be removed, why, and the exact bytes each frees")
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Print nothing when nothing goes, else one summary line (for cron)"),
]
KeepOpt = Annotated[Optional[int], typer.Option("--keep", min=0, help="Keep the newest N images of each repository")]
UnusedOpt = Annotated[Optional[str], typer.Option("--unused-for", help="Only images not used for DURATION (e.g. 7d)")]
MinAgeOpt = Annotated[
    Optional[str], typer.Option("--min-age", help="Grace period: never images added less than DURATION ago")
]
MaxSizeOpt = Annotated[
    Optional[str], typer.Option("--max-size", help="Evict least recently used images until the store is under SIZE")
]
HighOpt = Annotated[
    Optional[str], typer.Option("--high", help="Act only when the store's file system is at least PCT full")
]
LowOpt = Annotated[
    Optional[str], typer.Option("--low", help="…then evict least recently used images until it is under PCT")
]


def image_policy(
    all: bool,
    filters: list[str],
    keep: int | None,
    unused_for: str | None,
    min_age: str | None,
    max_size: str | None,
    high: str | None,
    low: str | None,
    now: float,
) -> "ImagePolicy":
    from bilge.store.errors import InvalidInput

    from .policy import Filters, ImagePolicy
    from .units import parse_duration, parse_percent, parse_size

    if low is not None and high is None:
        raise InvalidInput("--low needs --high")
    policy = ImagePolicy(
        all=all or any(x is not None for x in (keep, unused_for, max_size, high)),
        filters=Filters.parse(filters, now),
        keep=keep,
        unused_for=parse_duration(unused_for) if unused_for else None,
        min_age=parse_duration(min_age) if min_age else None,
        max_size=parse_size(max_size) if max_size else None,
        high=parse_percent(high) if high else None,
        low=parse_percent(low) if low else None,
    )
    if policy.high is not None and policy.low is not None and policy.low > policy.high:
        raise InvalidInput("--low must not be above --high")
    return policy


_ITEM_COLUMNS = [("kind", "KIND"), ("id", "ID"), ("names", "NAMES"), ("frees", "FREES"), ("why", "WHY")]


def _items(plan: "Plan", fmt: str) -> str:
    """What goes, one row each: its names, what it frees (each freed layer counted for one item
    only) and the rule that took it; in the order the policy chose them, so the same store
    gives the same list. json and csv carry the exact bytes."""
    from bilge.store.tables import human_size, render

    data = [
        {
            "Kind": i.kind,
            "Id": i.id,
            "Names": " ".join(i.names) if fmt == "csv" else i.names,
            "Bytes": i.bytes,
            "Disk": i.disk,
            "Why": i.why,
        }
        for i in plan.items
    ]
    if fmt == "csv":  # the header too when nothing goes
        return render(data, [(key, key) for key in ("Kind", "Id", "Names", "Bytes", "Disk", "Why")], fmt)
    rows = [
        {
            "kind": i.kind,
            "id": i.id.removeprefix("sha256:")[:12],
            "names": ", ".join(i.names) or "<none>",
            "frees": human_size(i.bytes, 4),
            "why": i.why,
        }
        for i in plan.items
    ]
    return render(rows, _ITEM_COLUMNS, fmt, data)


def _counts(plan: "Plan") -> list[str]:
    """How many of each kind go: "2 containers", "3 images", "1 build cache"."""
    kinds = [i.kind for i in plan.items]
    return [
        f"{kinds.count(k)} {k}{'s' if kinds.count(k) > 1 and k != 'build cache' else ''}" for k in dict.fromkeys(kinds)
    ]


def _total(plan: "Plan") -> str:
    """What the plan frees, exactly: bytes, then how many of each kind and how many layers."""
    from bilge.store.tables import human_size

    what = ", ".join([*_counts(plan), f"{len(plan.layers)} layers"])
    return f"{human_size(plan.bytes, 4)} ({plan.bytes} bytes; {plan.disk} bytes on disk; {what})"


def _confirm(warning: str, plan: "Plan") -> bool:
    err(warning)
    if plan:
        err("It would remove:")
        err(_items(plan, "table"))
        err(f"freeing {_total(plan)}")
    sys.stderr.write("Are you sure you want to continue? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def run_prune(request: "Request", force: bool, dry_run: bool, warning: str, fmt: str, quiet: bool = False) -> None:
    import time

    from .prune import execute, preview, record

    store = open_store(freeing=True)
    try:
        if dry_run:
            plan = preview(store, request)
            if not store.db.read_only:  # a read-only store can still say what a prune would take
                record(store, request, plan, time.time(), 0, 0, 0, 0, dry_run=True)
            _report_dry_run(plan, fmt, quiet)
            return
        allowed = None
        if not force:
            allowed = preview(store, request)
            if not _confirm(warning, allowed):
                return
        _report(execute(store, request, allowed), request, fmt, quiet)
    finally:
        store.keep_reserve()


def _report_dry_run(plan: "Plan", fmt: str, quiet: bool) -> None:
    import json

    if quiet:
        if plan:
            out(f"Would reclaim: {_total(plan)}")
        return
    if fmt == "json":
        out(json.dumps(_plan_json(plan), indent=2))
        return
    if fmt == "csv":
        out(_items(plan, fmt))
        return
    out("Would remove:")
    out(_items(plan, fmt))
    out(f"\nWould reclaim: {_total(plan)}")


def _plan_json(plan: "Plan") -> dict:
    import json

    return {
        "Containers": plan.containers,
        "Images": plan.images,
        "BuildCache": plan.cache,
        "Untagged": plan.untagged,
        "Layers": plan.layers,
        "Bytes": plan.bytes,
        "Disk": plan.disk,
        "Items": json.loads(_items(plan, "json")),
    }


def _report(outcome: "Outcome", request: "Request", fmt: str, quiet: bool) -> None:
    import json

    from bilge.store.tables import human_size

    plan = outcome.plan
    if quiet:
        if plan:
            out(f"Total reclaimed space: {human_size(outcome.freed_bytes, 4)} ({', '.join(_counts(plan))})")
        return
    if fmt == "json":
        out(
            json.dumps(
                {
                    **_plan_json(plan),
                    "SpaceReclaimed": outcome.freed_bytes,
                    "DiskReclaimed": outcome.freed_disk,
                    "PlannedBytes": plan.bytes,
                    "PlannedDisk": plan.disk,
                    "FreeBefore": outcome.fs_before,
                    "FreeAfter": outcome.fs_after,
                    "Run": outcome.run_id,
                },
                indent=2,
            )
        )
        return
    if fmt == "csv":
        out(_items(plan, fmt))
        return
    if plan.containers:
        out("Deleted Containers:")
        out("\n".join(plan.containers) + "\n")
    layers_with_cache = bool(plan.cache) and not plan.images  # builder prune: its layers are cache
    if plan.images or (plan.layers and not layers_with_cache):
        out("Deleted Images:")
        for tag in plan.untagged:
            out(f"untagged: {tag}")
        for item in plan.images + ([] if layers_with_cache else plan.layers):
            out(f"deleted: {item}")
        out("")
    if plan.cache:
        out("Deleted build cache objects:")
        out("\n".join(plan.cache + (plan.layers if layers_with_cache else [])) + "\n")
    out(f"Total reclaimed space: {human_size(outcome.freed_bytes, 4)}")
    err(
        f"planned {plan.bytes} bytes ({plan.disk} on disk), freed {outcome.freed_bytes} bytes "
        f"({outcome.freed_disk} on disk); file system free {human_size(outcome.fs_before, 4)} -> "
        f"{human_size(outcome.fs_after, 4)}"
    )


def image_prune(
    all: AllOpt = False,
    force: ForceOpt = False,
    filter: FilterOpt = None,
    dry_run: DryRunOpt = False,
    quiet: QuietOpt = False,
    keep: KeepOpt = None,
    unused_for: UnusedOpt = None,
    min_age: MinAgeOpt = None,
    max_size: MaxSizeOpt = None,
    high: HighOpt = None,
    low: LowOpt = None,
    format: FormatOpt = "table",
) -> None:
    """Remove unused images (dangling only, unless -a or a policy asks for more)."""
    import time

    from .prune import Request

    check_format(format)
    policy = image_policy(all, list(filter or []), keep, unused_for, min_age, max_size, high, low, time.time())
    warning = _WARN["image-all" if policy.all else "image"]
    run_prune(Request("image prune", images=policy), force, dry_run, warning, format, quiet)


def container_prune(
    force: ForceOpt = False,
    filter: FilterOpt = None,
    dry_run: DryRunOpt = False,
    quiet: QuietOpt = False,
    format: FormatOpt = "table",
) -> None:
    """Remove all stopped containers."""
    import time

    from .policy import Filters
    from .prune import Request

    check_format(format)
    request = Request("container prune", containers=Filters.parse(list(filter or []), time.time()))
    run_prune(request, force, dry_run, _WARN["container"], format, quiet)


def system_prune(
    all: AllOpt = False,
    force: ForceOpt = False,
    filter: FilterOpt = None,
    dry_run: DryRunOpt = False,
    quiet: QuietOpt = False,
    keep: KeepOpt = None,
    unused_for: UnusedOpt = None,
    min_age: MinAgeOpt = None,
    max_size: MaxSizeOpt = None,
    high: HighOpt = None,
    low: LowOpt = None,
    format: FormatOpt = "table",
) -> None:
    """Remove stopped containers, dangling images (all unused with -a) and dangling build cache (all with -a)."""
    import time

    from .policy import Filters
    from .prune import system_request

    check_format(format)
    now = time.time()
    filters = list(filter or [])
    policy = image_policy(all, filters, keep, unused_for, min_age, max_size, high, low, now)
    request = system_request("system prune", Filters.parse(filters, now), policy)
    run_prune(request, force, dry_run, _WARN["system-all" if policy.all else "system"], format, quiet)


def builder_prune(
    all: Annotated[
        bool,
        typer.Option(
            "--all", "-a", help="As Docker's; every reclaimable entry of a classic build is dangling, so the same"
        ),
    ] = False,
    force: ForceOpt = False,
    filter: Annotated[
        Optional[list[str]], typer.Option("--filter", help="until=DURATION|TIMESTAMP: keep what was built since")
    ] = None,
    keep_storage: Annotated[
        Optional[str], typer.Option("--keep-storage", help="Keep the newest cache within SIZE (e.g. 2GB)")
    ] = None,
    dry_run: DryRunOpt = False,
    quiet: QuietOpt = False,
    format: FormatOpt = "table",
) -> None:
    """Remove build cache nothing named is built on: untagged build results and their intermediates."""
    import time

    from .policy import CachePolicy
    from .prune import Request
    from .units import parse_size

    check_format(format)
    size = parse_size(keep_storage) if keep_storage else None
    policy = CachePolicy.parse(list(filter or []), size, time.time())
    warning = _WARN["builder-all" if all else "builder"]
    run_prune(Request("builder prune", cache=policy), force, dry_run, warning, format, quiet)


def rmi(
    images: Annotated[list[str], typer.Argument(help="Images to remove")],
    force: Annotated[bool, typer.Option("--force", "-f", help="Force removal of the image")] = False,
) -> None:
    """Remove one or more images (untag while other names remain, as docker rmi does)."""
    from bilge.store.errors import BilgeError

    from .sweep import remove_image

    store = open_store(freeing=True)
    failed = False
    for name in images:
        try:
            removed = remove_image(store, name, force)
        except BilgeError as exc:
            err(f"Error: {exc}")
            failed = True
            continue
        for line in removed.untagged:
            out(f"Untagged: {line}")
        for line in removed.images + removed.layers:
            out(f"Deleted: {line}")
    store.trash.finish()
    store.keep_reserve()
    if failed:
        raise typer.Exit(1)


def pin(
    images: Annotated[list[str], typer.Argument(help="Images no prune may remove, or `ls` to list the pinned")],
    format: FormatOpt = "table",
) -> None:
    """Protect images from every prune and policy (the label bilge.pin=true does the same); `pin ls` lists them."""
    if images == ["ls"]:  # an image named ls is ls:latest
        check_format(format)
        out(_pin_list(open_store(), format))
        return
    from bilge.store.db import write

    store = open_store()
    for name in images:
        with write(store.db):  # found and pinned in one transaction: no prune comes between
            image_id = store.images.resolve(name)
            store.images.pin(image_id)
        out(image_id)


def _pin_list(store: "Store", fmt: str) -> str:
    """`pin ls`: each pinned image, its names, since when and by what (a pin, its label)."""
    from bilge.store.tables import ago, render
    from bilge.store.timeutil import rfc3339_nano

    data = []
    for image_id in store.images.pinned():
        pin = store.images.pin_of(image_id)
        assert pin is not None
        names = store.images.repo_tags(image_id) + store.images.repo_digests(image_id)
        data.append({"Id": image_id, "Names": names, "By": pin["By"], "Since": pin["Since"]})
    rows = [
        {
            "id": d["Id"][7:19],
            "names": ", ".join(d["Names"]) or "<none>",
            "since": ago(d["Since"]) if d["Since"] else "-",
            "by": " and ".join("bilge pin" if b == "pin" else "label bilge.pin" for b in d["By"]),
        }
        for d in data
    ]
    for d in data:
        d["Since"] = rfc3339_nano(d["Since"]) if d["Since"] else None
        if fmt == "csv":
            d["Names"], d["By"] = " ".join(d["Names"]), " ".join(d["By"])
    columns = [("id", "IMAGE ID"), ("names", "NAMES"), ("since", "PINNED SINCE"), ("by", "BY")]
    return render(rows, columns, fmt, data)


def unpin(images: Annotated[list[str], typer.Argument(help="Images to unpin")]) -> None:
    """Let prunes consider these images again."""
    store = open_store()
    for name in images:
        image_id = store.images.resolve(name)
        store.images.unpin(image_id)
        out(image_id)


def gc_history(
    format: FormatOpt = "table", limit: Annotated[int, typer.Option("--limit", "-n", help="Most recent N runs")] = 20
) -> None:
    """List prune runs: when, what policy, what went, bytes planned and freed, errors."""
    from bilge.store.session import templated
    from bilge.store.tables import human_size, render

    from .prune import run_records

    check_format(format)
    records = run_records(open_store(), limit)
    if format == "csv":
        out(render([], [], format, [_flat(r) for r in records]))
        return
    if templated(format, records):
        return
    table = []
    for r in records:
        removed = r["removed"]
        table.append(
            {
                "id": r["id"],
                "when": r["started"][:19].replace("T", " "),
                "command": r["command"] + (" (dry run)" if r["dry_run"] else ""),
                "removed": f"{len(removed['containers'])} containers, {len(removed['images'])} images, {len(removed['layers'])} layers"
                + (f", {len(removed['cache'])} build cache" if removed.get("cache") else ""),
                "planned": human_size(r["planned_bytes"], 4),
                "freed": human_size(r["freed_bytes"], 4),
                "errors": r["errors"] or "",
            }
        )
    columns = [
        ("id", "RUN"),
        ("when", "WHEN (UTC)"),
        ("command", "COMMAND"),
        ("removed", "REMOVED"),
        ("planned", "PLANNED"),
        ("freed", "FREED"),
        ("errors", "ERRORS"),
    ]
    out(render(table, columns, format, records))


def _flat(record: dict) -> dict:
    """A run as one CSV row: the policy's settings as `images.keep=3` pairs (those set), what
    it removed as counts (the IDs are in the json)."""
    flat = {key: value for key, value in record.items() if key != "removed"}
    flat["policy"] = dict(_settings(record["policy"]))
    flat.update({f"removed_{kind}": len(ids) for kind, ids in record["removed"].items()})
    return flat


def _settings(policy: object, prefix: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(policy, dict):
        for key, value in policy.items():
            yield from _settings(value, f"{prefix}{key}.")
    elif policy not in (None, [], False):
        yield prefix.rstrip("."), policy


def register(
    app: typer.Typer,
    image_app: typer.Typer,
    container_app: typer.Typer,
    system_app: typer.Typer,
    gc_app: typer.Typer,
    builder_app: typer.Typer,
) -> None:
    app.command()(rmi)
    image_app.command("rm")(rmi)
    image_app.command("prune")(image_prune)
    container_app.command("prune")(container_prune)
    system_app.command("prune")(system_prune)
    builder_app.command("prune")(builder_prune)
    app.command()(pin)
    app.command()(unpin)
    gc_app.command("history")(gc_history)
