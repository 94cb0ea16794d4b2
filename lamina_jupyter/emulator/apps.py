"""The five sample apps and their JSON descriptions.

/v1 reports `required: true` for every parameter (the default decides); the legacy family reports
the real flag, as the two generations of the real API do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

ASPECT_RATIOS = ["1:1", "4:3", "3:4", "16:9", "9:16"]
SAMPLE_IMAGE_PATH = "/media/samples/portrait.png"
BASE_URL_PLACEHOLDER = "{base_url}"


@dataclass(frozen=True)
class Param:
    id: str
    key: str
    name: str
    type: str  # text | options | url
    options: tuple[str, ...] = ()
    default: Any = None
    accept: tuple[str, ...] = ()
    multiple: bool = False
    description: str | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not None


@dataclass(frozen=True)
class OutputSpec:
    index: int
    label: str
    type: str  # image | video | text
    node_id: str
    node_type: str
    credits: int


@dataclass(frozen=True)
class App:
    id: str
    name: str
    description: str
    params: tuple[Param, ...]
    outputs: tuple[OutputSpec, ...]
    modality: str
    latency_factor: float = 1.0
    strengths: tuple[str, ...] = field(default=())
    is_public: bool = True  # False: the workspace's own private app (still listed and runnable here)


def _aspect(pid: str = "aspect-ratio") -> Param:
    return Param(pid, "aspect_ratio", "Aspect Ratio", "options", tuple(ASPECT_RATIOS), "1:1")


def _out(index: int, label: str, kind: str, node: str) -> OutputSpec:
    node_type = {"image": "aiDesignerNode", "video": "klingVideoNode", "text": "llmNode"}[kind]
    credits = {"image": 4, "video": 20, "text": 1}[kind]
    return OutputSpec(index, label, kind, f"{node_type}-{node}", node_type, credits)


TEXT_TO_IMAGE = App(
    "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01",
    "Text to Image",
    "Turn a prompt into an image in the chosen style.",
    (
        Param("prompt", "prompt_text", "Prompt", "text", description="What the image should show"),
        Param(
            "style",
            "style",
            "Style",
            "options",
            ("Photographic", "Watercolor", "Neon", "Pixel Art"),
            "Photographic",
        ),
        _aspect(),
    ),
    (_out(0, "Image", "image", "t2i-image"),),
    "image",
)
CARTOONIFY = App(
    "3f68debe-df0a-4fc9-bdd3-9d45a4160587",
    "Cartoonify!",
    "Just upload your photo and convert it into an Cartoon of your favorite style!",
    (
        Param(
            "upload",
            "your_photo_image_url",
            "Upload",
            "url",
            default=BASE_URL_PLACEHOLDER + SAMPLE_IMAGE_PATH,
            accept=("image",),
            description="A photo to cartoonify (public http(s) URL)",
        ),
        Param(
            "style",
            "style",
            "Style",
            "options",
            ("Ghibli", "Simpsons", "Disney / Pixar", "Cyberpunk"),
            "Ghibli",
        ),
        _aspect(),
    ),
    (_out(0, "Cartoon", "image", "cartoon"),),
    "image",
)
PRODUCT_SHOTS = App(
    "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a03",
    "Product Shot Set",
    "Front and back product shots on a chosen background, plus a short caption.",
    (
        Param("product", "product_text", "Product", "text", description="The product to photograph"),
        Param("background", "background", "Background", "options", ("Studio", "Urban", "Park"), "Studio"),
    ),
    (
        _out(0, "Front View", "image", "front"),
        _out(1, "Back View", "image", "back"),
        _out(2, "Caption", "text", "caption"),
    ),
    "image",
    latency_factor=1.5,
    is_public=False,
)
CAPTION_WRITER = App(
    "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a04",
    "Caption Writer",
    "Writes a one-line caption about a topic in the chosen tone.",
    (
        Param("topic", "topic_text", "Topic", "text", description="What the caption is about"),
        Param("tone", "tone", "Tone", "options", ("Playful", "Professional", "Poetic"), "Playful"),
    ),
    (_out(0, "Caption", "text", "caption-writer"),),
    "text",
    latency_factor=0.5,
)
TEASER_CLIP = App(
    "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a05",
    "Teaser Clip",
    "A short teaser clip for a prompt. In this emulator the clip is an animated GIF standing in "
    "for video (mimeType image/gif).",
    (
        Param("prompt", "prompt_text", "Prompt", "text", description="What the clip should show"),
        Param("duration", "duration", "Duration", "options", ("2s", "4s"), "2s"),
    ),
    (_out(0, "Clip", "video", "clip"),),
    "video",
    latency_factor=3.0,
    is_public=False,
)

APPS: dict[str, App] = {
    a.id: a for a in (TEXT_TO_IMAGE, CARTOONIFY, PRODUCT_SHOTS, CAPTION_WRITER, TEASER_CLIP)
}


def default_of(param: Param, base_url: str) -> Any:
    if isinstance(param.default, str):
        return param.default.replace(BASE_URL_PLACEHOLDER, base_url)
    return param.default


def param_json(param: Param, base_url: str, legacy: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": param.id,
        "key": param.key,
        "name": param.name,
        "type": param.type,
        "required": (not param.has_default) if legacy else True,
        "description": param.description,
    }
    if param.options:
        out["options"] = list(param.options)
    if param.has_default:
        out["default"] = default_of(param, base_url)
    if param.accept:
        out["accept"] = list(param.accept)
    if param.type == "url":
        out["multiple"] = param.multiple
    return out


def summary_json(app: App, legacy: bool) -> dict[str, Any]:
    base = {"appId": app.id, "name": app.name, "description": app.description, "isPublic": app.is_public}
    if legacy:
        return base
    kinds = sorted({o.type for o in app.outputs})
    required = [{"name": p.name, "type": p.type} for p in app.params if not p.has_default]
    optional = [{"name": p.name, "type": p.type} for p in app.params if p.has_default]
    return base | {
        "capabilities": {
            "produces": kinds,
            "strengths": [],
            "bestFor": [],
            "limitations": ["emulated output"],
            "outputFormats": kinds,
            "hasQualityControl": False,
            "hasHumanApproval": False,
            "generationStepCount": len(app.outputs),
            "nodeTypes": sorted({o.node_type for o in app.outputs}),
        },
        "icon": None,
        "modality": app.modality,
        "outputFormats": kinds,
        "inputSummary": {"required": required, "optional": optional, "total": len(app.params)},
    }


def detail_json(app: App, base_url: str, legacy: bool) -> dict[str, Any]:
    body = {
        "appId": app.id,
        "name": app.name,
        "description": app.description,
        "parameters": [param_json(p, base_url, legacy) for p in app.params],
    }
    if not legacy:
        body["outputs"] = [{"index": o.index, "label": o.label, "type": o.type} for o in app.outputs]
    return body


def edited(app: App, drop: tuple[str, ...] | list[str] = (), options: dict[str, Any] | None = None) -> App:
    """A copy of `app` without the parameters whose id is in `drop` and with new option lists (the
    default moves to the first option when it was removed), as when an app's author edits it."""
    known = {p.id for p in app.params}
    unknown = (set(drop) | set(options or {})) - known
    if unknown:
        raise ValueError(f"{app.name!r} has no parameter(s) {sorted(unknown)}; ids: {sorted(known)}")
    params = []
    for p in app.params:
        if p.id in drop:
            continue
        if options and p.id in options:
            choices = tuple(options[p.id])
            p = replace(p, options=choices, default=p.default if p.default in choices else choices[0])
        params.append(p)
    return replace(app, params=tuple(params))


def search_apps(query: str | None, catalog: dict[str, App] | None = None) -> list[App]:
    apps = list((APPS if catalog is None else catalog).values())
    if not query:
        return apps
    words = query.lower().split()
    return [a for a in apps if all(w in f"{a.name} {a.description}".lower() for w in words)]
