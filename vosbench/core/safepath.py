"""Names from dataset files used as paths, and the proof that every path we write stays put.

Sequence, video and frame names come from files anyone can edit (``meta.json``, ``ImageSets``
lists, JHMDB split lists, folder listings). Before such a name becomes part of a path it must be
one safe path component: :func:`check_name` refuses separators, ``.``/``..``, absolute paths, NUL,
control and invisible Unicode characters and over-long names, naming the file and line.
:func:`safe_join` is what every writer of a run folder uses: it joins checked components and
proves (after resolving symbolic links) that the result lies inside the folder.
"""

from __future__ import annotations

import errno
import os
import unicodedata
from pathlib import Path

from vosbench.core.errors import ConfigError, DatasetLayoutError, InputFileError

#: Longest accepted name in UTF-8 bytes: leaves room below the usual 255-byte file-name limit
#: for the extensions and temporary-file prefixes added when writing (``.<name>.png.XXXX.tmp``).
MAX_NAME_BYTES = 200


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a single safe path component, or ``None`` when it is."""
    if not isinstance(name, str):
        return f"not a string ({type(name).__name__})"
    if not name:
        return "empty"
    if name in (".", ".."):
        return f"{name!r} refers to a folder itself"
    if "\x00" in name:
        return "contains a NUL character"
    for sep in {"/", "\\", os.sep, os.altsep or "/"}:
        if sep in name:
            return f"contains the path separator {sep!r}"
    for ch in name:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return f"contains the control or invisible character U+{ord(ch):04X}"
    if name != name.strip():
        return "starts or ends with white space"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} bytes"
    return None


def folder_name(name: str, what: str) -> str:
    """``name`` as one folder-name component: a hub model id such as ``hf:facebook/dinov2-small``
    becomes ``hf:facebook--dinov2-small`` (as the Hugging Face cache names its folders); any name
    without path separators is returned as it is.

    Raises:
        ConfigError: the name cannot be a folder name even so (``..``, control characters, too long).
    """
    folded = name.replace("/", "--").replace("\\", "--")
    problem = name_problem(folded)
    if problem is not None:
        raise ConfigError(f"{what} {name!r} cannot name a run folder ({problem}); choose another name")
    return folded


def check_name(name: object, source: str | os.PathLike[str], line: int | None = None, what: str = "name") -> str:
    """Return ``name`` when it is one safe path component, else raise naming ``source:line``.

    Raises:
        DatasetLayoutError: the name could escape or confuse a folder (see the module docstring).
    """
    problem = name_problem(name)
    if problem is None:
        return name  # type: ignore[return-value]
    where = f"{source}:{line}" if line is not None else str(source)
    raise DatasetLayoutError(
        f"{where}: {what} {name!r} is not a single safe folder/file name ({problem}); names are used as "
        f"paths, so they must be one component without '/', '\\', '..', control characters, at most "
        f"{MAX_NAME_BYTES} bytes. Fix or remove this entry."
    )


def json_key_line(text: str, key: str) -> int | None:
    """1-based line of the first occurrence of ``key`` as a JSON string in ``text`` (best effort)."""
    import json

    for form in (json.dumps(key), json.dumps(key, ensure_ascii=False)):
        i = text.find(form)
        if i >= 0:
            return text.count("\n", 0, i) + 1
    return None


def inside(folder: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` resolves (links followed) to ``folder`` or below it."""
    try:
        base = Path(folder).resolve()
        target = Path(path).resolve()
    except (OSError, RuntimeError):  # a symbolic-link loop
        return False
    return target == base or base in target.parents


def safe_join(folder: str | os.PathLike[str], *parts: str) -> Path:
    """``folder / part / ...`` after checking each part and proving the result is inside ``folder``.

    Raises:
        InputFileError: a part is not one safe component, or the joined path resolves outside
            ``folder`` (e.g. through a symbolic link).
    """
    for part in parts:
        problem = name_problem(part)
        if problem is not None:
            raise InputFileError(
                f"refusing to write below {folder}: path component {part!r} is not a safe name ({problem})"
            )
    path = Path(folder).joinpath(*parts)
    if not inside(folder, path):
        raise InputFileError(f"refusing to write {path}: it resolves outside the run folder {folder}")
    return path


def os_error_reason(e: OSError) -> str:
    """The OS error without its path: ``No space left on device (ENOSPC)``."""
    name = errno.errorcode.get(e.errno, "") if e.errno else ""
    return (e.strerror or str(e)) + (f" ({name})" if name else "")


def os_error_text(e: OSError) -> str:
    """``<path>: <OS error> (ERRNAME)``, one line."""
    where = e.filename if e.filename is not None else "?"
    extra = f" -> {e.filename2}" if getattr(e, "filename2", None) else ""
    return f"{where}{extra}: {os_error_reason(e)}"
