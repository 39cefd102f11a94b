import os

import psycopg
from fastapi import FastAPI

DATABASE_URL = os.environ["DATABASE_URL"]
pool = psycopg.connect(DATABASE_URL)
app = FastAPI()


@app.get("/status")
def status():
    return {"db": pool.execute("select 1").fetchone()[0]}
