"""One module per file format. Each has `load(data, name) -> (branches, raw_metadata)`,
`has_metadata(data) -> bool` and `emit(branches) -> bytes` (plaintext as `sops decrypt` prints it)."""
