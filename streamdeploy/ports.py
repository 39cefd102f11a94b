"""Ports on this machine: is one free, and which ones do given processes listen on.

`up --target local` needs both: a port held by the run it is about to replace can be
reused (the old run is stopped first), a port anybody else holds cannot.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Iterable

HOST = "127.0.0.1"
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def port_free(port: int, host: str = HOST) -> bool:
    """Could a server bind host:port now (as uvicorn does, with SO_REUSEADDR)?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def listening(pids: Iterable[int]) -> set[int] | None:
    """The TCP ports these processes listen on (Linux /proc); None where that cannot be told."""
    proc = Path("/proc")
    if not (proc / "net" / "tcp").exists():
        return None
    inodes: set[str] = set()
    for pid in pids:
        try:
            names = os.listdir(proc / str(pid) / "fd")
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(proc / str(pid) / "fd" / name)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            rows = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == _LISTEN and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
