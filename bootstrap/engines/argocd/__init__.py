"""Argo CD: its Applications and ApplicationSets discovered in a rendered set (`apps`, `appsets`,
`templating`), their sources rendered as the repo-server renders them (`sources`, KSOPS expanded in process by
`ksops`), Argo CD's sync order (`order`) and where its repo-server reads the age key (`keys`). `engine` puts
it behind the engine interface."""

from bootstrap.engines.argocd.engine import ENGINE

__all__ = ["ENGINE"]
