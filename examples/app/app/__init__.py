"""The streamdeploy example service: FastAPI + ChromaDB on a volume + Server-Sent Events."""

__version__ = "0.1.0"
