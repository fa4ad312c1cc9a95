"""Silence the warnings an export always prints and that say nothing about this export.

Tracing a sentence-transformers body makes PyTorch warn twice that the trace may not generalise (the
attention mask's constant and the pooling's shape check: both hold for every input the graph takes, which
the parity gate measures), Optimum warns that opset 17 is below its recommended 18 (chosen: at 17 the O2
optimiser fuses attention, docs/serving-performance.md), and transformers that a library under it still passes
`torch_dtype`. Read by a team lead running `postroom export`, they look like faults. Every other warning
still shows.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# (logger name, text in the record's message)
KNOWN_LOG_RECORDS: tuple[tuple[str, str], ...] = (
    ("optimum.exporters.onnx.convert", "is lower than the recommended minimum opset"),
    ("transformers.configuration_utils", "`torch_dtype` is deprecated"),
    ("transformers.modeling_utils", "`torch_dtype` is deprecated"),
)


class _DropKnown(logging.Filter):
    """Drops one logger's records whose message contains `text`."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


@contextmanager
def known_export_warnings_silenced() -> Iterator[None]:
    """Within the block, drop PyTorch's TracerWarning and the log records in `KNOWN_LOG_RECORDS`."""
    from torch.jit import TracerWarning

    filters = [(logging.getLogger(name), _DropKnown(text)) for name, text in KNOWN_LOG_RECORDS]
    for logger, drop in filters:
        logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=TracerWarning)
            yield
    finally:
        for logger, drop in filters:
            logger.removeFilter(drop)
