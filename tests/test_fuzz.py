"""Generated files and option values through the boxes-only commands, in-process.

Every run must end with exit 0, 1 (a one-line ``error:``) or 2 (usage), never
a traceback; a failed command leaves no temporary file behind and changes no
existing output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mcmot.cli import app

#: Numbers a MOT field may hold, sane and hostile.
NUMBERS = st.one_of(
    st.integers(-3, 40).map(str),
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.sampled_from(["", "abc", "1e20", "99999999999999999999", "-0", "1,5", "\ufeff1", " "]),
)
VALID_ROW = st.builds(
    lambda f, i, x, y, w, h: f"{f},{i},{x},{y},{w},{h},1",
    st.integers(1, 12), st.integers(1, 4), st.integers(0, 600), st.integers(0, 300),
    st.integers(5, 80), st.integers(20, 160),
)  # fmt: skip
HOSTILE_ROW = st.lists(NUMBERS, min_size=0, max_size=11).map(",".join)


def _walkers(people: int, frames: int, seed: int) -> list[str]:
    """Rows of people walking in straight lines: files that track and associate."""
    rows = []
    for i in range(1, people + 1):
        x, y, dx = 60.0 * i + seed % 50, 40.0 + 7 * i, (-1) ** (i + seed) * (2 + i)
        rows += [f"{f},{i},{x + dx * f:.1f},{y:.1f},30,90,1" for f in range(1, frames + 1)]
    return rows


WALKERS = st.builds(_walkers, st.integers(0, 4), st.integers(1, 15), st.integers(0, 99))


def _mixed(walkers: list[str], extra: list[str], rng) -> str:
    rows = walkers + extra
    rng.shuffle(rows)
    return "\n".join(rows)


FILES = st.builds(
    _mixed,
    WALKERS,
    st.lists(st.one_of(VALID_ROW, HOSTILE_ROW), max_size=6),
    st.randoms(use_true_random=False),
)
#: Numeric options of ``track`` the fuzzer feeds.
TRACK_OPTIONS = ["--max-age-seconds", "--n-init-seconds", "--fps", "--min-confidence",
                 "--max-iou-distance"]  # fmt: skip
OPTIONS = st.lists(
    st.tuples(
        st.sampled_from(TRACK_OPTIONS),
        NUMBERS,
    ),
    max_size=2,
)

COMMANDS = [
    ["detect", "{scene}", "--from-gt", "--overwrite"],
    ["track", "{scene}", "--features", "none", "--overwrite"],
    ["associate", "{scene}", "--cues", "geometry", "--overwrite"],
    ["evaluate", "{scene}"],
]


def _outputs(scene: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(scene)): p.read_bytes()
        for p in sorted(scene.rglob("*"))
        if p.is_file() and "provenance" not in p.parts
    }


def _check(res, scene: Path, before: dict[str, bytes], args: list[str]) -> None:
    assert res.exit_code in (0, 1, 2), (args, res.exit_code, res.output)
    assert "Traceback" not in res.output, (args, res.output)
    if res.exit_code == 0:
        return
    assert res.exception is None or isinstance(res.exception, SystemExit), (args, res.exception)
    if res.exit_code == 1:
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert any(ln.startswith("error:") for ln in lines), (args, res.output)
    stray = [p for p in scene.rglob("*") if ".tmp" in p.name]
    assert not stray, (args, stray)
    assert _outputs(scene) == before, args  # a failed command changes nothing


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(gt1=FILES, gt2=FILES, options=OPTIONS)
def test_generated_files_and_options_never_give_a_traceback(tmp_path, gt1, gt2, options):
    scene = tmp_path / "scene"
    shutil.rmtree(scene, ignore_errors=True)
    (scene / "gt").mkdir(parents=True)
    (scene / "gt" / "c1.txt").write_text(gt1 + "\n")
    (scene / "gt" / "c2.txt").write_text(gt2 + "\n")
    runner = CliRunner()
    for command in COMMANDS:
        args = [a.format(scene=scene) for a in command]
        if command[0] == "track":
            for name, value in options:
                args += [name, value]
        before = _outputs(scene)
        res = runner.invoke(app, args)
        _check(res, scene, before, args)
