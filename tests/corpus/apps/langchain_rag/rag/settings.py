from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    persist_dir: str = "./chroma_langchain"
    openai_api_key: str | None = None
    anthropic_api_key: str | None = None
    service_api_key: str
    model: str = "gpt-4o-mini"


settings = Settings()
