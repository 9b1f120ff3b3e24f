"""Many problems as one error an operator can read: a summary grouped by cause, with counts and the likely fix.

A validation of a whole repository can find dozens of problems with one cause (every HelmRelease of a
cluster-template repository when the cluster lacks Flux's CRDs).  `summarize` turns them into one line that
counts them by cause (and, for a missing CRD, by kind) and a hint naming the fix of each cause; the problems
themselves, every one, stay the error's `details` (`in_order`: the first of each cause leads, so the few a
terminal prints cover every cause; the reports hold all).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

KINDS_SHOWN = 4  # kinds named in a "no CRD" group; the rest are counted


@dataclass(frozen=True)
class Problem:
    """One problem: `text` names the file, object and cause (the line the reports list); `cause` keys
    CAUSES; `subject` is what a group counts inside its cause (a missing CRD's `Kind.group`)."""

    text: str
    cause: str = "other"
    subject: str = ""


@dataclass(frozen=True)
class Cause:
    one: str  # "1 {one}"
    many: str  # "46 {many}"
    fix: str = ""  # the likely fix, said in the hint; "" when only the problem lines can tell


CAUSES = {
    "no-crd": Cause("object of a kind no CRD defines", "objects of kinds no CRD defines",
                    "apply the CRDs first: restore the --path or -k Kustomization that installs them ahead of "
                    "this one, or install them in the cluster"),
    "crd-version": Cause("object of a version its CRD does not serve", "objects of versions their CRD does not serve",
                         "use an apiVersion the CRD serves, or restore the CRD's release that serves it"),
    "unknown-kind": Cause("object of a kind the cluster does not know", "objects of kinds the cluster does not know",
                          "check apiVersion and kind against the cluster's Kubernetes version"),
    "encrypted": Cause("value still encrypted", "values still encrypted",
                       "decrypt them: their Kustomization needs spec.decryption, and the age key must open them"),
    "variable": Cause("name still holding a variable", "names still holding a variable",
                      "define the variables in postBuild.substitute or substituteFrom"),
    "duplicate": Cause("object defined twice", "objects defined twice", "keep one definition of each"),
    "other": Cause("other problem", "other problems"),
}
FLUX_GROUP = ".toolkit.fluxcd.io"


def summarize(what: str, problems: Sequence[Problem]) -> tuple[str, str | None]:
    """(message, hint) for several problems: `what (N problems): <count> <cause> (<kinds>), …; the first:
    <problem>` by group size, and the fixes of those causes in the same order (None when no cause has one)."""
    by_cause = Counter(p.cause for p in problems)
    groups, fixes = [], []
    for cause, count in sorted(by_cause.items(), key=lambda item: (-item[1], item[0])):
        known = CAUSES.get(cause, CAUSES["other"])
        group = f"{count} {known.one if count == 1 else known.many}"
        subjects = Counter(p.subject for p in problems if p.cause == cause and p.subject)
        if subjects:
            group += f" ({_counted(subjects)})"
        groups.append(group)
        if known.fix:
            fixes.append(known.fix + (" (for Flux's own kinds: `flux install`, or the path holding "
                                      "gotk-components.yaml)" if cause == "no-crd" and _flux(subjects) else ""))
    first = in_order(problems)[0].text  # the summary names a file, an object and a cause, as every error does
    message = f"{what} ({len(problems)} problems): " + ", ".join(groups) + f"; the first: {first}"
    return message, "; ".join(fixes) or None


def in_order(problems: Sequence[Problem]) -> list[Problem]:
    """The problems as the error lists them: the first of each cause, biggest group first (so the few a
    terminal shows cover every cause), then the rest as they were found."""
    by_cause = Counter(p.cause for p in problems)
    firsts: dict[str, int] = {}
    for i, p in enumerate(problems):
        firsts.setdefault(p.cause, i)
    lead = sorted(firsts.values(), key=lambda i: (-by_cause[problems[i].cause], problems[i].cause))
    taken = set(lead)
    return [problems[i] for i in lead] + [p for i, p in enumerate(problems) if i not in taken]


def _counted(subjects: Counter[str]) -> str:
    """`HelmRelease ×20, Kustomization ×12, … and 3 more kinds`: the most frequent first; a kind by its
    short name unless two groups share it."""
    short = Counter(subject.partition(".")[0] for subject in subjects)
    ranked = sorted(subjects.items(), key=lambda item: (-item[1], item[0]))
    names = [f"{s if short[s.partition('.')[0]] > 1 else s.partition('.')[0]} ×{n}" for s, n in ranked[:KINDS_SHOWN]]
    if len(ranked) > KINDS_SHOWN:
        more = len(ranked) - KINDS_SHOWN
        names.append(f"and {more} more kind{'s' if more > 1 else ''}")
    return ", ".join(names)


def _flux(subjects: Counter[str]) -> bool:
    return any(subject.endswith(FLUX_GROUP) for subject in subjects)
