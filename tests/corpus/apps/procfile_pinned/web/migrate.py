import os

import psycopg

if __name__ == "__main__":
    psycopg.connect(os.environ["DATABASE_URL"]).execute("select 1")
