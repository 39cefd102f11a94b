"""Request bodies, validated before anything reaches Chroma (422 on bad input).

Size limits that depend on settings (batch length, text length) are checked in the
route and answered with 413, like an oversized body.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator

# Ids go into URLs (/documents/{id}), so they are restricted to characters that need no escaping.
ID_PATTERN = r"^[A-Za-z0-9._:@+=~-]{1,128}$"
MAX_METADATA_KEYS = 32

MetadataValue = Union[StrictBool, StrictInt, Annotated[StrictFloat, Field(allow_inf_nan=False)], Annotated[StrictStr, Field(max_length=2000)]]


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: StrictStr
    id: Annotated[StrictStr, Field(pattern=ID_PATTERN)] | None = None
    metadata: dict[str, MetadataValue] | None = None

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text must not be empty")
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, v: dict[str, object] | None) -> dict[str, object] | None:
        if v is None:
            return v
        if len(v) > MAX_METADATA_KEYS:
            raise ValueError(f"at most {MAX_METADATA_KEYS} metadata keys")
        for key in v:
            if not 1 <= len(key) <= 64:
                raise ValueError(f"metadata key {key[:70]!r} must be 1 to 64 characters")
            if key.startswith(("#", "chroma:")):
                raise ValueError(f"metadata key {key!r} is reserved (keys may not start with '#' or 'chroma:')")
        return v or None


class DocumentsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: Annotated[list[DocumentIn], Field(min_length=1)]

    @field_validator("documents")
    @classmethod
    def _unique_ids(cls, v: list[DocumentIn]) -> list[DocumentIn]:
        seen: set[str] = set()
        dups = sorted({d.id for d in v if d.id is not None and (d.id in seen or seen.add(d.id))})
        if dups:
            raise ValueError(f"duplicate ids in the batch: {', '.join(dups)}")
        return v
