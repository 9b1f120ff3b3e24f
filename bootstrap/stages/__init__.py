"""The pipeline's stages, each a module with typed input and output:
source → keys → render → validate → target → install-key → apply → verify → hand-over (docs/architecture.md)."""
