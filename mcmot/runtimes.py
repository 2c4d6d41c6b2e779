"""CPU inference runtimes for exported networks: ONNX Runtime and OpenVINO.

The detector (mcmot.detect_backends) and the teacher (mcmot.models.teacher)
open their ONNX networks here, so both get the same thread count (the cores
this process may use, not the machine's), ONNX Runtime's telemetry switched
off, and one OpenVINO core per process. OpenVINO reads ONNX directly, from a
file or from bytes; its model converter, whose telemetry would try the
network, is never called. A runtime that is not installed is a one-line error
naming the pip extra; nothing is ever installed or downloaded.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcmot.errors import McmotError

#: The runtimes by name.
RUNTIMES = ("onnx", "openvino")
#: CPU runtimes fastest first (docs/detect.md, docs/method.md): 'auto' takes the first installed.
SPEED_ORDER = ("openvino", "onnx")
#: The Python module each runtime needs.
RUNTIME_MODULE = {"onnx": "onnxruntime", "openvino": "openvino"}

Network = Callable[[NDArray[np.float32]], NDArray[np.float32]]


@dataclass(frozen=True)
class Session:
    """One network loaded in a runtime.

    Attributes
    ----------
    run : the network's first input -> its first output
    precision : the arithmetic the runtime uses: 'f32', or OpenVINO's 'bf16' on
        CPUs with bfloat16 instructions (its default there)
    """

    run: Network
    precision: str


def runtime_installed(name: str) -> bool:
    """Whether runtime ``name`` is installed (found without importing it)."""
    return importlib.util.find_spec(RUNTIME_MODULE[name]) is not None


def install_hint(name: str) -> str:
    """The command that installs backend or runtime ``name``: ``pip install 'mcmot[onnx]'``."""
    return f"pip install 'mcmot[{name}]'"


def backend_installed(backend: str) -> bool:
    """Whether a network exported from torch can run on ``backend`` (found without importing
    anything): always for torch; for a runtime, the ONNX exporter and the runtime."""
    if backend == "torch":
        return True
    return importlib.util.find_spec("onnx") is not None and runtime_installed(backend)


def fastest_runtime() -> str | None:
    """The fastest installed runtime (:data:`SPEED_ORDER`), or None."""
    return next((r for r in SPEED_ORDER if runtime_installed(r)), None)


def ort_offline() -> None:
    """Switch off ONNX Runtime's telemetry; must run before its first session.

    Its POSIX builds upload usage events to a Microsoft host from native code
    (a DNS lookup and a connection after a few dozen inferences, measured with
    strace), which no Python-level switch stops: only ``ORT_DISABLE_TELEMETRY=1``
    set before the runtime starts does. mcmot touches no network at run time,
    so the switch is forced, whatever the environment said.
    """
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def open_session(
    model: Path | bytes,
    runtime: str,
    threads: int | None = None,
    precision: str | None = None,
    output: str | None = None,
) -> Session:
    """Load an ONNX network (a file, or its serialised bytes) in ``runtime`` on the CPU.

    Parameters
    ----------
    threads : CPU threads; None = every core the process may use
    precision : OpenVINO's inference precision ('f32', 'bf16'); None = its default
    output : the graph output to return (default: the first)

    Raises
    ------
    McmotError : one line, for a runtime that is not installed or a network it cannot load
    """
    if runtime not in RUNTIMES:
        raise McmotError(f"bad runtime {runtime!r}; use {' or '.join(RUNTIMES)}")
    if not runtime_installed(runtime):
        raise McmotError(f"{runtime} is not installed: {install_hint(runtime)}")
    what = model if isinstance(model, Path) else "the network"
    try:
        if runtime == "onnx":
            return _onnx_session(model, threads or usable_cores(), output)
        return _openvino_session(model, threads, precision, output)
    except Exception as exc:  # noqa: BLE001 - runtimes raise their own kinds
        text = str(exc).strip().splitlines()
        raise McmotError(f"{runtime} cannot load {what}: {text[0] if text else exc!r}") from None


def _onnx_session(model: Path | bytes, threads: int, output: str | None) -> Session:
    ort_offline()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only
    opts.intra_op_num_threads = threads  # its default counts the machine's cores
    opts.inter_op_num_threads = 1
    source = str(model) if isinstance(model, Path) else model
    session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs = None if output is None else [output]
    return Session(lambda x: session.run(outputs, {name: x})[0], "f32")


@functools.cache
def _openvino_core() -> Any:
    """One OpenVINO core for the process, never released.

    Each core loads its own CPU plugin, and each plugin points the thread's
    alternate signal stack at a buffer of its own, restoring the one it found
    when it is released; plugins released out of order leave the stack on a
    freed buffer, and the next signal (Ctrl-C) is then a segmentation fault.
    """
    import openvino as ov

    return ov.Core()


def _openvino_session(
    model: Path | bytes, threads: int | None, precision: str | None, output: str | None
) -> Session:
    core = _openvino_core()
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    net = core.read_model(str(model)) if isinstance(model, Path) else core.read_model(model, b"")
    compiled = core.compile_model(net, "CPU", config)
    request = compiled.create_infer_request()
    used = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    port = compiled.output(output) if output is not None else compiled.output(0)
    # the input is read in place; the output comes back as a copy (share_outputs=False)
    return Session(lambda x: request.infer({0: x}, share_inputs=True)[port], used)
