"""Plate geometry: corner order of tilted and side-on plates, lean estimation, text-line joining."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.vision.plate_colour import PlateColour
from edge.vision.plate_detect import DetectConfig, text_line_candidates
from edge.vision.plate_locate import apply_shear, estimate_shear, order_corners, turned_corners, warp_plate
from tests.unit.test_plate_colour import PLATE_STYLES, render_plate


@pytest.mark.parametrize("angle", [-60.0, -48.0, -10.0, 0.0, 10.0, 48.0, 60.0])
def test_order_follows_the_long_edges_of_tilted_plates(angle: float) -> None:
    corners = order_corners(cv2.boxPoints(((200.0, 200.0), (120.0, 36.0), angle)))
    tl, tr, br, bl = corners
    assert np.linalg.norm(tr - tl) == pytest.approx(120, abs=1)  # the top edge is a long edge
    assert np.linalg.norm(bl - tl) == pytest.approx(36, abs=1)
    assert tl[0] < tr[0]  # text runs left to right
    assert (tl[1] + tr[1]) < (bl[1] + br[1])  # the top edge is the upper one
    # clockwise on screen: tl -> tr -> br turns right
    cross = (tr[0] - tl[0]) * (br[1] - tr[1]) - (tr[1] - tl[1]) * (br[0] - tr[0])
    assert cross > 0


def test_order_does_not_depend_on_the_input_order() -> None:
    quad = np.float32([[10, 10], [50, 14], [48, 25], [9, 22]])
    for shift in range(4):
        assert np.allclose(order_corners(np.roll(quad, shift, axis=0)), quad)


def test_turned_corners_make_the_short_edges_top_and_bottom() -> None:
    side_on = np.float32([[100, 50], [140, 70], [140, 170], [100, 150]])  # taller than wide
    tl, tr, br, bl = turned_corners(order_corners(side_on))
    assert np.linalg.norm(tr - tl) == pytest.approx(np.hypot(40, 20), abs=1)
    assert (tl[1] + tr[1]) < (bl[1] + br[1])


def test_rectified_tilted_plate_reads_upright() -> None:
    plate = render_plate("苏E2Y256", *PLATE_STYLES[PlateColour.BLUE])
    frame = np.full((600, 600, 3), 90, np.uint8)
    frame[230:370, 80:520] = plate
    matrix = cv2.getRotationMatrix2D((300, 300), 48, 1.0)
    rotated = cv2.warpAffine(frame, matrix, (600, 600), borderValue=(90, 90, 90))
    corners = cv2.transform(np.float32([[[80, 230], [520, 230], [520, 370], [80, 370]]]), matrix)[0]
    crop = warp_plate(rotated, order_corners(corners[[2, 0, 3, 1]]), height=140, pad=0.0)
    upright = cv2.resize(plate, (crop.shape[1], crop.shape[0]))
    assert np.abs(crop.astype(int) - upright.astype(int)).mean() < 25


@pytest.mark.parametrize("shear", [-0.6, -0.3, 0.3, 0.6])
def test_estimated_shear_stands_leaning_characters_upright(shear: float) -> None:
    plate = cv2.resize(render_plate("京A12345", *PLATE_STYLES[PlateColour.BLUE]), (150, 48))
    leaning = apply_shear(plate, shear)
    estimate = estimate_shear(leaning)
    assert estimate == pytest.approx(-shear, abs=0.2)


def test_upright_plate_needs_no_shear() -> None:
    plate = cv2.resize(render_plate("京A12345", *PLATE_STYLES[PlateColour.YELLOW]), (150, 48))
    assert abs(estimate_shear(plate)) <= 0.1


def test_text_pieces_on_one_line_are_joined_into_one_plate_candidate() -> None:
    probs = np.zeros((200, 300), np.float32)
    probs[100:112, 50:80] = 0.9  # province and letter
    probs[100:112, 90:170] = 0.9  # serial, after the dot's gap
    probs[20:28, 200:205] = 0.9  # a speck: too small and too narrow
    candidates = text_line_candidates(probs, 2.0, 2.0, DetectConfig())
    assert len(candidates) == 1
    x0, y0, x1, y1 = candidates[0].bbox
    assert x0 < 100 and x1 > 340 and 180 < y0 < 200 and 222 < y1 < 245


def test_stacked_lines_are_not_joined() -> None:
    probs = np.zeros((200, 300), np.float32)
    probs[50:62, 50:150] = 0.9
    probs[90:102, 50:150] = 0.9
    candidates = text_line_candidates(probs, 1.0, 1.0, DetectConfig())
    assert len(candidates) == 2
