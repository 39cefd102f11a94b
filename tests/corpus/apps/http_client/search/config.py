from pydantic_settings import BaseSettings, SettingsConfigDict


class Config(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHROMA_")

    host: str = "localhost"
    port: int = 8000


config = Config()
