"""Uploads (`POST /v1/assets/upload-urls`, then PUT to the pre-signed uploadUrl) and the /media CDN.

Upload URLs and media are served without auth, like pre-signed storage URLs and a CDN; the upload
token in the path is the credential.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any
from urllib.parse import quote

from .errors import ApiError, field_error, invalid
from .outputs import media_bytes
from .run import iso
from .state import Asset, State
from .web import Ctx, Reply, Router, json_reply

MEDIA_TYPES = {"image": "image/png", "video": "video/mp4", "audio": "audio/mpeg"}
MAX_UPLOAD = 25 << 20
MAX_FILES = 20


def register(router: Router) -> None:
    @router.add("POST", "/v1/assets/upload-urls", "v1")
    async def upload_urls(ctx: Ctx, state: State, **_: Any) -> Reply:
        body = await ctx.json_body()
        files = body.get("files")
        if not isinstance(files, list) or not files or len(files) > MAX_FILES:
            raise invalid(
                "files",
                "invalid_type",
                f'"files" must be a list of 1 to {MAX_FILES} {{"filename", "mediaType"}} objects',
                "Invalid request body",
            )
        problems, uploads = [], []
        for i, item in enumerate(files):
            name = item.get("filename") if isinstance(item, dict) else None
            kind = item.get("mediaType", "image") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name.strip() or "/" in name or len(name) > 255:
                problems.append(
                    field_error(
                        f"files[{i}].filename",
                        "invalid_type",
                        "filename must be a plain file name without '/'",
                    )
                )
            elif not isinstance(kind, str) or kind not in MEDIA_TYPES:
                problems.append(
                    field_error(
                        f"files[{i}].mediaType",
                        "invalid_option",
                        f"mediaType must be one of: {', '.join(MEDIA_TYPES)}",
                        list(MEDIA_TYPES),
                    )
                )
            else:
                uploads.append(_new_upload(state, name, kind))
        if problems:
            raise ApiError("VALIDATION_ERROR", "Invalid request body", details=problems)
        return json_reply({"data": {"uploads": uploads}})

    @router.add("PUT", "/uploads/{token}", "upload")
    async def put_upload(ctx: Ctx, state: State, token: str, **_: Any) -> Reply:
        asset = state.assets.get(state.upload_tokens.get(token, ""))
        if asset is None:
            raise ApiError("NOT_FOUND", "Upload URL not found (unknown or expired); request a new one")
        asset.data = await ctx.body(MAX_UPLOAD)
        asset.content_type = ctx.headers.get("content-type") or asset.content_type
        state.stats.uploads += 1
        return Reply(200, b"", "text/plain")

    @router.add("GET", "/media/{path}", "media")
    async def get_media(ctx: Ctx, state: State, path: str, **_: Any) -> Reply:
        found = await media_bytes(state, path)
        if found is None:
            raise ApiError("NOT_FOUND", "Media file not found")
        data, content_type = found
        return Reply(200, data, content_type, {"cache-control": "public, max-age=31536000, immutable"})


def _new_upload(state: State, filename: str, kind: str) -> dict[str, Any]:
    asset = Asset(str(uuid.uuid4()), filename, kind, MEDIA_TYPES[kind])
    token = secrets.token_urlsafe(18)
    state.assets[asset.asset_id] = asset
    state.upload_tokens[token] = asset.asset_id
    return {
        "filename": filename,
        "mediaType": kind,
        "contentTypeHint": _hint(filename, kind),
        "uploadUrl": f"{state.base_url}/uploads/{token}",
        "assetUrl": f"{state.base_url}/media/assets/{asset.asset_id}/{quote(filename)}",
        "assetId": asset.asset_id,
        "expiresAt": iso(time.time() + 3600),
    }


def _hint(filename: str, kind: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    known = {
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "webp": "image/webp",
        "gif": "image/gif",
        "mp4": "video/mp4",
        "mov": "video/quicktime",
        "webm": "video/webm",
        "mp3": "audio/mpeg",
        "wav": "audio/wav",
    }
    return known.get(ext, MEDIA_TYPES[kind])
