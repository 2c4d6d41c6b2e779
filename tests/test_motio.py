import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcmot.errors import McmotError
from mcmot.motio import (
    MotTable,
    Repeat,
    describe_repeats,
    format_mot,
    parse_mot,
    parse_truth,
    read_mot,
    write_mot,
)


def test_parse_columns_and_defaults():
    t = parse_mot("1,2,10,20,30,40\n2 -1 1.5 2.5 3 4 0.9\n", unique_ids=False)
    assert t.frames.tolist() == [1, 2]
    assert t.ids.tolist() == [2, -1]
    np.testing.assert_allclose(t.boxes[1], [1.5, 2.5, 3, 4])
    assert t.scores.tolist() == [1.0, 0.9]
    assert t.extra.tolist() == [[-1, -1, -1], [-1, -1, -1]]


def test_comments_blank_lines_and_sorting():
    t = parse_mot("# header\n\n3,1,0,0,1,1\n1,1,0,0,1,1\n2,1,0,0,1,1\n")
    assert t.frames.tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("1,2,3\n", "6 to 10 columns"),
        ("1,2,3,4,5,6,7,8,9,10,11\n", "6 to 10 columns"),
        ("1,2,x,4,5,6\n", "not a number"),
        ("1,2,nan,4,5,6\n", "NaN"),
        ("1.5,2,3,4,5,6\n", "frame must be an integer"),
        ("1,2.5,3,4,5,6\n", "id must be an integer"),
        ("1,2,3,4,-5,6\n", "negative"),
        ("0,2,3,4,5,6\n", "start at 1"),
    ],
)
def test_errors_name_line(text, needle):
    with pytest.raises(McmotError, match=needle) as exc:
        parse_mot("1,1,0,0,1,1\n" + text, "f.txt")
    assert "f.txt:2" in str(exc.value)


def test_repeated_frame_id_is_an_error_in_predictions():
    with pytest.raises(McmotError, match="tracks.txt:2: id 7 appears twice in frame 1"):
        parse_mot("1,7,0,0,1,1\n1,7,5,5,1,1\n", "tracks.txt")
    # detections may repeat id -1; detection files may opt out entirely
    assert len(parse_mot("1,-1,0,0,1,1\n1,-1,5,5,1,1\n")) == 2
    assert len(parse_mot("1,7,0,0,1,1\n1,7,5,5,1,1\n", unique_ids=False)) == 2


def test_repeated_frame_id_in_truth_is_kept_in_file_order_and_reported():
    text = "2,4,9,9,1,1\n1,4,0,0,1,1\n1,5,0,0,1,1\n1,4,5,5,1,1\n2,4,8,8,1,1\n1,4,7,7,1,1\n"
    table, repeats = parse_truth(text, "gt/c1.txt")
    assert table.frames.tolist() == [1, 1, 1, 1, 2, 2]
    assert table.boxes[:, 0].tolist() == [0, 0, 5, 7, 9, 8]  # within a frame: file order
    assert repeats == [Repeat(2, 4, (1, 5)), Repeat(1, 4, (2, 4, 6))]
    assert describe_repeats("gt/c1.txt", repeats) == (
        "gt/c1.txt: id 4 appears twice in frame 2 (lines 1, 5); "
        "id 4 appears 3 times in frame 1 (lines 2, 4, 6)"
    )
    assert describe_repeats("g", repeats, limit=1).endswith("; and 1 more repeated (frame, id)")
    assert parse_truth("1,4,0,0,1,1\n2,4,0,0,1,1\n")[1] == []


def test_zero_based():
    t = parse_mot("0,1,0,0,1,1\n", zero_based=True)
    assert t.frames.tolist() == [1]


def test_read_missing_and_folder(tmp_path):
    with pytest.raises(McmotError, match="not found"):
        read_mot(tmp_path / "nope.txt")
    with pytest.raises(McmotError, match="folder"):
        read_mot(tmp_path)
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(McmotError):
        read_mot(tmp_path / "bin.txt")


def test_empty_file(tmp_path):
    p = tmp_path / "e.txt"
    p.write_text("")
    assert len(read_mot(p)) == 0


def test_write_is_atomic_and_sorted(tmp_path):
    p = tmp_path / "out" / "a.txt"
    t = MotTable.from_arrays([2, 1], [5, 3], [[1, 2, 3, 4], [5, 6, 7, 8]])
    write_mot(p, t)
    assert p.read_text().splitlines()[0].startswith("1,3,5.00,6.00,7.00,8.00,1,-1,-1,-1")
    assert [q.name for q in p.parent.iterdir()] == ["a.txt"]


def test_failed_write_leaves_old_file(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old\n")

    bad = MotTable.from_arrays([1], [1], [[0, 0, 1, 1]])
    object.__setattr__(bad, "boxes", None)  # format_mot will fail mid-write
    with pytest.raises(TypeError):
        write_mot(p, bad)
    assert p.read_text() == "old\n"
    assert [q.name for q in tmp_path.iterdir()] == ["a.txt"]


rows = st.lists(
    st.tuples(
        st.integers(1, 50),
        st.integers(-1, 30),
        st.floats(-1000, 1000, allow_nan=False).map(lambda v: round(v, 2)),
        st.floats(-1000, 1000, allow_nan=False).map(lambda v: round(v, 2)),
        st.floats(0, 500, allow_nan=False).map(lambda v: round(v, 2)),
        st.floats(0, 500, allow_nan=False).map(lambda v: round(v, 2)),
        st.floats(0, 1, allow_nan=False).map(lambda v: round(v, 4)),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_round_trip(rs):
    t = MotTable.from_arrays(
        [r[0] for r in rs],
        [r[1] for r in rs],
        np.array([r[2:6] for r in rs]).reshape(-1, 4),
        [r[6] for r in rs],
    )
    back = parse_mot(format_mot(t), unique_ids=False)
    ref = t.sorted()
    assert back.frames.tolist() == ref.frames.tolist()
    assert back.ids.tolist() == ref.ids.tolist()
    np.testing.assert_allclose(back.boxes, ref.boxes, atol=0.006)
    np.testing.assert_allclose(back.scores, ref.scores, atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_garbage_never_crashes(text):
    try:
        parse_mot(text, "g.txt")
    except McmotError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["1", "-1", "2.5", "nan", "x", "", "1e309", ",", " "]), max_size=14)
)
def test_garbage_rows_never_crash(tokens):
    with contextlib.suppress(McmotError):
        parse_mot(",".join(tokens) + "\n", "g.txt")


def test_frame_slices():
    t = parse_mot("1,1,0,0,1,1\n1,2,0,0,1,1\n3,1,0,0,1,1\n")
    s = t.frame_slices()
    assert s == {1: slice(0, 2), 3: slice(2, 3)}


def test_real_pets_gt(shared_data):
    t = read_mot(shared_data / "pets09-s2l1" / "gt.txt")
    assert len(t) == 4650
    assert len(np.unique(t.ids)) == 19
    d = read_mot(shared_data / "pets09-s2l1" / "det.txt", unique_ids=False)
    assert (d.ids == -1).all()
