"""Embeds queued jobs in the background: a second process on the same Chroma directory."""

import time

from common import collection


def main() -> None:
    jobs = collection()
    while True:
        pending = jobs.get(where={"done": False})
        for job_id in pending["ids"]:
            jobs.update(ids=[job_id], metadatas=[{"done": True}])
        time.sleep(5)


if __name__ == "__main__":
    main()
