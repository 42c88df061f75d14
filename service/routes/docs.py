"""API documentation behind a key, like every route but health and readiness.

Browsers cannot send headers when opening a page, so these two routes (only these) also take the
key as ``?api_key=``; access logs never record query strings.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from service.auth import Principal, require_principal

router = APIRouter(include_in_schema=False)


def docs_principal(request: Request, api_key: Annotated[str | None, Query()] = None) -> Principal:
    if api_key and not request.headers.get("x-api-key") and not request.headers.get("authorization"):
        return require_principal(request, api_key, None)
    return require_principal(request, request.headers.get("x-api-key"), _bearer(request))


def _bearer(request: Request) -> Any:
    from fastapi.security import HTTPAuthorizationCredentials

    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if scheme.lower() == "bearer" else None


DocsPrincipal = Annotated[Principal, Depends(docs_principal)]


@router.get("/openapi.json")
def openapi(request: Request, _who: DocsPrincipal) -> dict[str, Any]:
    return request.app.openapi()  # type: ignore[no-any-return]


@router.get("/docs", response_class=HTMLResponse)
def swagger(request: Request, _who: DocsPrincipal, api_key: Annotated[str | None, Query()] = None) -> HTMLResponse:
    if not api_key:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "open the docs as /docs?api_key=YOUR_KEY")
    return get_swagger_ui_html(openapi_url=f"/openapi.json?api_key={quote(api_key, safe='')}",
                               title="feedback-strike API", swagger_js_url="/docs-static/swagger-ui-bundle.js",
                               swagger_css_url="/docs-static/swagger-ui.css",
                               swagger_favicon_url="/docs-static/favicon-32x32.png")
