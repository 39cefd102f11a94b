import chromadb
from chromadb.config import Settings as ChromaSettings

from app.config import settings
from app.embedding import Crc

client = chromadb.Client(ChromaSettings(is_persistent=True, persist_directory=str(settings.chroma_dir),
                                        anonymized_telemetry=False))
docs = client.get_or_create_collection("docs", embedding_function=Crc())
