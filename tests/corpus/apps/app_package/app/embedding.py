import zlib

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings


class Crc(EmbeddingFunction[Documents]):
    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return [[float((zlib.crc32(w.encode()) >> s) & 1) for s in range(32) for w in t.split()[:1]] or [0.0] * 32
                for t in input]

    @staticmethod
    def name() -> str:
        return "crc"

    def get_config(self) -> dict:
        return {}

    @staticmethod
    def build_from_config(config: dict) -> "Crc":
        return Crc()
