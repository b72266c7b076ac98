from __future__ import annotations

import sys

from medvtab_client.cli import main

sys.exit(main())
