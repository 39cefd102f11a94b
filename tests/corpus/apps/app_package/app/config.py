from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env")

    chroma_dir: Path = Path("data/chroma")
    api_prefix: str = "/api"
    sse_ping: int = 15
    admin_token: str | None = None
    log_level: str = "info"


settings = Settings()
