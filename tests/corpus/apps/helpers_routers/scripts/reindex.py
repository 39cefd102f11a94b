"""Rebuilds the index by hand; not part of the service."""

import os

from fastapi import FastAPI

admin = FastAPI()
TOKEN = os.environ["REINDEX_TOKEN"]


@admin.post("/reindex")
def reindex():
    return {"ok": True}


if __name__ == "__main__":
    print(TOKEN)
