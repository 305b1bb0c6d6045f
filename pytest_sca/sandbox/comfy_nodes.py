"""The image nodes the sandbox's ComfyUI-compatible endpoint executes, with Pillow.

A small documented subset of ComfyUI's core nodes, with ComfyUI's class names,
input specifications (as ``GET /object_info`` lists them) and output types:
LoadImage, EmptyImage, ImageInvert, ImageScale, ImageBlend, UpscaleModelLoader,
ImageUpscaleWithModel and SaveImage. Images are Pillow RGB images; the
"upscale models" are named resampling filters with a scale factor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageOps

from pytest_sca.sandbox.faults import Fault, Faults

#: Pillow filters an ``sca-upscale/1`` image model may name.
UPSCALE_FILTERS: dict[str, int] = {"nearest": Image.Resampling.NEAREST,
                                   "bilinear": Image.Resampling.BILINEAR,
                                   "bicubic": Image.Resampling.BICUBIC,
                                   "lanczos": Image.Resampling.LANCZOS}
#: The upscale "models" the sandbox ships: file name → (factor, Pillow filter); imported
#: image models (``sca-upscale/1``) join them.
UPSCALE_MODELS: dict[str, tuple[int, int]] = {
    "sca-nearest-2x.pth": (2, Image.Resampling.NEAREST),
    "sca-bicubic-2x.pth": (2, Image.Resampling.BICUBIC),
}
_SCALE_METHODS = {"nearest-exact": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
                  "area": Image.Resampling.BOX, "bicubic": Image.Resampling.BICUBIC,
                  "lanczos": Image.Resampling.LANCZOS}
_BLEND_MODES = ["normal", "multiply", "screen", "difference"]


@dataclass
class NodeContext:
    """What a node may touch: the input and output folders, and the run's fault switches."""

    input_dir: Path
    output_dir: Path
    faults: Faults
    log: Callable[[str], None]
    saved: list[dict[str, str]]
    upscalers: dict[str, tuple[int, int]]


def _int(default: int, low: int, high: int) -> list[Any]:
    return ["INT", {"default": default, "min": low, "max": high, "step": 1}]


def _load_image(ctx: NodeContext, image: str) -> tuple[Any, ...]:
    path = ctx.input_dir / image
    if Fault.WORKFLOW_INPUTS_IGNORED in ctx.faults:
        picture = Image.new("RGB", (64, 64))
    else:
        with Image.open(path) as opened:
            picture = opened.convert("RGB")
    ctx.log(f"loaded {image}: {picture.width}x{picture.height}")
    return picture, Image.new("L", picture.size, 0)


def _empty_image(ctx: NodeContext, width: int, height: int, batch_size: int, color: int
                 ) -> tuple[Any, ...]:
    rgb = ((color >> 16) & 255, (color >> 8) & 255, color & 255)
    ctx.log(f"empty image {width}x{height} colour #{color:06x}")
    return (Image.new("RGB", (width, height), rgb),)


def _invert(ctx: NodeContext, image: Any) -> tuple[Any, ...]:
    ctx.log(f"inverted {image.width}x{image.height}")
    return (ImageOps.invert(image),)


def _scale(ctx: NodeContext, image: Any, upscale_method: str, width: int, height: int,
           crop: str) -> tuple[Any, ...]:
    width = width or max(1, round(image.width * height / image.height))
    height = height or max(1, round(image.height * width / image.width))
    method = _SCALE_METHODS[upscale_method]
    if crop == "center":
        scaled = ImageOps.fit(image, (width, height), method=method)
    else:
        scaled = image.resize((width, height), method)
    ctx.log(f"scaled {image.width}x{image.height} to {width}x{height} ({upscale_method})")
    return (scaled,)


def _blend(ctx: NodeContext, image1: Any, image2: Any, blend_factor: float, blend_mode: str
           ) -> tuple[Any, ...]:
    other = image2.resize(image1.size) if image2.size != image1.size else image2
    modes = {"normal": lambda a, b: b, "multiply": ImageChops.multiply,
             "screen": ImageChops.screen, "difference": ImageChops.difference}
    mixed = modes[blend_mode](image1, other)
    ctx.log(f"blended ({blend_mode}, factor {blend_factor})")
    return (Image.blend(image1, mixed, blend_factor),)


def _load_upscale_model(ctx: NodeContext, model_name: str) -> tuple[Any, ...]:
    ctx.log(f"loaded upscale model {model_name}")
    return (ctx.upscalers[model_name],)


def _upscale_with_model(ctx: NodeContext, upscale_model: tuple[int, int], image: Any
                        ) -> tuple[Any, ...]:
    factor, method = upscale_model
    ctx.log(f"upscaled {image.width}x{image.height} by {factor}")
    return (image.resize((image.width * factor, image.height * factor), method),)


def _save(ctx: NodeContext, images: Any, filename_prefix: str) -> tuple[Any, ...]:
    if Fault.WORKFLOW_OUTPUTS_MISSING in ctx.faults:
        ctx.log("saved nothing")
        return ()
    prefix = "".join(c for c in filename_prefix if c.isalnum() or c in "-_")[:64] or "ComfyUI"
    counter = 1 + len(list(ctx.output_dir.glob(f"{prefix}_*_.png")))
    name = f"{prefix}_{counter:05d}_.png"
    while (ctx.output_dir / name).exists():
        counter += 1
        name = f"{prefix}_{counter:05d}_.png"
    images.save(ctx.output_dir / name, format="PNG")
    ctx.saved.append({"filename": name, "subfolder": "", "type": "output"})
    ctx.log(f"saved {name} ({images.width}x{images.height})")
    return ()


@dataclass(frozen=True)
class NodeType:
    """One node class: its ComfyUI description and what runs it."""

    inputs: dict[str, Any]
    outputs: tuple[str, ...]
    category: str
    run: Callable[..., tuple[Any, ...]]
    output_node: bool = False


def node_types(input_files: list[str], upscalers: dict[str, tuple[int, int]]
               ) -> dict[str, NodeType]:
    """The node classes, with LoadImage's input files and UpscaleModelLoader's models."""
    return {
        "LoadImage": NodeType({"image": [sorted(input_files), {"image_upload": True}]},
                              ("IMAGE", "MASK"), "image", _load_image),
        "EmptyImage": NodeType({"width": _int(512, 1, 4096), "height": _int(512, 1, 4096),
                                "batch_size": _int(1, 1, 1), "color": _int(0, 0, 0xFFFFFF)},
                               ("IMAGE",), "image", _empty_image),
        "ImageInvert": NodeType({"image": ["IMAGE"]}, ("IMAGE",), "image", _invert),
        "ImageScale": NodeType({"image": ["IMAGE"], "upscale_method": [list(_SCALE_METHODS)],
                                "width": _int(512, 0, 4096), "height": _int(512, 0, 4096),
                                "crop": [["disabled", "center"]]},
                               ("IMAGE",), "image/upscaling", _scale),
        "ImageBlend": NodeType({"image1": ["IMAGE"], "image2": ["IMAGE"],
                                "blend_factor": ["FLOAT", {"default": 0.5, "min": 0.0,
                                                           "max": 1.0, "step": 0.01}],
                                "blend_mode": [_BLEND_MODES]},
                               ("IMAGE",), "image/postprocessing", _blend),
        "UpscaleModelLoader": NodeType({"model_name": [sorted(upscalers)]},
                                       ("UPSCALE_MODEL",), "loaders", _load_upscale_model),
        "ImageUpscaleWithModel": NodeType({"upscale_model": ["UPSCALE_MODEL"],
                                           "image": ["IMAGE"]},
                                          ("IMAGE",), "image/upscaling", _upscale_with_model),
        "SaveImage": NodeType({"images": ["IMAGE"],
                               "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
                              (), "image", _save, output_node=True),
    }


def object_info(types: dict[str, NodeType]) -> dict[str, Any]:
    """``GET /object_info``: every node class in ComfyUI's description format."""
    return {
        name: {"input": {"required": t.inputs, "optional": {}}, "input_order":
               {"required": list(t.inputs)}, "output": list(t.outputs),
               "output_is_list": [False] * len(t.outputs), "output_name": list(t.outputs),
               "name": name, "display_name": name, "description": "", "python_module": "nodes",
               "category": t.category, "output_node": t.output_node}
        for name, t in types.items()
    }
