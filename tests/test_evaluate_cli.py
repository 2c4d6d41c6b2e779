"""``mcmot evaluate``: the command, its JSON, eval.json, the reference values and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.errors import McmotError
from mcmot.scene import Scene
from mcmot.stages.evaluate import KEYS, EvaluateConfig, run_evaluate

runner = CliRunner()
RANGES = {1: (800, 1200, 4), 2: (800, 1200, 4), 6: (1000, 1500, 3)}
BOX_A = "10,20,30,60"
BOX_B = "200,20,30,60"


def make_scene(root: Path, gt: dict[str, str], pred: dict[str, str], stage="global") -> Path:
    """A scene without pixels: gt/<cam>.txt and <stage>/<cam>.txt with the given text."""
    for folder, files in (("gt", gt), (stage, pred)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for cam, text in files.items():
            (root / folder / f"{cam}.txt").write_text(text)
    return root


def mvmhat_scene(shared_data: Path, root: Path, seq: int) -> Path:
    """Sequence ``seq`` of mvmhat-sample as a scene: gt/<view>.txt and global/<view>.txt."""
    src = shared_data / "mvmhat-sample"
    for v in range(1, RANGES[seq][2] + 1):
        for folder, dst in (("gt", "gt"), ("res", "global")):
            (root / dst).mkdir(parents=True, exist_ok=True)
            shutil.copy(src / folder / f"{seq}_{v}.txt", root / dst / f"{v}.txt")
    return root


def invoke(*args: str):
    return runner.invoke(app, ["evaluate", *map(str, args)])


def assert_one_line_error(res, text: str) -> None:
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert text in lines[0], lines[0]


# ------------------------------------------------------------------ reference values
@pytest.fixture(scope="module")
def mvmhat(shared_data, tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("mvmhat")
    return {seq: mvmhat_scene(shared_data, root / f"seq{seq}", seq) for seq in RANGES}


@pytest.mark.parametrize(
    "seq, aidp, aidr",
    [(1, 0.769074, 0.731340), (2, 0.737413, 0.794086), (6, 0.714370, 0.811603)],
)
def test_reference_per_sequence(mvmhat, seq, aidp, aidr):
    start, end, _ = RANGES[seq]
    res = invoke(mvmhat[seq], "--frames", f"{start}:{end}", "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)["scenes"][f"seq{seq}"]
    assert s["AIDP"] == pytest.approx(aidp, abs=1e-6)
    assert s["AIDR"] == pytest.approx(aidr, abs=1e-6)
    report = json.loads((mvmhat[seq] / "eval.json").read_text())
    assert report["frames"] == [start, end]
    missed, fp, mme, bbx = {
        1: (1490, 1121, 2185, 30645),
        2: (-14, 1008, 2219, 29907),
        6: (-680, 738, 1594, 17824),
    }[seq]
    cv = report["crossview"]
    assert (cv["missed"], cv["fp"], cv["mme"], cv["bbx"]) == (missed, fp, mme, bbx)


def test_reference_combined(mvmhat):
    # default range = the span of ground-truth frames = the README's ranges
    res = invoke(mvmhat[1], mvmhat[2], mvmhat[6], "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert list(data) == ["scenes", "combined"]
    assert list(data["scenes"]) == ["seq1", "seq2", "seq6"]
    for summary in [*data["scenes"].values(), data["combined"]]:
        assert list(summary) == list(KEYS)
    c = data["combined"]
    expected = {
        "AIDP": 0.740286,
        "AIDR": 0.779009,
        "AIDF1": 0.759154,
        "MHAA": 0.800207,
        "MOTA": 0.880327,
        "IDF1": 0.793402,
        "IDP": 0.768557,
        "IDR": 0.819907,
        "HOTA": 0.699272,
    }
    for key, value in expected.items():
        assert c[key] == pytest.approx(value, abs=1e-6), key
    assert (c["IDSW"], c["FP"], c["FN"]) == (218, 2604, 660)
    assert c["A"] == pytest.approx((c["MOTA"] + c["MHAA"]) / 2)
    assert c["F"] == pytest.approx((c["IDF1"] + c["AIDF1"]) / 2)
    for seq, (start, end, _) in RANGES.items():
        assert json.loads((mvmhat[seq] / "eval.json").read_text())["frames"] == [start, end]


def test_table_output(mvmhat):
    res = invoke(mvmhat[6])
    assert res.exit_code == 0, res.output
    for word in ("IDF1", "HOTA", "AIDF1", "MHAA", "seq6 1000:1500"):
        assert word in res.stdout


# ------------------------------------------------------------------ small scenes
def two_cameras(root: Path) -> Path:
    gt = {
        "c1": f"1,1,{BOX_A},1\n2,1,{BOX_A},1\n",
        "c2": f"1,1,{BOX_B},1\n2,1,{BOX_B},1\n",
    }
    pred = {
        "c1": f"1,3,{BOX_A},1\n2,3,{BOX_A},1\n",
        "c2": f"1,3,{BOX_B},1\n2,4,{BOX_B},1\n",
    }
    return make_scene(root, gt, pred)


def test_small_scene_values_and_outputs(tmp_path):
    scene = two_cameras(tmp_path / "s")
    res = invoke(scene, "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)["scenes"]["s"]
    # over time: all 4 boxes matched; c2 switches 3 -> 4 once
    assert (s["FP"], s["FN"], s["IDSW"]) == (0, 0, 1)
    assert s["MOTA"] == pytest.approx(1 - 1 / 4)
    assert s["IDF1"] == pytest.approx(3 / 4)
    # across views: frame 1 labels agree (3, 3), frame 2 disagree (3, 4)
    assert s["AIDP"] == pytest.approx(0.5) and s["AIDR"] == pytest.approx(0.5)
    assert s["MHAA"] == pytest.approx(1 - 2 / 4)  # frame 2: lab_common empty -> missed 2
    report = json.loads((scene / "eval.json").read_text())
    assert set(report["cameras"]) == {"c1", "c2"}
    assert report["cameras"]["c2"]["IDSW"] == 1
    prov = json.loads((scene / "provenance" / "evaluate.json").read_text())
    assert prov["stage"] == "evaluate" and "eval.json" in prov["outputs"]
    assert "gt/c1.txt" in prov["inputs"]


BOX_C = "400,20,30,60"


def test_repeated_truth_rows_are_kept_and_scored_as_the_reference_code_does(tmp_path):
    """Ground truth that repeats a (frame, id), scored by hand.

    gt/c1.txt gives id 2 two boxes in frame 1 (lines 2-3, B then C) and in
    frame 3 (lines 5-6, C then B). Both rows stay: they are read with one
    warning naming the lines, and every box counts.

    Across views (the official code, crossview-metrics.md): a true id repeated
    within a view counts at its first box in file order, and a label at its
    first box. Frame 1: c1 labels 1->7, 2->8 (B), 2->9 (C); c2 labels 1->7,
    2->9. lab_common {7, 9}; id 1 agrees (7, 7), id 2 counts c1's first box,
    labelled 8 (not common): right 1, MME 2 - 1 = 1, MISSED 2 (2 - 2) = 0,
    BBX 3 + 2 = 5, P = R = 1/2. Frame 2: id 1 agrees, P = R = 1, BBX 2.
    Frame 3: c1's first box of id 2 (C) is unmatched (label 0), its second (B)
    is labelled 9; c2 labels 2->9. lab_common {9}, right 0, MME 1, MISSED 0,
    BBX 3, P = R = 0. So AIDP = AIDR = (1/2 + 1 + 0) / 3 = 1/2, FP 0, and
    MHAA = 1 - (2 * 2 + 0 + 0) / 10 = 0.6.

    Over time (TrackEval's CLEAR, Identity, HOTA): c1 has 6 boxes, 5 matched
    (C in frame 3 is missed), no switch (after frame 1 id 2 keeps 9, the
    prediction of its last matched box). Identity and HOTA count id 2 once
    per frame: c1 IDTP = 4 (1-7 in 2 frames, 2-9 in 2) of 4 presences and 5
    predictions; c2 is perfect (4 of 4). Pooled: MOTA = 1 - 1/10, IDF1 =
    2*8 / (2*8 + 1 + 0) = 16/17, DetA = 9/10, AssA = (2 + 1/2 + 2 + 4) / 9,
    HOTA = sqrt(DetA AssA).
    """
    gt = {
        "c1": f"1,1,{BOX_A}\n1,2,{BOX_B}\n1,2,{BOX_C}\n2,1,{BOX_A}\n3,2,{BOX_C}\n3,2,{BOX_B}\n",
        "c2": f"1,1,{BOX_A}\n1,2,{BOX_B}\n2,1,{BOX_A}\n3,2,{BOX_B}\n",
    }
    pred = {
        "c1": f"1,7,{BOX_A}\n1,8,{BOX_B}\n1,9,{BOX_C}\n2,7,{BOX_A}\n3,9,{BOX_B}\n",
        "c2": f"1,7,{BOX_A}\n1,9,{BOX_B}\n2,7,{BOX_A}\n3,9,{BOX_B}\n",
    }
    scene = make_scene(tmp_path / "dup", gt, pred)
    res = invoke(scene, "--json")
    assert res.exit_code == 0, res.output
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning")]
    assert warnings == [
        "warning: dup: gt/c1.txt: id 2 appears twice in frame 1 (lines 2, 3); id 2 appears "
        "twice in frame 3 (lines 5, 6); scored as the benchmark's official code does"
    ]
    s = json.loads(res.stdout)["scenes"]["dup"]
    assert s["AIDP"] == pytest.approx(0.5) and s["AIDR"] == pytest.approx(0.5)
    assert s["AIDF1"] == pytest.approx(0.5) and s["MHAA"] == pytest.approx(0.6)
    report = json.loads((scene / "eval.json").read_text())
    cross = report["crossview"]
    assert (cross["missed"], cross["fp"], cross["mme"], cross["bbx"]) == (0, 0, 2, 10)
    assert (s["FP"], s["FN"], s["IDSW"]) == (0, 1, 0)
    assert s["MOTA"] == pytest.approx(0.9) and s["IDF1"] == pytest.approx(16 / 17)
    assert s["DetA"] == pytest.approx(0.9) and s["AssA"] == pytest.approx(8.5 / 9)
    assert s["HOTA"] == pytest.approx((0.9 * 8.5 / 9) ** 0.5)
    c1 = report["cameras"]["c1"]
    assert (c1["IDTP"], c1["IDFN"], c1["IDFP"], c1["MT"]) == (4, 0, 1, 2)
    assert any("appears twice" in w for w in report["warnings"])


def test_repeated_ids_in_a_prediction_file_are_an_error(tmp_path):
    scene = two_cameras(tmp_path / "s")
    (scene / "global" / "c1.txt").write_text(f"1,3,{BOX_A},1\n1,3,{BOX_B},1\n")
    assert_one_line_error(invoke(scene), "global/c1.txt:2: id 3 appears twice in frame 1")


def test_single_camera_scene_has_null_crossview(tmp_path):
    scene = make_scene(tmp_path / "one", {"c": f"1,1,{BOX_A}\n"}, {"c": f"1,2,{BOX_A}\n"})
    res = invoke(scene, "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)["scenes"]["one"]
    assert s["MOTA"] == 1.0 and s["IDF1"] == 1.0
    for key in ("AIDP", "AIDR", "AIDF1", "MHAA", "A", "F"):
        assert s[key] is None


def test_pred_tracks(tmp_path):
    scene = make_scene(tmp_path / "t", {"c": f"1,1,{BOX_A}\n"}, {"c": f"1,9,{BOX_A}\n"}, "tracks")
    assert_one_line_error(invoke(scene), "--pred tracks")
    res = invoke(scene, "--pred", "tracks", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["scenes"]["t"]["IDF1"] == 1.0


def test_zero_based_frames(tmp_path):
    gt = {"c": f"0,1,{BOX_A}\n1,1,{BOX_A}\n2,1,{BOX_A}\n"}
    pred = {"c": f"0,1,{BOX_A}\n1,1,{BOX_A}\n"}
    scene = make_scene(tmp_path / "z", gt, pred)
    assert_one_line_error(invoke(scene), "0-based")
    res = invoke(scene, "--zero-based", "--frames", "0:1", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["scenes"]["z"]["FN"] == 0
    assert json.loads((scene / "eval.json").read_text())["frames"] == [1, 2]


def test_library_api_without_writing(tmp_path):
    scene = two_cameras(tmp_path / "s")
    result = run_evaluate([Scene(scene)], EvaluateConfig(), write=False)
    assert not (scene / "eval.json").exists()
    assert result.combined()["IDSW"] == 1


# ------------------------------------------------------------------ bad input
def test_missing_scene(tmp_path):
    assert_one_line_error(invoke(tmp_path / "nope"), "scene not found")


def test_missing_gt_folder(tmp_path):
    (tmp_path / "global").mkdir()
    (tmp_path / "global" / "c.txt").write_text(f"1,1,{BOX_A}\n")
    assert_one_line_error(invoke(tmp_path), "no gt/ folder")


def test_missing_prediction_folder(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "c.txt").write_text(f"1,1,{BOX_A}\n")
    assert_one_line_error(invoke(tmp_path), "no global/ folder")


def test_prediction_camera_without_truth_is_skipped_with_a_warning(tmp_path):
    scene = two_cameras(tmp_path / "s")
    (scene / "global" / "c9.txt").write_text(f"1,1,{BOX_A}\n")
    res = invoke(scene, "--json")
    assert res.exit_code == 0, res.output
    assert "warning" in res.stderr and "global/c9.txt has no gt/c9.txt" in res.stderr
    assert "c9" not in json.loads((scene / "eval.json").read_text())["cameras"]


def test_truth_camera_without_prediction_counts_as_missed(tmp_path):
    scene = two_cameras(tmp_path / "s")
    (scene / "global" / "c2.txt").unlink()
    res = invoke(scene, "--json")
    assert res.exit_code == 0, res.output
    assert "gt/c2.txt has no global/c2.txt" in res.stderr
    assert json.loads(res.stdout)["scenes"]["s"]["FN"] == 2


def test_empty_files(tmp_path):
    scene = two_cameras(tmp_path / "s")
    (scene / "global" / "c1.txt").write_text("")
    (scene / "gt" / "c2.txt").write_text("")
    res = invoke(scene, "--json")
    assert res.exit_code == 0, res.output
    assert "global/c1.txt is empty" in res.stderr and "gt/c2.txt is empty" in res.stderr
    s = json.loads(res.stdout)["scenes"]["s"]
    assert (s["FN"], s["FP"]) == (2, 2)
    (scene / "gt" / "c1.txt").write_text("")
    assert_one_line_error(invoke(scene), "every gt/ file is empty")


def test_frames_outside_the_range(tmp_path):
    scene = two_cameras(tmp_path / "s")
    assert_one_line_error(invoke(scene, "--frames", "50:60"), "no ground-truth box in frames")
    res = invoke(scene, "--frames", "2:2", "--json")
    assert res.exit_code == 0, res.output
    assert "2 ground-truth and 2 predicted rows outside frames 2:2 ignored" in res.stderr
    assert json.loads(res.stdout)["scenes"]["s"]["IDSW"] == 0
    with open(scene / "global" / "c1.txt", "a") as fh:
        fh.write(f"9,3,{BOX_A},1\n")  # a prediction after the last truth frame
    res = invoke(scene, "--json")
    assert "1 predicted rows outside frames 1:2 ignored" in res.stderr
    assert json.loads(res.stdout)["scenes"]["s"]["FP"] == 0


def test_bad_frames_option_and_malformed_file(tmp_path):
    scene = two_cameras(tmp_path / "s")
    assert_one_line_error(invoke(scene, "--frames", "abc"), "--frames")
    assert_one_line_error(invoke(scene, "--frames", "5:1"), "before start")
    (scene / "gt" / "c1.txt").write_text("1,1,2,3\n")
    assert_one_line_error(invoke(scene), "c1.txt:1")


def test_bad_input_leaves_no_output(tmp_path):
    good = two_cameras(tmp_path / "good")
    bad = tmp_path / "bad"
    bad.mkdir()
    assert_one_line_error(invoke(good, bad), "no gt/ folder")
    assert not (good / "eval.json").exists()


def test_same_scene_twice(tmp_path):
    scene = two_cameras(tmp_path / "s")
    with pytest.raises(McmotError, match="twice"):
        run_evaluate([Scene(scene), Scene(scene)], EvaluateConfig())
