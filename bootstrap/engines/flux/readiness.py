"""Flux objects: kstatus' generic rules, plus what Flux's own Ready condition says (pure).

Flux's kinds (kustomize.toolkit.fluxcd.io Kustomization, helm.toolkit.fluxcd.io HelmRelease,
source.toolkit.fluxcd.io GitRepository, HelmRepository, HelmChart, OCIRepository, Bucket, and the
notification and image kinds) have no kind rule: `assess` judges them by the generic conditions
(Reconciling, Stalled, observedGeneration, Ready). `flux_readiness` adds Flux's own Ready message and
whether a failure is terminal, for a fast-failing wait on Flux: Stalled=True, or Ready=False with a
reason that says the controller gave up on this revision (a build, decryption, artifact, install or
upgrade failure), is terminal; DependencyNotReady, ArtifactFailed (kustomize-controller's "Source artifact
not found, retrying", while source-controller has not fetched yet), a build that waits for a substituteFrom
source someone else makes (External Secrets) and progress reasons are not. A Ready
condition about an older generation (its observedGeneration behind metadata.generation) is never terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bootstrap.status.engine import assess
from bootstrap.status.health import Health, Obj, Status, conditions, one_line

#: Ready=False reasons after which Flux will not succeed for this revision without a change
TERMINAL_REASONS = frozenset({
    "BuildFailed",  # kustomize build failed, decryption failures included
    "ReconciliationFailed",
    "InstallFailed",
    "UpgradeFailed",
    "TestFailed",
    "RollbackFailed",
    "UninstallFailed",
    "InvalidCELExpression",
})
#: a decryption failure, whatever reason it came with ("decryption failed for …", "… is SOPS encrypted, …")
_DECRYPTION = re.compile(r"decryption failed|is SOPS encrypted|failed to decrypt", re.IGNORECASE)
#: a substituteFrom source not there yet (BuildFailed): one that something else makes, an ExternalSecret's Secret
#: given to the restore with --substitute-from, mends itself when it appears; not terminal
_SOURCE_NOT_YET = re.compile(r"substitute from '(ConfigMap|Secret)/[^']*' error: \S+ \"[^\"]*\" not found")


@dataclass(frozen=True)
class FluxReadiness:
    health: Health  # kstatus' verdict
    ready: str  # Flux's Ready condition: "True", "False", "Unknown", or "" when it has none
    reason: str  # the Ready condition's reason
    message: str  # the Ready condition's message, one line
    terminal: bool  # a failure that waiting will not mend


def flux_readiness(obj: Obj) -> FluxReadiness:
    """kstatus' status of a Flux object, Flux's Ready condition, and whether its failure is terminal."""
    health = assess(obj)
    ready = conditions(obj).get("Ready") or {}
    status, reason = str(ready.get("status") or ""), str(ready.get("reason") or "")
    message = one_line(ready.get("message") or "")
    stalled = health.status is Status.FAILED
    generation = (obj.get("metadata") or {}).get("generation")
    observed = ready.get("observedGeneration")
    current = generation is None or observed is None or observed == generation
    failed_for_good = (current and status == "False" and not _SOURCE_NOT_YET.search(message)
                       and (reason in TERMINAL_REASONS or bool(_DECRYPTION.search(message))))
    terminal = stalled or (failed_for_good and health.status is not Status.CURRENT)
    if terminal and health.status is not Status.FAILED:
        health = Health(Status.FAILED, ": ".join(part for part in (reason, message) if part) or "not ready")
    return FluxReadiness(health, status, reason, message, terminal)
