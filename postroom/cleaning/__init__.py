"""The e-mail cleaning stage: raw e-mail (text, HTML or RFC 822) to the client's own words.

`clean_message` is the one function used at ingestion, training and serving; see docs/cleaning.md.
"""

from postroom.cleaning.language import detect_language
from postroom.cleaning.models import CLEANER_VERSION, Attachment, CleanedEmail, RawFormat
from postroom.cleaning.pipeline import CleaningTrace, clean_message, clean_with_trace

__all__ = [
    "CLEANER_VERSION",
    "Attachment",
    "CleanedEmail",
    "CleaningTrace",
    "RawFormat",
    "clean_message",
    "clean_with_trace",
    "detect_language",
]
