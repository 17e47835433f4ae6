"""/wecom: what the WeCom H5 app asks of the API besides sign-in (the JS-SDK config signature)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import CurrentPrincipal, NowDep, RuntimeDep, SessionDep
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.wecom import JsapiSignatureOut
from app.services.identity import wecom

router = APIRouter(prefix=f"{API_V1}/wecom", tags=["wecom"])


@router.get(
    "/jsapi-signature",
    response_model=JsapiSignatureOut,
    responses=problem_responses(401, 409, 422, 502, 503),
    summary="The JS-SDK config signature for a page of the WeCom H5 app",
)
async def get_jsapi_signature(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CurrentPrincipal,
    now: NowDep,
    url: Annotated[
        str,
        Query(
            min_length=1,
            max_length=2048,
            description="The page's URL as the browser shows it (location.href); the #fragment is dropped.",
            examples=["https://crm.example.com/h5/leads?id=7"],
        ),
    ],
) -> JsapiSignatureOut:
    config = await wecom.jsapi_config(session, runtime.wecom, actor=actor, url=url, now=now)
    return JsapiSignatureOut.model_validate(config)
