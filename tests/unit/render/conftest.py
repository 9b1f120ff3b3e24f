"""The Go envsubst oracle for the differential tests: built (or found cached) by hack/oracles/build.sh."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.envsubst_oracle import build_oracle


@pytest.fixture(scope="session")
def envsubst_oracle() -> Path:
    """The oracle binary; fails, never skips, when it cannot be built (`make oracles`)."""
    try:
        return build_oracle()
    except (RuntimeError, OSError) as exc:
        pytest.fail(str(exc), pytrace=False)
