"""Med-VTAB command-line client for CI: standard library only, never prompts.

Exit codes (shared with ``manage.py submit``): 0 succeeded, 1 failed or cancelled, 2 usage or
validation error (refused before it was queued), 3 timed out waiting, 4 network or server error.
"""

from __future__ import annotations

__version__ = "1.0.0"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_NETWORK = 4
