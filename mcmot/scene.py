"""The scene folder: the one contract between pipeline stages.

See ``docs/layout.md``. A scene is a folder holding one synchronized
multi-camera recording::

    SCENE/
      videos/<cam>.<mp4|avi|mkv>   or   frames/<cam>/<frame:06d>.<jpg|png>
      gt/<cam>.txt          optional ground truth (identities global across cameras)
      det/<cam>.txt         written by detect
      features/<cam>.npz    written by extract-features (rows aligned with det/)
      tracks/<cam>.txt      written by track (identities local to each camera)
      global/<cam>.txt      written by associate (identities global across cameras)
      eval.json             written by evaluate
      provenance/<stage>.json   what produced each stage's output

A plain folder of videos (``cam1.mp4``, ...) or of per-camera frame folders
is a scene too: its videos are the cameras and the outputs go beside them.
A scene with boxes but no pixels (only ``gt/`` or ``det/``) is valid for the
stages that need no pixels.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mcmot import __version__
from mcmot.atomic import write_json
from mcmot.caches import CACHE
from mcmot.errors import McmotError
from mcmot.staging import Staging, recover, staged

F = TypeVar("F", bound=Callable[..., Any])

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")

#: Sub-folders of per-camera text/array outputs, by stage name.
STAGE_DIRS = {
    "gt": ("gt", ".txt"),
    "det": ("det", ".txt"),
    "features": ("features", ".npz"),
    "tracks": ("tracks", ".txt"),
    "global": ("global", ".txt"),
}


@dataclass(frozen=True)
class Camera:
    """One camera of a scene.

    Attributes
    ----------
    name : the camera's name (its file stem)
    source : its video file or frame folder; None in a scene without pixels
    """

    name: str
    source: Path | None


def _image_folder(path: Path) -> bool:
    return path.is_dir() and any(
        p.suffix.lower() in IMAGE_EXTS for p in path.iterdir() if p.is_file()
    )


def _natural_key(name: str) -> tuple:
    import re

    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


class Scene:
    """A scene folder. Creating one checks that the folder exists.

    Parameters
    ----------
    root : the scene folder
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        if not self.root.exists():
            raise McmotError(f"scene not found: {self.root}")
        if not self.root.is_dir():
            raise McmotError(f"a scene must be a folder, got a file: {self.root}")

    def __repr__(self) -> str:
        return f"Scene({str(self.root)!r})"

    @property
    def name(self) -> str:
        return self.root.resolve().name

    # ----------------------------------------------------------- cameras
    def pixel_cameras(self) -> list[Camera]:
        """Cameras that have pixels (videos or frame folders), sorted by name."""
        found: dict[str, Path] = {}
        for base in (self.root / "videos", self.root / "frames", self.root):
            if not base.is_dir():
                continue
            for p in sorted(base.iterdir()):
                if p.name.startswith("."):
                    continue
                if p.is_file() and p.suffix.lower() in VIDEO_EXTS:
                    found.setdefault(p.stem, p)
                elif (
                    (base is not self.root or p.name not in _RESERVED)
                    and p.is_dir()
                    and _image_folder(p)
                ):
                    found.setdefault(p.name, p)
            if found:
                break
        return [Camera(n, found[n]) for n in sorted(found, key=_natural_key)]

    def cameras(self) -> list[Camera]:
        """All cameras: those with pixels, else those named by ``gt/`` or ``det/`` files."""
        pix = self.pixel_cameras()
        if pix:
            return pix
        names: set[str] = set()
        for stage in ("gt", "det", "tracks", "global"):
            d = self.root / STAGE_DIRS[stage][0]
            if d.is_dir():
                names.update(p.stem for p in d.glob("*.txt") if not p.name.startswith("."))
        return [Camera(n, None) for n in sorted(names, key=_natural_key)]

    def camera_names(self) -> list[str]:
        return [c.name for c in self.cameras()]

    def require_cameras(self) -> list[Camera]:
        """Cameras, or an error saying the folder holds none."""
        cams = self.cameras()
        if not cams:
            raise McmotError(
                f"{self.root} holds no cameras: expected videos/<cam>.mp4, frames/<cam>/ "
                "or video files in the folder itself (see docs/layout.md)"
            )
        return cams

    def select_cameras(self, names: list[str] | None) -> list[Camera]:
        """The cameras named in ``names`` (all when None), or an error for an unknown one."""
        cams = self.require_cameras()
        if not names:
            return cams
        by_name = {c.name: c for c in cams}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise McmotError(
                f"unknown camera(s) {', '.join(unknown)} in {self.root}; "
                f"cameras: {', '.join(by_name)}"
            )
        return [by_name[n] for n in names]

    # ----------------------------------------------------------- paths
    def stage_dir(self, stage: str) -> Path:
        try:
            return self.root / STAGE_DIRS[stage][0]
        except KeyError:
            raise ValueError(f"unknown stage folder {stage!r}") from None

    def path(self, stage: str, camera: str) -> Path:
        """The file of ``camera`` for ``stage`` (gt, det, features, tracks, global)."""
        folder, ext = STAGE_DIRS[stage]
        return self.root / folder / f"{camera}{ext}"

    def stage_files(self, stage: str) -> dict[str, Path]:
        """Existing files of a stage folder, by camera name."""
        folder, ext = STAGE_DIRS[stage]
        d = self.root / folder
        if not d.is_dir():
            return {}
        files = {
            p.name[: -len(ext)]: p
            for p in d.iterdir()
            if p.name.endswith(ext) and not p.name.startswith(".")  # not a temporary file
        }
        return {k: files[k] for k in sorted(files, key=_natural_key)}

    @property
    def eval_path(self) -> Path:
        return self.root / "eval.json"

    def check_writable(self, paths: list[Path], overwrite: bool) -> None:
        """Refuse to replace existing outputs unless ``overwrite`` is set."""
        if overwrite:
            return
        existing = [p for p in paths if p.exists()]
        if existing:
            shown = ", ".join(str(self.shown(p)) for p in existing[:3])
            more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
            raise McmotError(
                f"output exists in {self.root}: {shown}{more}; pass --overwrite to replace"
            )

    def shown(self, path: Path) -> Path:
        """``path`` relative to the scene folder when inside it, else as given."""
        try:
            return path.relative_to(self.root)
        except ValueError:
            return path

    def staged(self, stage: str) -> contextlib.AbstractContextManager[Staging]:
        """Stage ``stage``'s outputs: they land together when the block ends, or not at all.

        See :mod:`mcmot.staging`. ``stage`` is the name the stage locks the
        scene with, so that its next run finishes what a crash left.
        """
        return staged(self.root, stage)

    # ----------------------------------------------------------- provenance
    def provenance_path(self, stage: str) -> Path:
        return self.root / "provenance" / f"{stage}.json"

    def record(
        self,
        stage: str,
        params: dict[str, Any],
        inputs: list[Path] | None = None,
        outputs: list[Path] | None = None,
        staging: Staging | None = None,
    ) -> dict[str, Any]:
        """Write what produced a stage's output to ``provenance/<stage>.json``.

        The record holds the command line, mcmot's version, the parameters,
        the time, and the size and modification time of each input and
        output, so that a later run can tell whether an output is current.
        With ``staging``, the outputs are still staged: their stamps are
        taken there, and the record is staged with them (it lands with them).
        """
        where = staging.where if staging is not None else Path
        rec = {
            "stage": stage,
            "command": " ".join(sys.argv),
            "version": __version__,
            "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "params": params,
            "inputs": {str(self._rel(p)): _stamp(p) for p in inputs or []},
            "outputs": {str(self._rel(p)): _stamp(where(p)) for p in outputs or []},
        }
        dest = self.provenance_path(stage)
        write_json(staging.path(dest) if staging is not None else dest, rec)
        return rec

    def read_record(self, stage: str) -> dict[str, Any] | None:
        """The provenance record of a stage, or None when it never ran."""
        p = self.provenance_path(stage)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def is_current(
        self,
        stage: str,
        params: dict[str, Any] | None = None,
        inputs: list[Path] | None = None,
    ) -> bool:
        """Whether ``stage``'s recorded output is up to date.

        True when the stage has a provenance record, every recorded input and
        output still has the recorded size and modification time, and every
        output exists; and, where given, the record has the same ``params``
        and the same set of ``inputs``.
        """
        rec = self.read_record(stage)
        if rec is None:
            return False
        if params is not None and rec.get("params") != json.loads(json.dumps(params, default=str)):
            return False
        if inputs is not None and set(rec.get("inputs", {})) != {str(self._rel(p)) for p in inputs}:
            return False
        for group in ("inputs", "outputs"):
            for rel, stamp in rec.get(group, {}).items():
                if stamp is None or _stamp(self._recorded(rel)) != stamp:
                    return False
        return bool(rec.get("outputs"))

    def changed_outputs(self, stage: str) -> list[Path]:
        """Outputs of ``stage``'s last run that were changed since (size or modification time)."""
        rec = self.read_record(stage)
        if rec is None:
            return []
        out = []
        for rel, stamp in rec.get("outputs", {}).items():
            now = _stamp(self._recorded(rel))
            if now is not None and now != stamp:
                out.append(self._recorded(rel))
        return out

    def describes(self, stage: str, paths: list[Path]) -> bool:
        """Whether ``stage``'s record names every one of ``paths`` among its outputs,
        with the size and modification time each has now."""
        recorded = (self.read_record(stage) or {}).get("outputs", {})
        for p in paths:
            stamp = recorded.get(str(self._rel(p)))
            if stamp is None or stamp != _stamp(p):
                return False
        return True

    def _recorded(self, rel: str) -> Path:
        """The file a provenance record names ``rel`` (relative to the scene, or absolute)."""
        return Path(rel) if Path(rel).is_absolute() else self.root / rel

    def _rel(self, p: Path) -> Path:
        try:
            return Path(p).resolve().relative_to(self.root.resolve())
        except ValueError:
            return Path(p).resolve()


#: Folder names in a scene's root that are never cameras.
_RESERVED = {
    "videos",
    "frames",
    "gt",
    "det",
    "features",
    "tracks",
    "global",
    "provenance",
    "synth",
    CACHE,
}


def _stamp(p: Path) -> dict[str, Any] | None:
    try:
        st = Path(p).stat()
    except OSError:
        return None
    return {"size": st.st_size, "mtime": st.st_mtime}


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def stage_lock(stage: str) -> Callable[[F], F]:
    """Decorate a stage function whose first argument is its scene: while it runs,
    the scene holds ``.mcmot-<stage>.lock`` (the process id), so a second run
    of the same stage on the same scene stops with a one-line error instead of
    racing the first one to the outputs. A lock left by a process that no
    longer exists (a crash, kill -9) is taken over."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def locked(scene: Any, *args: Any, **kwargs: Any) -> Any:
            root = Path(scene.root if isinstance(scene, Scene) else scene)
            if not root.is_dir():
                return fn(scene, *args, **kwargs)
            path = root / f".mcmot-{stage}.lock"
            _acquire(path, stage)
            try:
                recover(root, stage)  # what a crashed run of this stage left half-done
                return fn(scene, *args, **kwargs)
            finally:
                with contextlib.suppress(OSError):
                    path.unlink()

        return locked  # type: ignore[return-value]

    return wrap


def _acquire(path: Path, stage: str) -> None:
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if _alive(pid) and pid != os.getpid():
                raise McmotError(
                    f"another `mcmot {stage}` (process {pid}) is running on {path.parent}; "
                    f"wait for it, or remove {path} if it is not"
                ) from None
            with contextlib.suppress(OSError):
                path.unlink()  # stale: its process is gone
            continue
        except OSError as exc:
            raise McmotError(f"cannot write {path}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        return
    raise McmotError(f"cannot take the lock {path}: remove it if no `mcmot {stage}` is running")
