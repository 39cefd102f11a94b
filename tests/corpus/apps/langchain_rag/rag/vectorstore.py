from langchain_chroma import Chroma
from langchain_huggingface import HuggingFaceEmbeddings

from rag.settings import settings

embeddings = HuggingFaceEmbeddings(model_name="sentence-transformers/all-MiniLM-L6-v2")
store = Chroma(collection_name="docs", embedding_function=embeddings, persist_directory=settings.persist_dir)
