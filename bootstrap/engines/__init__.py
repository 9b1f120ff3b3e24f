"""GitOps engines behind one small interface (`base.Engine`; docs/architecture.md).

A new engine is one package, `bootstrap/engines/<name>/`, exposing `ENGINE`, and one line in `REGISTERED`.
Engines are imported only when first asked for (start-up time: `check` and `decrypt` never load one).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bootstrap.engines.base import Engine

#: name -> module exposing ENGINE; the first is the default
REGISTERED = {
    "flux": "bootstrap.engines.flux",
    "argocd": "bootstrap.engines.argocd",
}


def get(name: str | None = None) -> Engine:
    """The engine called `name` (the default engine when None)."""
    module = REGISTERED[name or next(iter(REGISTERED))]
    return importlib.import_module(module).ENGINE


def every() -> list[Engine]:
    return [get(name) for name in REGISTERED]
