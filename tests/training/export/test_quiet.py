"""The export's known warnings are dropped inside the block, and nothing else is."""

from __future__ import annotations

import logging
import warnings

import pytest
from torch.jit import TracerWarning

from training.export.quiet import KNOWN_LOG_RECORDS, known_export_warnings_silenced

OPSET_MESSAGE = (
    "Opset 17 is lower than the recommended minimum opset (18) to export transformer. "
    "The ONNX export may fail or the exported model may be suboptimal."
)


class _Kept(logging.Handler):
    """Keeps the messages of the records that reach it (transformers' loggers do not propagate to root)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _log_known_and_other() -> list[str]:
    optimum = logging.getLogger("optimum.exporters.onnx.convert")
    transformers = logging.getLogger("transformers.configuration_utils")
    kept = _Kept()
    for logger in (optimum, transformers):
        logger.addHandler(kept)
    try:
        optimum.warning(OPSET_MESSAGE)
        transformers.warning("`torch_dtype` is deprecated! Use `dtype` instead!")
        optimum.warning("the export failed for another reason")
    finally:
        for logger in (optimum, transformers):
            logger.removeHandler(kept)
    return kept.messages


def test_known_log_records_are_dropped_inside_the_block_only() -> None:
    with known_export_warnings_silenced():
        inside = _log_known_and_other()
    outside = _log_known_and_other()

    assert inside == ["the export failed for another reason"]
    assert len(outside) == 3  # the filters are removed again
    assert {name for name, _ in KNOWN_LOG_RECORDS} == {
        "optimum.exporters.onnx.convert",
        "transformers.configuration_utils",
        "transformers.modeling_utils",
    }


def test_tracer_warnings_are_dropped_and_other_warnings_still_show() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with known_export_warnings_silenced():
            warnings.warn("trace may not generalise", TracerWarning, stacklevel=1)
            warnings.warn("something else", UserWarning, stacklevel=1)
        warnings.warn("trace after the block", TracerWarning, stacklevel=1)

    assert [(w.category, str(w.message)) for w in caught] == [
        (UserWarning, "something else"),
        (TracerWarning, "trace after the block"),
    ]


def test_filters_are_removed_when_the_export_fails() -> None:
    logger = logging.getLogger("optimum.exporters.onnx.convert")
    before = list(logger.filters)
    with pytest.raises(RuntimeError), known_export_warnings_silenced():
        raise RuntimeError("export failed")
    assert logger.filters == before
