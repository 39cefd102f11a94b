import os

os.environ.setdefault("TEST_SECRET_KEY", "x")
