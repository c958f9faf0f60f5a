"""Plate geometry: corner order of tilted and side-on plates, lean estimation, text-line joining."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.vision.plate_colour import PlateColour
from edge.vision.plate_detect import DetectConfig, text_line_candidates
from edge.vision.plate_locate import (
    apply_shear,
    estimate_shear,
    locate_plates,
    order_corners,
    quad_skew,
    turned_corners,
    warp_plate,
)
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


def test_text_lines_much_longer_than_a_plate_are_not_proposed() -> None:
    probs = np.zeros((200, 400), np.float32)
    probs[40:52, 50:150] = 0.9  # a plate's line: about 4:1 once grown
    probs[120:132, 50:242] = 0.9  # a sign's line: about 7:1 once grown
    candidates = text_line_candidates(probs, 1.0, 1.0, DetectConfig())
    assert [round(candidate.aspect) for candidate in candidates] == [4]


def _side_view_scene() -> tuple[np.ndarray, np.ndarray]:
    """A blue plate seen from its left: a narrow quadrilateral whose top and bottom edges fall steeply."""
    plate = render_plate("苏E2Y256", *PLATE_STYLES[PlateColour.BLUE])
    corners = np.float32([[560, 300], [610, 330], [610, 370], [560, 350]])
    source = np.float32([[0, 0], [439, 0], [439, 139], [0, 139]])
    matrix = cv2.getPerspectiveTransform(source, corners)
    frame = np.full((720, 1280, 3), 90, np.uint8)
    scene = cv2.warpPerspective(plate, matrix, (1280, 720), dst=frame, borderMode=cv2.BORDER_TRANSPARENT)
    return scene, corners


def test_side_view_plate_is_located_by_its_own_corners_not_its_rotated_box() -> None:
    scene, corners = _side_view_scene()
    found = [c for c in locate_plates(scene) if c.source == "blue"]
    assert found, "the blue plate was not proposed"
    # each corner within a few pixels of the plate's own (a rotated box would be off by tens of pixels)
    assert np.abs(found[0].corners - corners).max() < 8
    assert quad_skew(found[0].corners) > 0.3


def test_quad_skew_is_zero_for_rectangles() -> None:
    rect = order_corners(cv2.boxPoints(((200.0, 200.0), (120.0, 36.0), 30.0)))
    assert quad_skew(rect) == pytest.approx(0.0, abs=1e-3)


def test_warp_to_a_given_aspect_stretches_a_foreshortened_plate() -> None:
    scene, corners = _side_view_scene()
    assert warp_plate(scene, corners, height=48, pad=0.0).shape[1] < 70  # squeezed: about 1.3 x 48
    stretched = warp_plate(scene, corners, height=48, pad=0.0, aspect=3.14)
    assert stretched.shape[:2] == (48, 151)
    plate = cv2.resize(render_plate("苏E2Y256", *PLATE_STYLES[PlateColour.BLUE]), (151, 48))
    assert np.abs(stretched.astype(int) - plate.astype(int)).mean() < 30


@pytest.mark.parametrize("colour", [PlateColour.BLUE, PlateColour.YELLOW, PlateColour.GREEN])
def test_plates_at_dusk_are_found_by_their_colour(colour: PlateColour) -> None:
    plate = cv2.resize(render_plate("苏E2Y256", *PLATE_STYLES[colour]), (180, 57))
    frame = np.full((720, 1280, 3), 110, np.uint8)
    cv2.rectangle(frame, (380, 200), (900, 560), (60, 60, 60), -1)
    frame[420:477, 560:740] = plate
    dusk = (frame.astype(np.float32) * 0.3).astype(np.uint8)  # the whole frame at 30 % of its light
    found = [c for c in locate_plates(dusk) if c.source == colour.value]
    assert found, f"the {colour.value} plate was not proposed at dusk"
    x0, y0, x1, y1 = found[0].bbox
    assert abs(x0 - 560) < 8 and abs(x1 - 740) < 8 and abs(y0 - 420) < 8 and abs(y1 - 477) < 8
