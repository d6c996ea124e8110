"""Build the byte-level language-modelling corpus shipped in ``asiarch/bench/data``.

Why a script: the corpus is data derived from a Debian package, and anyone must be able to
rebuild it byte for byte and check it against the sha256 recorded in ``docs/corpus.md``.

Source: the reStructuredText sources of the CPython 3.11 documentation, as installed by
Debian's ``python3.11-doc`` package (``apt-get install python3.11-doc``). Rule: every
``_sources/**/*.txt`` file except those under ``library/`` (the module reference, which
alone would exceed the size we want), in ascending order of the path relative to
``_sources`` compared as UTF-8 bytes, each file's bytes unchanged and followed by a newline
if it lacks one. The text is written xz-compressed, and the package's copyright file is
copied next to it because the PSF licence asks for its notice to be retained.

Usage: ``python scripts/build_corpus.py [--sources DIR] [--out-dir DIR]``
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import shutil
from pathlib import Path

DEFAULT_SOURCES = Path("/usr/share/doc/python3.11/html/_sources")
DEFAULT_COPYRIGHT = Path("/usr/share/doc/python3.11-doc/copyright")
DEFAULT_OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "asiarch" / "bench" / "data"
CORPUS_NAME = "pydoc.txt.xz"
LICENSE_NAME = "PYDOC-LICENSE"
EXCLUDED_TOP_DIRS = frozenset({"library"})
XZ_PRESET = 9 | lzma.PRESET_EXTREME


def corpus_files(sources: Path) -> list[Path]:
    """The files that make up the corpus, in corpus order."""
    files = [
        path
        for path in sources.rglob("*.txt")
        if path.is_file() and path.relative_to(sources).parts[0] not in EXCLUDED_TOP_DIRS
    ]
    return sorted(files, key=lambda path: path.relative_to(sources).as_posix().encode())


def corpus_text(files: list[Path]) -> bytes:
    """Concatenate the files, each ending in a newline."""
    parts = []
    for path in files:
        data = path.read_bytes()
        parts.append(data if data.endswith(b"\n") else data + b"\n")
    return b"".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    parser.add_argument("--copyright", type=Path, default=DEFAULT_COPYRIGHT)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    args = parser.parse_args()

    files = corpus_files(args.sources)
    if not files:
        raise SystemExit(f"no .txt files under {args.sources}; is python3.11-doc installed?")
    text = corpus_text(files)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    compressed = lzma.compress(text, format=lzma.FORMAT_XZ, preset=XZ_PRESET)
    (args.out_dir / CORPUS_NAME).write_bytes(compressed)
    shutil.copyfile(args.copyright, args.out_dir / LICENSE_NAME)

    print(f"files: {len(files)}")
    print(f"bytes: {len(text)}")
    print(f"compressed bytes: {len(compressed)}")
    print(f"sha256: {hashlib.sha256(text).hexdigest()}")


if __name__ == "__main__":
    main()
