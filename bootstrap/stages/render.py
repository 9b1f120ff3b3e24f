"""The render stage: the entry paths and the engine's selected objects, rendered as the engine would and
SOPS-decrypted in memory (every MAC verified). Read-only; no cluster is needed unless a `substituteFrom`
value is found nowhere in the restore (then `lookup` reads it).

In: `RenderOptions` (only the flags that shape rendering), the checkout, the key ring, the engine.
Out: `RenderOutput`: the engine-neutral `Rendered` and the playbook, if any.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bootstrap import placeholders, repofiles
from bootstrap.commands.options import normalized
from bootstrap.engines.base import RenderInputs
from bootstrap.errors import ValidationError
from bootstrap.stages import playbook as pb, substitute_from
from bootstrap.stages.playbook import selected_kustomizations

if TYPE_CHECKING:
    from bootstrap.commands.options import RestoreOptions
    from bootstrap.engines.base import ClusterLookup, Engine, Rendered, Supplied
    from bootstrap.report.run import Run
    from bootstrap.stages.keys import KeyRing
    from bootstrap.stages.playbook import Playbook
    from bootstrap.stages.source import Checkout


@dataclass(frozen=True)
class RenderOptions:
    paths: tuple[str, ...]  # --path, as given
    selection: tuple[str, ...] = ()  # --kustomization
    source: str | None = None  # --source
    excludes: tuple[str, ...] = ()  # --exclude
    kustomize_bin: str | None = None
    playbook: str | None = None
    ignore_mac: bool = False
    allow_committed_keys: bool = False
    supplied: tuple[Supplied, ...] = ()  # --substitute-from objects (loaded by `substitute_from.load`)
    helm_bin: str | None = None  # --helm-bin: the helm an engine renders charts with

    @classmethod
    def of(cls, opts: RestoreOptions, supplied: tuple[Supplied, ...] = ()) -> RenderOptions:
        return cls(paths=tuple(opts.paths), selection=tuple(opts.kustomizations), source=opts.source,
                   excludes=tuple(opts.excludes), kustomize_bin=opts.kustomize_bin, playbook=opts.playbook,
                   ignore_mac=opts.ignore_mac, allow_committed_keys=opts.allow_committed_keys, supplied=supplied,
                   helm_bin=opts.helm_bin)


@dataclass(frozen=True)
class RenderOutput:
    rendered: Rendered
    playbook: Playbook | None
    kustomizer: str  # which kustomize rendered it, with its version


def render(options: RenderOptions, checkout: Checkout, keyring: KeyRing, run: Run, *, engine: Engine,
           lookup: ClusterLookup | None) -> RenderOutput:
    """The `render` phase. Raises before anything is written: a --path not in the checkout (exit 3), a
    committed age key, a build or decryption failure (exit 4)."""
    # deferred: clone (kustomize and SOPS load while git clones, stages/session.py)
    from bootstrap.kustomize.artifact import Artifact
    from bootstrap.kustomize.builder import Builder
    from bootstrap.kustomize.kustomizer import find_kustomizer
    from bootstrap.kustomize.scratch import memory_backed_dir
    from bootstrap.kustomize.secrets import SopsFiles
    from bootstrap.scrub import Learner, PublicText

    progress = run.progress
    if options.ignore_mac:
        progress.warning("--ignore-mac: SOPS MACs are NOT verified; an edited file would be applied")
    with run.phase("render"):
        if not options.allow_committed_keys:
            refuse_committed_keys(checkout.root)
        playbook = find_playbook(options, checkout)
        for path in options.paths:
            checkout.resolve(path, files=True)  # SourceError (exit 3) for a --path that is not there
        kustomizer = find_kustomizer(options.kustomize_bin)
        progress.note(f"rendering with {kustomizer.describe()}")
        learner = Learner(run.learn_secrets, PublicText(checkout.root))
        learner.learn(substitute_from.values(options.supplied))  # secrets brought from outside the repository
        builder = Builder(
            checkout.root, kustomizer=kustomizer, artifact=Artifact(checkout.root),
            secrets=SopsFiles(checkout.root, keyring, ignore_mac=options.ignore_mac, learner=learner),
            excludes=options.excludes,
            disk_base=checkout.root.parent, memory_base=memory_backed_dir(),
        )
        inputs = RenderInputs(paths=tuple(normalized(options.paths)), source=options.source, concurrency=4,
                              repo_url=checkout.url,
                              selection=(*options.selection, *selected_kustomizations(playbook)),
                              supplied=options.supplied, helm_bin=options.helm_bin)
        rendered = engine.render(inputs, builder, lookup=lookup, notes=progress.note)
        for phase in rendered.phases:
            progress.note(f"{phase.name}: {len(phase.manifests)} object(s) from {phase.path or '.'}")
        if rendered.left_to_engine:
            progress.note(f"{len(rendered.left_to_engine)} left for {engine.name} to reconcile after the hand-over: "
                          + ", ".join(rendered.left_to_engine))
        for target in rendered.key_targets:
            progress.note(f"the age key goes to Secret {target.namespace}/{target.name}"
                          f"{' key ' + target.key if target.key else ''}: {target.why}")
        for line in rendered.needs_plugin:
            progress.note(f"needs a config-management plugin, left to {engine.name}: {line}")
        for phase in rendered.phases:
            for m in phase.manifests:
                plugins = placeholders.plugins_needed(m.body)
                if plugins:
                    progress.note(f"{m.ref} ({m.source}) holds placeholders that {', '.join(plugins)} fills")
        if rendered.not_restorable:
            progress.note("not restorable from this repository: " + ", ".join(rendered.not_restorable))
        run.report.kustomize = kustomizer.describe()
        run.report.source = rendered.source
    return RenderOutput(rendered, playbook, kustomizer.describe())


def refuse_committed_keys(root: Path) -> None:
    committed = repofiles.find_committed_keys(root)
    if committed:
        raise ValidationError(
            f"{committed[0]}: the repository contains an age private key (AGE-SECRET-KEY-…)"
            + (f" and {len(committed) - 1} more file(s)" if len(committed) > 1 else ""),
            hint="rotate that key; pass --allow-committed-keys to restore anyway",
        )


def find_playbook(options: RenderOptions, checkout: Checkout) -> Playbook | None:
    """--playbook, else `dr-bootstrap.yaml` at the first --path that has one."""
    base = options.paths[0] if options.paths else "."
    if options.playbook:
        return pb.load_playbook(Path(options.playbook), base=base)
    for path in options.paths:
        directory = checkout.resolve(path, files=True)
        found = pb.find_playbook(directory) if directory.is_dir() else None
        if found:
            return pb.load_playbook(found, base=path)
    return None
