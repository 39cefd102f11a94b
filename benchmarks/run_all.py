"""Run every benchmark with its defaults, one after the other (loopback only, bounded).

Each script prints its own table; the numbers we quote live in benchmarks/*.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["cli_startup.py", "app_coldstart.py", "app_ingest.py", "app_streams.py", "chroma_server.py",
           "local_install.py"]

if __name__ == "__main__":
    failed = []
    for script in SCRIPTS:
        print(f"\n== {script} ==", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], cwd=HERE.parent).returncode != 0:
            failed.append(script)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
