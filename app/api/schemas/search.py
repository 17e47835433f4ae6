"""The global search's answer."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from app.domain.platform.search import SearchType


class SearchHitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    type: SearchType
    id: uuid.UUID
    name: str = Field(description="The record's display name.")
    subtitle: str | None = Field(
        description="What tells two hits of one name apart: a lead's company, a customer's code, "
        "the customer of a contact or a deal."
    )
    score: float = Field(
        description="0-100, higher is better: an exact code, phone or e-mail scores from 70, a name "
        "that starts with the text from 36, the text elsewhere below 36."
    )


class SearchResultOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "type": "customer",
                            "id": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
                            "name": "上海申华建材有限公司",
                            "subtitle": "C000123",
                            "score": 45.3,
                        },
                        {
                            "type": "contact",
                            "id": "8e9f0a1b-2c3d-4e5f-8a7b-6c5d4e3f2a1b",
                            "name": "申丽",
                            "subtitle": "上海申华建材有限公司",
                            "score": 36.2,
                        },
                    ]
                }
            ]
        }
    )

    items: list[SearchHitOut] = Field(description="Best first; at most `limit`.")
