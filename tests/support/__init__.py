"""Helpers shared by the test suites (keys, encryption with the real sops binary)."""
