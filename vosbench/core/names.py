"""Lists of names as users type them: ``"a, b,,c"`` -> ``["a", "b", "c"]``."""

from __future__ import annotations


def comma_list(text: str | None) -> list[str]:
    """The non-empty, stripped items of a comma-separated ``text`` (``[]`` for ``None`` or ``""``)."""
    if not text:
        return []
    return [item.strip() for item in text.split(",") if item.strip()]
