"""The canonical event registry (``spec/events``) and event detection from features and context only.

Public API: :func:`detect_events`, :func:`event_report`, :func:`load_event_registry`.
"""

from quant_platform.events.detect import detect_events
from quant_platform.events.registry import load_event_registry
from quant_platform.events.report import event_report

__all__ = ["detect_events", "event_report", "load_event_registry"]
