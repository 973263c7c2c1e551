#!/usr/bin/env python3
"""The integration guide's Python test script for OneTask's WebSocket endpoints.

    python websocket_client_test.py --help
    python websocket_client_test.py --username alice --password '…' --trigger \
        --expect task_update:created

A thin command line over the reusable client in `onetask.client` (src/onetask/client/).
"""

from __future__ import annotations

import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent / "src"

if __name__ == "__main__":
    if SRC.is_dir() and str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))  # run from a checkout without `pip install -e .`
    try:
        from onetask.client.cli import main
    except ModuleNotFoundError as missing:
        sys.exit(
            f"websocket_client_test.py: needs {missing.name!r}: run it with the project's "
            "environment (.venv/bin/python, created by ./scripts/serve or ./scripts/test) or "
            "`pip install -e .`"
        )
    sys.exit(main())
