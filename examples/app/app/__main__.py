"""``python -m app``: the local demo, same as the platforms' start command.

Always one worker (see app/main.py for why), whatever WEB_CONCURRENCY says.
"""

from __future__ import annotations

import os

import uvicorn


def main() -> None:
    uvicorn.run(
        "app.main:app",
        host=os.environ.get("HOST") or "127.0.0.1",
        port=int(os.environ.get("PORT") or 8000),
        workers=1,
        timeout_graceful_shutdown=10,  # safety net above SHUTDOWN_GRACE
    )


if __name__ == "__main__":
    main()
