"""Keep the Hugging Face libraries from reaching for the hub.

Without these variables, a hub id that is not cached makes transformers retry for about 100 s before it
fails. Postroom loads models from local paths (the packaged MiniLM, the registry) only.
"""

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def force_offline() -> None:
    """Set the offline variables unless the caller set them already (call before importing transformers)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
