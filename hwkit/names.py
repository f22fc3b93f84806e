"""Names from model and board files on their way into generated code, and the one quoting helper per
language those files are written in.

A name from a file is data: it may be empty, huge, share a 60-character prefix with its neighbour, or
contain quotes, brackets, ``$`` and newlines. :func:`identifier` and :func:`file_stem` map it to a
bounded, safe token; when the cleaned name is too long it keeps a prefix and appends a hash of the
FULL original name, so two names that differ only after the cut never collide (the truncation bug that
made two RTL layers share one weight file). :class:`Namer` adds uniqueness within one scope.

The quoting helpers take any string and return a literal that the language reads back as exactly
that string, with no substitution or command evaluation.
"""
from __future__ import annotations

import hashlib
import re

HASH_CHARS = 8          # 32 bits of sha256: collisions between two names of one model are ~1e-9
_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")
_NOT_FILE = re.compile(r"[^A-Za-z0-9_.-]+")


def short_hash(text: str, n: int = HASH_CHARS) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def _bound(original: str, cleaned: str, max_len: int) -> str:
    if len(cleaned) <= max_len:
        return cleaned
    keep = max(1, max_len - HASH_CHARS - 1)
    return f"{cleaned[:keep]}_{short_hash(original)}"


def identifier(name, max_len: int = 48, prefix: str = "n_") -> str:
    """``name`` as a C/C++/Verilog/Tcl-safe identifier (``[A-Za-z][A-Za-z0-9_]*``) of at most ``max_len``
    characters. Characters outside the set become ``_``; a name not starting with a letter gets
    ``prefix``; a name that would exceed ``max_len`` keeps a prefix plus ``_<hash of the full name>``.
    Valid names within the bound come back unchanged."""
    if max_len < HASH_CHARS + 2:
        raise ValueError(f"max_len must be >= {HASH_CHARS + 2}, got {max_len}")
    original = str(name)
    s = _NOT_IDENT.sub("_", original)
    if not s or not s[0].isalpha():
        s = prefix + s
    return _bound(original, s, max_len)


def file_stem(name, max_len: int = 80, default: str = "build") -> str:
    """``name`` as one path component (``[A-Za-z0-9_.-]``, no leading dot, never ``..``), bounded like
    :func:`identifier`."""
    if max_len < HASH_CHARS + 2:
        raise ValueError(f"max_len must be >= {HASH_CHARS + 2}, got {max_len}")
    original = str(name)
    s = _NOT_FILE.sub("_", original).strip("._") or default
    return _bound(original, s, max_len)


class Namer:
    """Unique identifiers within one scope: the same name twice gets ``_2``, ``_3``... (bounded too)."""

    def __init__(self, max_len: int = 48, prefix: str = "n_"):
        self.max_len, self.prefix = max_len, prefix
        self.taken: set[str] = set()

    def __call__(self, name) -> str:
        base = identifier(name, self.max_len, self.prefix)
        cand, i = base, 1
        while cand in self.taken:
            i += 1
            suffix = f"_{i}"
            cand = identifier(f"{name}{suffix}", self.max_len, self.prefix) \
                if len(base) + len(suffix) > self.max_len else base + suffix
        self.taken.add(cand)
        return cand


def _check_text(s, what: str) -> str:
    s = str(s)
    if "\0" in s:
        raise ValueError(f"{what}: a NUL character cannot be quoted")
    return s


def tcl_quote(s) -> str:
    """A Tcl word that evaluates to exactly ``s``: double quotes with every character Tcl substitutes
    inside them (``\\ $ [ ] " { }``) backslash-escaped and control characters as ``\\xHH`` escapes."""
    s = _check_text(s, "tcl_quote")
    out = []
    for ch in s:
        if ch in '\\$[]"{}':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}" if ch not in "\n\t" else ("\\n" if ch == "\n" else "\\t"))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def make_quote(s) -> str:
    """``s`` as the right-hand side of a Makefile assignment (``X := <here>``) that make reads back
    unchanged: ``$`` doubled, ``#`` escaped. A newline, a trailing backslash (line continuation) or
    leading/trailing blanks (make strips them) cannot be expressed: ValueError."""
    s = _check_text(s, "make_quote")
    if "\n" in s or "\r" in s or s.endswith("\\") or s != s.strip(" \t"):
        raise ValueError(f"make_quote: {s!r} cannot be a Makefile value (newline, trailing backslash or blanks)")
    return s.replace("$", "$$").replace("#", "\\#")


def _escaped_literal(s: str, specials: str) -> str:
    """``"..."`` with ``specials`` backslash-escaped and every byte outside printable ASCII as a
    three-digit octal escape (never longer, unlike ``\\x``): both C++ and Verilog read it back."""
    out = []
    for b in s.encode("utf-8", "surrogatepass"):
        ch = chr(b)
        if ch in specials:
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def cpp_string(s) -> str:
    """A C++ string literal (UTF-8 bytes) reading back as ``s``; ``?`` escaped against trigraphs."""
    return _escaped_literal(_check_text(s, "cpp_string"), '"\\?')


def verilog_string(s) -> str:
    """A Verilog string literal (``$readmemh`` file names, ``$display`` text)."""
    return _escaped_literal(_check_text(s, "verilog_string"), '"\\')


def shell_arg(s) -> str:
    """``s`` quoted for display in a POSIX shell command line (logs, "run this" hints). hwkit never runs
    a shell: tools get argument lists."""
    import shlex

    return shlex.quote(str(s))


__all__ = ["identifier", "file_stem", "Namer", "short_hash", "tcl_quote", "make_quote", "cpp_string",
           "verilog_string", "shell_arg"]
