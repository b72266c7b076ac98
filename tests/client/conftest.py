from __future__ import annotations

from tests.api.conftest import (  # noqa: F401 - shared fixtures
    alice,
    api_settings,
    benchmark,
    bob,
    predictions,
    staff_user,
    submit_file,
)
