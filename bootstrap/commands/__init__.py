"""One module per command (`restore`, `plan`, `verify`, `check`, `drill`, `version`, `demo`): each composes
the stages it needs, in order, and nothing else."""
