"""`bilge build`: Docker's classic builder, step by step.

Every instruction commits an image whose parent is the previous step's, as the classic
builder does: that chain of intermediate `<none>` images is what `images -a` shows, what the
next build finds in its cache, and what the collector counts as build cache. A metadata
instruction changes only the config (an `empty_layer` history entry); COPY and ADD write a
layer from the sources; RUN runs in a container (store/containers/working.py) whose changes
are committed. The build holds a lease (Hold), so a prune running meanwhile never takes its
base, its cache hits or what it has made so far; a failed step leaves nothing new behind but
the steps before it, as in Docker. The lease is taken when the build first makes something:
a build that is all cache, tagging what its tags already name, writes nothing at all.
"""

from __future__ import annotations

import json
import posixpath
import stat
from collections.abc import Callable
from pathlib import Path

from .. import reference
from ..errors import BilgeError, InvalidInput, NotFound
from . import cache, context, dockerfile, steps
from .dockerfile import Instruction, Stage
from .memo import Memo

TYPE_CHECKING = False  # typing costs ~5 ms to import, more than a cached build's work; mypy takes this as True
if TYPE_CHECKING:
    from typing import Any

    from ..core import Store
    from ..layerfs.merged import MergedView
    from ..leases import Lease

# A step that hits the cache needs none of what makes layers: copy.py (tarfile), the merged
# view, the tar pipe and the container runtime are imported by the steps that miss.

METADATA = {
    "ENV", "LABEL", "MAINTAINER", "CMD", "ENTRYPOINT", "EXPOSE", "USER", "VOLUME", "STOPSIGNAL", "SHELL",
    "ONBUILD", "HEALTHCHECK",
}  # fmt: skip
# Instructions whose words Docker expands with the build's variables before running them.
EXPANDED = {"ENV", "LABEL", "EXPOSE", "USER", "VOLUME", "STOPSIGNAL", "WORKDIR", "COPY", "ADD", "ARG"}


class StepFailed(BilgeError):
    """A RUN exited non-zero: the build stops with its exit code, as `docker build` does."""


class _Vanished(Exception):
    """Something the build found before it held its lease was pruned meanwhile."""


class Hold:
    """The build's lease, taken when it is first needed: to make an image, a layer, a container
    or scratch files, or to move a tag. Until then the build only looks, and what it finds (its
    bases, its cache hits) is noted; taking the lease adds each, checked to be still there, in
    one write transaction, so from then on a prune leaves them alone. A build that is all cache
    and whose tags already name its image never takes it: it writes nothing, and its process
    leaves the database with nothing to checkpoint (no fsync). Should a prune take something
    first, `lease` raises _Vanished and the build starts again, holding its lease from the start.
    """

    def __init__(self, store: Store, eager: bool) -> None:
        from contextlib import ExitStack

        self.store = store
        self._stack = ExitStack()
        self._lease: Lease | None = None
        self._found: list[tuple[str, str]] = []
        if eager:
            self.lease()

    def add(self, kind: str, ref: str) -> None:
        """What the build uses: held now if the lease is, else when it is taken."""
        if self._lease is not None:
            self._lease.add(kind, ref)
        else:
            self._found.append((kind, ref))

    def lease(self) -> Lease:
        if self._lease is None:
            from ..db import write

            lease = self._stack.enter_context(self.store.lease("build"))
            with write(self.store.db):
                for kind, ref in self._found:
                    if kind == "image" and not self.store.images.exists(ref):
                        raise _Vanished(ref)
                    lease.add(kind, ref)
            self._lease = lease
        return self._lease

    def close(self) -> None:
        self._stack.close()


class Options:
    """What `bilge build` was asked for."""

    def __init__(
        self,
        context: Path,
        dockerfile: Path | None = None,
        tags: list[str] | None = None,
        build_args: dict[str, str] | None = None,
        no_cache: bool = False,
        target: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.context, self.dockerfile, self.tags = context, dockerfile, list(tags or [])
        self.build_args, self.no_cache, self.target = dict(build_args or {}), no_cache, target
        self.labels = dict(labels or {})


class _State:
    """One stage as it builds: the image so far, its run config, its declared ARGs."""

    def __init__(self, image: str | None, config: dict[str, Any], args: dict[str, str]) -> None:
        self.image, self.config, self.args = image, config, args
        self.view: MergedView | None = None


def _clone(config: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON config."""
    return json.loads(json.dumps(config))


class Builder:
    def __init__(self, store: Store, options: Options, say: Callable[[str], None]) -> None:
        self.store = store
        self.options = options
        self.say = say
        self.context_dir = options.context.resolve()
        if not self.context_dir.is_dir():
            raise InvalidInput(f"unable to prepare context: path {str(options.context)!r} not found")
        self.ignore = context.DockerIgnore.load(self.context_dir)
        self.used_args: set[str] = set()
        self.memo = Memo(store.db)
        self.escape = "\\"  # the Dockerfile's escape directive, for every word substituted

    def build(self) -> str:
        path = self.options.dockerfile or self.context_dir / "Dockerfile"
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise InvalidInput(f"Cannot locate specified Dockerfile: {path.name}") from None
        try:
            stages = self._parse(path, text)
            try:
                image_id = self._build(stages, eager=False)
            except _Vanished as gone:
                self.say(f"[Warning] {_short(str(gone))} was pruned during the build: building again under its lease")
                image_id = self._build(stages, eager=True)
        except BaseException:
            try:
                self.memo.save()  # what a failed build learnt is as true as a good one's
            except Exception:
                pass  # the failure to report is the build's; a memo lost costs only time
            raise
        self.memo.save()
        return image_id

    def _parse(self, path: Path, text: str) -> list[Stage]:
        """The Dockerfile's stages, parsed once for a text and a parser."""
        key, basis = f"parse:{path.resolve()}", dockerfile.parser_stamp() + "\n" + text
        known = self.memo.get(key, basis)
        if known is not None:
            return dockerfile.load(known)
        stages = dockerfile.parse(text)
        self.memo.put(key, basis, dockerfile.dump(stages))
        return stages

    def _build(self, parsed: list[Stage], eager: bool) -> str:
        self.escape = parsed[0].escape
        stages = self._stages(parsed)
        extra = [self._label_instruction()] if self.options.labels else []
        total = sum(1 + len(s.instructions) for s in stages) + len(extra)
        built: dict[str, str | None] = {}
        number = 0
        hold = Hold(self.store, eager)
        try:
            for index, stage in enumerate(stages):
                number += 1
                state = self._from(stage, built, number, total, hold)
                body = list(stage.instructions) + (extra if index == len(stages) - 1 else [])
                for instruction in body:
                    number += 1
                    self.say(f"Step {number}/{total} : {instruction.original}")
                    self._step(state, instruction, built, hold)
                    self.say(f" ---> {_short(state.image)}")
                built[str(index)] = state.image
                if stage.name:
                    built[stage.name.lower()] = state.image
            final = state.image
            if final is None:
                raise InvalidInput("No image was generated. Is your Dockerfile empty?")
            self._unused_args()
            self.say(f"Successfully built {_short(final)}")
            for name in self.options.tags:
                ref = reference.parse(name)
                if self._tagged(ref) != final:
                    hold.lease()  # the image and what it stands on are held, or the build starts again
                    self.store.images.tag(final, ref)
                self.say(f"Successfully tagged {ref.familiar}:{ref.tag}")
        finally:
            hold.close()
        return final

    def _tagged(self, ref: reference.Reference) -> str | None:
        """The image `ref`'s tag names now, if any."""
        row = self.store.db.execute(
            "SELECT image_id FROM tags WHERE repository = ? AND tag = ?", [ref.repository, ref.tag]
        ).fetchone()
        return row[0] if row else None

    # -- stages ------------------------------------------------------------------------------

    def _stages(self, stages: list[Stage]) -> list[Stage]:
        if self.options.target is None:
            return stages
        for index, stage in enumerate(stages):
            if stage.name and stage.name.lower() == self.options.target.lower():
                return stages[: index + 1]
        raise InvalidInput(f"failed to reach build target {self.options.target} in Dockerfile")

    def _from(self, stage: Stage, built: dict[str, str | None], number: int, total: int, hold: Hold) -> _State:
        base = dockerfile.substitute(stage.base, self._meta_args(stage), self.escape)
        self.say(f"Step {number}/{total} : {stage.original}")
        if base.lower() == "scratch":
            self.say(" ---> ")
            return _State(None, steps.empty_config(), {})
        if base.lower() in built:
            image = built[base.lower()]
        else:
            try:
                image = self.store.images.resolve(base)
            except NotFound:
                raise InvalidInput(
                    f"pull access denied for {base}: no such image in the store (`bilge pull {base}` first)"
                ) from None
        if image is None:
            return _State(None, steps.empty_config(), {})
        hold.add("image", image)
        config = _clone(self.store.images.config(image).get("config") or steps.empty_config())
        state = _State(image, config, {})
        triggers = config.get("OnBuild") or []
        if triggers:
            self._triggers(state, triggers, built, hold)
        self.say(f" ---> {_short(state.image)}")
        return state

    def _triggers(self, state: _State, triggers: list[str], built: dict[str, str | None], hold: Hold) -> None:
        """The base image's ONBUILD triggers, run first, in order, as this stage's own steps
        (moby's dispatchTriggeredOnBuild): the image they make no longer has them."""
        self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
        state.config["OnBuild"] = None
        for text in triggers:
            self._step(state, dockerfile.trigger(text), built, hold)

    def _meta_args(self, stage: Stage) -> dict[str, str]:
        """ARGs declared before the first FROM: usable in FROM lines only."""
        values = {}
        for key, default in stage.meta_args:
            values[key] = self.options.build_args.get(key, default or "")
            self.used_args.add(key)
        return values

    def _label_instruction(self) -> Instruction:
        """`--label`: Docker appends a LABEL step to the last stage."""
        text = "LABEL " + " ".join(f'"{k}"="{v}"' for k, v in self.options.labels.items())
        return dockerfile.parse("FROM scratch\n" + text)[0].instructions[0]

    def _unused_args(self) -> None:
        unused = sorted(set(self.options.build_args) - self.used_args)
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")

    # -- steps -------------------------------------------------------------------------------

    def _env(self, state: _State) -> dict[str, str]:
        """The variables a word may use: the build's ARGs, then the config's ENV over them."""
        return {**state.args, **steps.env_map(state.config)}

    def _step(self, state: _State, instruction: Instruction, built: dict[str, str | None], hold: Hold) -> None:
        keyword = instruction.keyword
        env = self._env(state)
        if keyword == "ARG":
            self._arg(state, instruction, env, hold)
        elif keyword in METADATA:
            parsed = self._parsed(instruction, env if keyword in EXPANDED else None)
            config = _clone(state.config)
            cmd = steps.apply(parsed, config)
            self._commit_metadata(state, config, cmd, hold)
        elif keyword == "WORKDIR":
            self._workdir(state, instruction, env, hold)
        elif keyword in ("COPY", "ADD"):
            self._copy(state, instruction, env, built, hold)
        elif keyword == "RUN":
            self._run(state, instruction, hold)
        else:
            raise InvalidInput(f"dockerfile parse error line {instruction.line}: unknown instruction: {keyword}")

    def _parsed(self, instruction: Instruction, env: dict[str, str] | None) -> steps.Parsed:
        expand = (
            (lambda word: dockerfile.substitute(word, env, self.escape)) if env is not None else (lambda word: word)
        )
        named = instruction.keyword in ("ENV", "LABEL")  # ARG's defaults are _arg's
        pairs = [(expand(k), expand(v)) for k, v in dockerfile.pairs(instruction)] if named else []
        if instruction.json or env is None:
            args = list(instruction.args)
        else:
            args = dockerfile.words(" ".join(instruction.args), env, self.escape)
        if instruction.json and env is not None:
            args = [expand(a) for a in args]
        flags = {k: expand(v) for k, v in instruction.flags.items()}
        return steps.Parsed(instruction.keyword, args, instruction.json, pairs, flags)

    def _arg(self, state: _State, instruction: Instruction, env: dict[str, str], hold: Hold) -> None:
        comment = "ARG"
        for key, default in dockerfile.arg_pairs(instruction):
            given = self.options.build_args.get(key)
            value = (
                given
                if given is not None
                else (dockerfile.substitute(default, env, self.escape) if default is not None else "")
            )
            state.args[key] = value
            self.used_args.add(key)
            comment += f" {key}" + (f"={default}" if default is not None else "")
        self._commit_metadata(state, _clone(state.config), steps.nop_cmd(state.config, comment), hold)

    def _recorded(self, state: _State, config: dict[str, Any], cmd: list[str]) -> dict[str, Any]:
        return {**config, "Cmd": cmd, "Image": state.image or ""}

    def _commit_metadata(self, state: _State, config: dict[str, Any], cmd: list[str], hold: Hold) -> None:
        recorded = self._recorded(state, config, cmd)
        if self._cached(state, recorded, config, hold):
            return
        self._commit(state, config, recorded, None, hold, announce=True)

    def _cached(self, state: _State, recorded: dict[str, Any], config: dict[str, Any], hold: Hold) -> bool:
        if self.options.no_cache:
            return False
        key = _step_key(state.image, recorded)
        hit = self.memo.get(key, "")  # the child this step made last, if it is still there
        if hit is None or not cache.is_child(self.store, hit, state.image):
            hit = cache.lookup(self.store, state.image, recorded)
            if hit is None:
                return False
            self.memo.put(key, "", hit)
        hold.add("image", hit)
        self.say(" ---> Using cache")
        state.image, state.config, state.view = hit, config, None
        return True

    def _commit(
        self,
        state: _State,
        config: dict[str, Any],
        recorded: dict[str, Any],
        diff_id: str | None,
        hold: Hold,
        announce: bool = False,
    ) -> None:
        """Commit the step's image. `announce`: a step Docker commits from a container of its own
        (metadata, WORKDIR; not COPY or ADD) prints that container's coming and going; here it is
        the ID the image's `container` records."""
        from ..containers.names import new_id
        from ..images import child_config

        parent_id, container = state.image, new_id()
        if announce:
            self.say(f" ---> Running in {container[:12]}")
        parent = self.store.images.config(state.image) if state.image else {}
        config = {**config, "Image": state.image or ""}
        created_by = steps.created_by(recorded["Cmd"])
        body = child_config(parent, config, container, recorded, created_by, diff_id)
        state.image = self.store.images.create(body, hold.lease(), parent=state.image)
        self.store.images.record_built(state.image)
        self.memo.put(_step_key(parent_id, recorded), "", state.image)  # the newest child of a step is the hit
        state.config, state.view = config, None
        if announce:
            self.say(f"Removing intermediate container {container[:12]}")

    def _view(self, state: _State) -> MergedView | None:
        if state.image is None:
            return None
        if state.view is None:
            state.view = image_view(self.store, state.image)
        return state.view

    def _workdir(self, state: _State, instruction: Instruction, env: dict[str, str], hold: Hold) -> None:
        config = _clone(state.config)
        path = dockerfile.substitute(" ".join(instruction.args), env, self.escape)
        workdir = posixpath.normpath(posixpath.join(config.get("WorkingDir") or "/", path))
        config["WorkingDir"] = workdir
        recorded = self._recorded(state, config, steps.nop_cmd_string(config, f"WORKDIR {workdir}"))
        if self._cached(state, recorded, config, hold):
            return
        view = self._view(state)
        found = view.lookup(view.resolve(workdir)) if view is not None else None
        if found is not None and stat.S_ISDIR(found.st.st_mode):
            self._commit(state, config, recorded, None, hold, announce=True)
            return
        from . import copy

        items = copy.with_ancestors([copy.new_directory(workdir, (0, 0))], view, None)
        self._commit_layer(state, config, recorded, copy.writer(items, []), hold, announce=True)

    def _commit_layer(
        self,
        state: _State,
        config: dict[str, Any],
        recorded: dict[str, Any],
        write: Callable[[Any], None],
        hold: Hold,
        announce: bool = False,
    ) -> None:
        from ..layerfs.streams import tar_pipe

        chain = self.store.images.chain(state.image) if state.image else []
        with tar_pipe(write) as stream:
            ingested = self.store.layers.ingest(stream, hold.lease())
        diff_id = ingested.info.diff_id
        self.store.layers.commit(ingested, chain[-1] if chain else None, hold.lease())
        self._commit(state, config, recorded, diff_id, hold, announce)

    def _copy(
        self, state: _State, instruction: Instruction, env: dict[str, str], built: dict[str, str | None], hold: Hold
    ) -> None:
        parsed = self._parsed(instruction, env)
        if len(parsed.args) < 2:
            raise InvalidInput(
                f"dockerfile parse error line {instruction.line}: {instruction.keyword} requires at least two arguments"
            )
        *names, dest_word = parsed.args
        config = _clone(state.config)
        dest = _destination(dest_word, config.get("WorkingDir") or "/")
        chown = self._owner(state, parsed.flags.get("chown"))
        source_from = parsed.flags.get("from")
        found: list[context.Source] | None = None
        if source_from is not None:
            image = self._source_image(source_from, built, hold)
            # an image's files never change: its sources' checksum is worked out once
            key = f"from:{image or 'scratch'}:{instruction.keyword}:{json.dumps(names)}"
            checksum = self.memo.get(key, "")
            if checksum is None:
                found = context.sources(self._stage_root(image, hold), names, None, instruction.keyword)
                checksum = context.checksum(found)
                self.memo.put(key, "", checksum)
        else:
            sums = self.memo.files(str(self.context_dir))
            remote = self._fetcher(hold) if instruction.keyword == "ADD" else None
            found = context.sources(self.context_dir, names, self.ignore, instruction.keyword, sums, remote)
            checksum = context.checksum(found)
        # moby's performCopy: the destination as written, its missing space after --chown included
        chown_comment = f"--chown={parsed.flags['chown']}" if parsed.flags.get("chown") else ""
        comment = f"{instruction.keyword} {chown_comment}{checksum} in {dest_word} "
        recorded = self._recorded(state, config, steps.nop_cmd_string(config, comment))
        if self._cached(state, recorded, config, hold):
            return
        from . import copy

        archives: list[tuple[Path, str]] = []
        if source_from is not None:
            if found is None:
                found = context.sources(self._stage_root(image, hold), names, None, instruction.keyword)
            sources, owner, ignore = found, chown, None  # a stage's files keep their owners
        else:
            assert found is not None
            sources, owner, ignore = found, chown or (0, 0), self.ignore  # the CLI sends them as root's
            if instruction.keyword == "ADD":  # local archives are unpacked, downloads never
                unnamed = [s for s in found if s.url and not s.name]
                if unnamed and (len(found) > 1 or dest.endswith("/") or copy.is_dir(self._view(state), dest)):
                    raise InvalidInput(f"ADD failed: cannot determine filename for source {unnamed[0].url}")
                archives = [(s.path, dest) for s in found if not s.url and copy.is_archive(s.path)]
                sources = [s for s in found if s.url or not copy.is_archive(s.path)]
        view = self._view(state)
        items = copy.plan(sources, dest, view, owner, ignore) if sources else []
        if archives:
            items = (
                copy.with_ancestors([copy.new_directory(dest.rstrip("/") or "/", chown or (0, 0))], view, chown) + items
            )
        self._commit_layer(state, config, recorded, copy.writer(items, archives), hold)

    def _fetcher(self, hold: Hold) -> Callable[[str], context.Source]:
        """ADD's way to a URL: downloaded into the build's scratch space (remote.py)."""

        def fetch(url: str) -> context.Source:
            from . import remote

            return remote.fetch(url, self.store.layout.ingest / hold.lease().id)

        return fetch

    def _source_image(self, name: str, built: dict[str, str | None], hold: Hold) -> str | None:
        """COPY --from's stage (by name or index) or image."""
        if name.lower() in built:
            return built[name.lower()]
        try:
            image = self.store.images.resolve(name)
        except NotFound:
            raise InvalidInput(f"invalid from flag value {name}: no such stage or image") from None
        hold.add("image", image)  # an image copied from is in use until the build ends
        return image

    def _stage_root(self, image: str | None, hold: Hold) -> Path:
        """COPY --from's source: the stage's (or image's) files, laid out once in the build's
        scratch space, as the classic builder mounts the image to copy from it."""
        from ..containers.rootfs import build_vfs

        scratch = self.store.layout.ingest / hold.lease().id
        scratch.mkdir(exist_ok=True)
        root = scratch / f"from-{_short(image) or 'scratch'}"
        if not root.exists():
            layers = image_view(self.store, image).layers if image else []
            build_vfs(layers, root, scratch)
        return root

    def _owner(self, state: _State, chown: str | None) -> tuple[int, int] | None:
        if not chown:
            return None
        from . import copy

        return copy.owner(self._view(state), chown)

    def _run(self, state: _State, instruction: Instruction, hold: Hold) -> None:
        config = _clone(state.config)
        argv = list(instruction.args) if instruction.json else [*steps.shell_of(config), " ".join(instruction.args)]
        args = {k: v for k, v in state.args.items() if k not in steps.env_map(config)}
        saved = [f"|{len(args)}", *(f"{k}={v}" for k, v in sorted(args.items())), *argv] if args else argv
        recorded = {**self._recorded(state, config, saved), "Entrypoint": None}
        if self._cached(state, recorded, config, hold):
            return
        assert state.image is not None, "RUN needs an image to run in"
        from ..containers.working import run_step  # a cache hit never loads the runtime

        ran = run_step(self.store, state.image, argv, [f"{k}={v}" for k, v in sorted(args.items())],
                       {**config, "Image": state.image}, recorded, hold.lease(),
                       created=lambda container: self.say(f" ---> Running in {container[:12]}"))  # fmt: skip
        if ran.exit_code != 0:
            raise StepFailed(
                f"The command '{' '.join(saved)}' returned a non-zero code: {ran.exit_code}", ran.exit_code
            )
        assert ran.image_id is not None
        self.say(f"Removing intermediate container {ran.container_id[:12]}")
        self.store.images.record_built(ran.image_id)
        self.memo.put(_step_key(state.image, recorded), "", ran.image_id)
        state.image, state.config, state.view = ran.image_id, {**config, "Image": state.image}, None


def image_view(store: Store, image_id: str) -> MergedView:
    """The image's file system, uppermost layer first."""
    from ..layerfs.merged import MergedView

    chain = store.images.chain(image_id)
    rows = store.layers.ancestry(chain[-1]) if chain else []
    return MergedView([(store.layout.layers / row["dir"] / "diff", row["whiteouts"]) for row in rows])


def _step_key(parent: str | None, recorded: dict[str, Any]) -> str:
    """The memo's key for a step's child: its parent and what the cache compares."""
    return f"step:{parent or ''}:{cache.signature(recorded)}"


def _destination(dest: str, workdir: str) -> str:
    """The absolute destination, keeping a trailing slash (it says "a directory")."""
    joined = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    clean = posixpath.normpath(joined)
    return clean + "/" if dest.endswith("/") and clean != "/" else clean


def _short(image_id: str | None) -> str:
    return image_id.removeprefix("sha256:")[:12] if image_id else ""
