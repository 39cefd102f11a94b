"""Prints what the API would see: run by hand, never deployed."""

import os

from common import collection

if __name__ == "__main__":
    print(os.environ["DIAG_TOKEN"], collection().count(), os.getenv("DEBUG_OUTPUT", "stdout"))
