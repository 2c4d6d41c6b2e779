import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcmot.boxes import (
    box_order,
    clip_tlwh,
    iou_matrix,
    tlwh_to_xyah,
    tlwh_to_xyxy,
    xyah_to_tlwh,
    xyxy_to_tlwh,
)

box = st.tuples(
    st.floats(-500, 500), st.floats(-500, 500), st.floats(0.5, 300), st.floats(0.5, 300)
)


def test_iou_hand_computed():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]])
    # overlap 5x10=50, union 150
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150, 0.0, 1.0]])


def test_iou_empty_shapes():
    assert iou_matrix(np.zeros((0, 4)), np.ones((3, 4))).shape == (0, 3)
    assert iou_matrix(np.ones((2, 4)), np.zeros((0, 4))).shape == (2, 0)


def test_bad_shape():
    with pytest.raises(ValueError):
        tlwh_to_xyxy(np.zeros((3, 5)))


@given(st.lists(box, min_size=1, max_size=5))
def test_round_trips(boxes):
    b = np.array(boxes)
    np.testing.assert_allclose(xyxy_to_tlwh(tlwh_to_xyxy(b)), b, atol=1e-9)
    np.testing.assert_allclose(xyah_to_tlwh(tlwh_to_xyah(b)), b, atol=1e-6)


@given(st.lists(box, min_size=1, max_size=4), st.lists(box, min_size=1, max_size=4))
def test_iou_symmetric_and_bounded(a, b):
    m = iou_matrix(np.array(a), np.array(b))
    assert np.all((m >= 0) & (m <= 1 + 1e-12))
    np.testing.assert_allclose(m, iou_matrix(np.array(b), np.array(a)).T)


def test_clip():
    out = clip_tlwh([[-5, -5, 20, 20], [90, 90, 20, 20]], 100, 100)
    np.testing.assert_allclose(out, [[0, 0, 15, 15], [90, 90, 10, 10]])


def test_box_order_is_a_function_of_the_boxes_alone():
    frames = np.array([2, 1, 1, 1])
    tlwh = np.array([[0, 0, 5, 5], [30, 0, 5, 5], [10, 9, 5, 5], [10, 2, 5, 5]], float)
    order = box_order(frames, tlwh)
    assert order.tolist() == [3, 2, 1, 0]
    perm = np.random.default_rng(0).permutation(4)
    again = box_order(frames[perm], tlwh[perm])
    assert (perm[again] == order).all()
