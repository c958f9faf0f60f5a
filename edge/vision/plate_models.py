"""Text models for plates (line detection, recognition): where their ONNX files are installed, how they are opened."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np


class PlateOcrError(RuntimeError):
    """The OCR engine could not be loaded or failed on an image."""


class RecognitionModel(StrEnum):
    """PaddleOCR recognition models that ship inside Python wheels (no download at run time)."""

    # PP-OCRv4 mobile, from the rapidocr_onnxruntime 1.4.4 wheel (installed without its dependencies).
    # On the tight plate crops of the evaluation set it reads the province character right on 55 of 60,
    # against 40 of 60 for PP-OCRv6 small, at the same cost per crop.
    PP_OCRV4 = "pp-ocrv4"
    # PP-OCRv6 small, rapidocr 3.x's default recogniser.
    PP_OCRV6 = "pp-ocrv6"


class DetectionModel(StrEnum):
    """PaddleOCR text-line detection (DB) models that ship inside Python wheels."""

    # PP-OCRv4 mobile, from the rapidocr_onnxruntime 1.4.4 wheel: 32 ms on a 480x288 frame here.
    PP_OCRV4 = "pp-ocrv4"
    # PP-OCRv6 small, rapidocr 3.x's default detector: 46 ms on the same frame.
    PP_OCRV6 = "pp-ocrv6"


# (package carrying the file, path inside it); two tables because the enums' values coincide as strings
_RECOGNITION_FILES = {
    RecognitionModel.PP_OCRV4: ("rapidocr_onnxruntime", "models/ch_PP-OCRv4_rec_infer.onnx"),
    RecognitionModel.PP_OCRV6: ("rapidocr", "models/PP-OCRv6_rec_small.onnx"),
}
_DETECTION_FILES = {
    DetectionModel.PP_OCRV4: ("rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx"),
    DetectionModel.PP_OCRV6: ("rapidocr", "models/PP-OCRv6_det_small.onnx"),
}


@dataclass(frozen=True)
class LoadedRecogniser:
    """An open recognition session and its output classes (index 0 is the CTC blank)."""

    run: Callable[[np.ndarray], np.ndarray]
    characters: tuple[str, ...]


def model_path(model: RecognitionModel | DetectionModel) -> Path:
    """The installed ONNX file of a model, found without importing the package that carries it."""
    files = _RECOGNITION_FILES if isinstance(model, RecognitionModel) else _DETECTION_FILES
    package, relative = files[model]
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / relative
        if path.is_file():
            return path
    raise PlateOcrError(
        f"plate model {model.value} ({relative}) not installed: it ships in the Python package {package} "
        f"(see scripts/bootstrap.sh: pip install --no-deps {package})"
    )


def open_session(model: RecognitionModel | DetectionModel, threads: int = 1) -> Any:
    """An onnxruntime session of a model on the CPU with the given intra-op threads."""
    try:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return onnxruntime.InferenceSession(str(model_path(model)), options, providers=["CPUExecutionProvider"])
    except PlateOcrError:
        raise
    except Exception as err:  # noqa: BLE001 - any engine failure becomes the project's error
        raise PlateOcrError(f"cannot load the model {model.value}: {err}") from err


def load_detector(model: DetectionModel, threads: int = 1) -> Callable[[np.ndarray], np.ndarray]:
    """Open a text-line detection model: a function from a normalised NCHW batch to text probability maps."""
    return _runner(open_session(model, threads))


def load_recogniser(model: RecognitionModel, threads: int = 1) -> LoadedRecogniser:
    """Open a recognition model; its character list is read from the model's own metadata."""
    session = open_session(model, threads)
    metadata = session.get_modelmeta().custom_metadata_map
    if "character" not in metadata:
        raise PlateOcrError(f"recognition model {model.value} carries no character list")
    # PaddleOCR's CTC head: blank first, the dictionary, then the space character.
    characters = ("", *metadata["character"].splitlines(), " ")
    classes = session.get_outputs()[0].shape[-1]
    if isinstance(classes, int) and classes != len(characters):
        raise PlateOcrError(f"recognition model {model.value}: {classes} classes but {len(characters)} characters")
    return LoadedRecogniser(run=_runner(session), characters=characters)


def _runner(session: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A function from an input batch to the session's first output."""
    input_name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: batch})[0]

    return run
