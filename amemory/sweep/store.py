"""The sweep store: one SQLite file, one row per (configuration hash, seed).

One SQLite file in WAL mode (readers never block the writer), identified by ``PRAGMA application_id``
and a header table (``amemory_store``: magic string and schema version). Opening a file that is not
such a store (another program's SQLite database, any other file, a corrupt or truncated store) raises
``ValueError`` naming the file and the reason, and the file is never written to. Tables: ``configs``
(hash, task, version, canonical JSON of the configuration) and ``results`` (hash, seed, canonical JSON
of the result, seconds, host, time), primary key (hash, seed), so a pair can never be stored twice.

A store is a local file (the full tier keeps it in the git-ignored ``.sweeps/``). :func:`dump_store` writes its
finished rows to a portable, byte-deterministic ``.jsonl.gz`` dump (fit to commit), and :func:`load_dump` merges
such a dump into a store, all or nothing (every hash recomputed, a conflicting result refused), so that a long
sweep resumes in another session or on a fresh clone.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import socket
import sqlite3
import stat
import time
import zlib
from collections.abc import Iterable, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

from .hashing import canonical_json, config_hash

__all__ = [
    "APPLICATION_ID",
    "DUMP_FORMAT",
    "DUMP_VERSION",
    "MAGIC",
    "SCHEMA_VERSION",
    "Store",
    "dump_store",
    "load_dump",
]

SCHEMA_VERSION = 1
MAGIC = "amemory-sweep-store"
APPLICATION_ID = 0x616D656D  # b"amem", stored in the SQLite header (offset 68)
_SQLITE_HEADER = b"SQLite format 3\x00"

_SCHEMA = [
    "CREATE TABLE amemory_store(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE configs(hash TEXT PRIMARY KEY, task TEXT NOT NULL, version TEXT NOT NULL, config TEXT NOT NULL)",
    "CREATE TABLE results(hash TEXT NOT NULL REFERENCES configs(hash), seed INTEGER NOT NULL, result TEXT NOT NULL,"
    " seconds REAL, host TEXT, finished TEXT, PRIMARY KEY(hash, seed)) WITHOUT ROWID",
    "CREATE INDEX configs_task ON configs(task, version)",
]


# Claims: a driver that is about to compute (hash, seed) holds a lease on it, so that two drivers on one store
# split the work. A claim ends when its result is stored, when its driver releases it, when it expires, or when
# its driver is a dead process of this host.
_CLAIMS = (
    "CREATE TABLE IF NOT EXISTS claims(hash TEXT NOT NULL, seed INTEGER NOT NULL, owner TEXT NOT NULL,"
    " expires REAL NOT NULL, PRIMARY KEY(hash, seed)) WITHOUT ROWID"
)


def renew_claims(con: sqlite3.Connection, owner: str, lease: float) -> None:
    """Extend the claims of ``owner`` by ``lease`` seconds from now, on connection ``con`` (autocommit or not).

    Parameters
    ----------
    con : sqlite3.Connection
        A connection to the store (the heartbeat thread has its own).
    owner : str
        The driver's id.
    lease : float
        Seconds.
    """
    con.execute("UPDATE claims SET expires = ? WHERE owner = ?", (time.time() + lease, owner))
    if con.in_transaction:
        con.commit()


def _owner_host(owner: str) -> str | None:
    """The host of the driver id ``host:pid:tag``, or None for an id of another form."""
    parts = owner.split(":")
    return parts[0] if len(parts) >= 3 else None


def _owner_alive(owner: str, host: str) -> bool:
    """Whether the driver ``host:pid:tag`` may still be running (a process of another host: assume so)."""
    if _owner_host(owner) != host:
        return True
    parts = owner.split(":")
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


def _foreign(path: Path, why: str) -> ValueError:
    return ValueError(
        f"store_path {str(path)!r} is not a usable amemory sweep store: {why}. The file was left "
        "untouched; give another store_path, or move the file away if it is yours."
    )


_COLUMNS = {
    "amemory_store": {"key", "value"},
    "configs": {"hash", "task", "version", "config"},
    "results": {"hash", "seed", "result", "seconds", "host", "finished"},
}


def _check_regular(path: Path) -> os.stat_result:
    """A regular file, checked before anything opens it (a named pipe would block an open for ever)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise ValueError(f"store_path {str(path)!r} cannot be read: {e}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a pipe, socket or device)"
        raise ValueError(f"store_path {str(path)!r} is {kind}; give the path of an SQLite file")
    return st


def _check_existing(path: Path) -> None:
    """Validate an existing file as a store without writing to it: raw header, the file's size against the
    header's page count (a truncated store), then a read-only open (integrity, magic, schema column by column).

    Nothing is left beside a refused file: a ``-wal``/``-shm`` file that the read-only open created is removed.
    """
    side = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    existed = [p.exists() for p in side]
    try:
        _check_file(path)
    except ValueError:
        for p, had in zip(side, existed):
            if not had:
                try:
                    p.unlink()
                except OSError:
                    pass
        raise


def _check_file(path: Path) -> None:
    size = _check_regular(path).st_size
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as e:
        raise ValueError(f"store_path {str(path)!r} cannot be read: {e}") from None
    if len(head) < 100 or head[:16] != _SQLITE_HEADER:
        raise _foreign(path, "not an SQLite database (a foreign file, or a corrupt/truncated store)")
    app_id = int.from_bytes(head[68:72], "big")
    if app_id != APPLICATION_ID:
        raise _foreign(
            path,
            f"an SQLite database of another application (application_id {app_id:#x}, expected {APPLICATION_ID:#x})",
        )
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages, change, valid_for = (int.from_bytes(head[a : a + 4], "big") for a in (28, 24, 92))
    if page < 512 or page & (page - 1):
        raise _foreign(path, f"corrupt (page size {page} in its header)")
    if size % page or (valid_for == change and size < pages * page):
        raise _foreign(path, f"truncated or damaged ({size} bytes, but its header says {pages} pages of {page} bytes)")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    except sqlite3.Error as e:
        raise _foreign(path, f"SQLite cannot open it ({e})") from None
    try:
        check = [r[0] for r in con.execute("PRAGMA quick_check").fetchall()]
        if check != ["ok"]:
            raise _foreign(path, "corrupt (SQLite quick_check: " + "; ".join(map(str, check[:3])) + ")")
        header = dict(con.execute("SELECT key, value FROM amemory_store").fetchall())
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {t: {r[1] for r in con.execute(f"PRAGMA table_info({t})")} for t in _COLUMNS if t in tables}
    except sqlite3.Error as e:
        raise _foreign(path, f"corrupt or of another schema ({e})") from None
    finally:
        con.close()
    if header.get("magic") != MAGIC:
        raise _foreign(path, f"its header has magic {header.get('magic')!r}, expected {MAGIC!r}")
    try:
        schema = int(header.get("schema_version", ""))
    except ValueError:
        raise _foreign(path, f"invalid schema_version {header.get('schema_version')!r}") from None
    if schema > SCHEMA_VERSION:
        raise _foreign(
            path, f"written by a newer version of amemory (schema {schema}, this code reads <= {SCHEMA_VERSION})"
        )
    if not {"configs", "results"} <= tables:
        raise _foreign(path, f"tables configs/results missing (found {sorted(tables)})")
    for t, want in _COLUMNS.items():
        missing = want - columns.get(t, set())
        if missing:
            raise _foreign(path, f"table {t} lacks the columns {sorted(missing)}")


def _create(path: Path) -> None:
    """Create a new store atomically: build it under a temporary name, then hard-link it into place
    (fails if a file appeared meanwhile), so ``path`` is either absent or a complete store."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.time_ns()}.tmp")
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("BEGIN")
            for stmt in _SCHEMA:
                con.execute(stmt)
            from importlib import metadata

            try:
                pkg = metadata.version("amemory")
            except metadata.PackageNotFoundError:
                pkg = "unknown"
            con.executemany(
                "INSERT INTO amemory_store(key, value) VALUES (?, ?)",
                [
                    ("magic", MAGIC),
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
                    ("amemory_version", pkg),
                ],
            )
            con.execute("COMMIT")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: validated by the caller
        except OSError:  # a filesystem without hard links: a plain rename, unless the file appeared meanwhile
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


class Store:
    """An amemory sweep store: one SQLite file, one row per (configuration hash, seed).

    ``Store(path)`` opens an existing store (after checking it is one, without writing to it) or creates
    a new one (``create=True``). Raises ``ValueError`` for a foreign, corrupt or newer-schema file.
    Use as a context manager or call :meth:`close`.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file.
    create : bool
        Create a new store when ``path`` does not exist (else ``ValueError``).
    """

    def __init__(self, path, *, create: bool = True):
        if not isinstance(path, (str, os.PathLike)) or str(path) == "":
            raise ValueError(f"store_path must be a non-empty path (str or os.PathLike), got {path!r}")
        if not isinstance(create, bool):
            raise ValueError(f"create must be a bool, got {create!r}")
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(
                f"store_path {str(self.path)!r} is a directory; give a file name, "
                f"e.g. {str(self.path / 'sweeps.sqlite')!r}"
            )
        if not self.path.exists():
            if not create:
                raise ValueError(f"store_path {str(self.path)!r} does not exist (and create=False)")
            if not self.path.parent.is_dir():
                raise ValueError(
                    f"store_path {str(self.path)!r}: the directory {str(self.path.parent)!r} does not exist"
                )
            if not os.access(self.path.parent, os.W_OK | os.X_OK):
                raise ValueError(
                    f"store_path {str(self.path)!r}: the directory {str(self.path.parent)!r} is not writable, "
                    "so no store can be created there; give a path in a writable directory"
                )
            try:
                _create(self.path)
            except (OSError, sqlite3.Error) as e:
                raise ValueError(f"store_path {str(self.path)!r} cannot be created: {e}") from None
        _check_existing(self.path)
        # read-only: the file, or its directory (SQLite's WAL needs a -shm file beside it), is not writable
        self.readonly = not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK | os.X_OK))
        if self.readonly:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._con: sqlite3.Connection | None = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=60)
            self._host = socket.gethostname()
            return
        self._con = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self._con.execute("PRAGMA journal_mode = WAL")
        # In WAL mode, synchronous=NORMAL loses no committed transaction when the process is killed
        # (only on power loss), and avoids an fsync per finished task.
        self._con.execute("PRAGMA synchronous = NORMAL")
        self._con.execute(_CLAIMS)  # stores written before claims existed get the table on their first write open
        self._host = socket.gethostname()

    # -- context manager
    def close(self) -> None:
        """Close the connection (idempotent)."""
        con = getattr(self, "_con", None)
        if con is not None:
            con.close()
            self._con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _c(self) -> sqlite3.Connection:
        if self._con is None:
            raise ValueError("the store is closed")
        return self._con

    def _w(self) -> sqlite3.Connection:
        """The connection, for a write: a read-only store refuses it with a clear message."""
        if self.readonly:
            raise ValueError(
                f"store_path {str(self.path)!r} is read-only (the file or its directory is not writable): "
                "it can be read, but the runs it lacks cannot be stored; copy it to a writable place"
            )
        return self._c()

    # -- writing
    def add_configs(self, items: Iterable[tuple[str, str, str, str]]) -> None:
        """Register configurations ``(hash, task, version, config_json)`` (existing ones are kept).

        Parameters
        ----------
        items : iterable of (str, str, str, str)
            ``(hash, task id, code version, canonical JSON of the configuration)``.
        """
        con = self._w()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany(
                "INSERT OR IGNORE INTO configs(hash, task, version, config) VALUES (?, ?, ?, ?)", list(items)
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def put(
        self,
        h: str,
        seeds: Sequence[int],
        results: Sequence[str],
        *,
        seconds: float | None = None,
        host: str | None = None,
    ) -> int:
        """Store the canonical-JSON ``results`` of ``seeds`` of configuration ``h`` in one transaction.

        Pairs already stored are kept as they are (first write wins).

        Parameters
        ----------
        h : str
            A registered configuration hash.
        seeds : sequence of int
            The seeds of the results.
        results : sequence of str
            One canonical JSON text per seed.
        seconds : float or None
            Compute time of the task (split evenly over its seeds).
        host : str or None
            Where it ran (default: this host).

        Returns
        -------
        int
            The number of new rows.
        """
        if len(seeds) != len(results):
            raise ValueError(f"results must have one entry per seed ({len(seeds)}), got {len(results)}")
        if not all(isinstance(r, str) for r in results):
            raise ValueError("results must be canonical JSON strings (see canonical_json)")
        if any(isinstance(x, bool) or not isinstance(x, Integral) or x < 0 for x in seeds):
            raise ValueError(f"seeds must be non-negative ints, got {list(seeds)}")
        con = self._w()
        per = None if seconds is None else float(seconds) / max(len(seeds), 1)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        con.execute("BEGIN IMMEDIATE")
        try:
            if con.execute("SELECT 1 FROM configs WHERE hash = ?", (h,)).fetchone() is None:
                raise ValueError(f"configuration {h[:12]} is not registered in the store (add_configs first)")
            con.executemany("DELETE FROM claims WHERE hash = ? AND seed = ?", [(h, int(s)) for s in seeds])
            before = con.total_changes
            con.executemany(
                "INSERT OR IGNORE INTO results(hash, seed, result, seconds, host, finished) VALUES (?, ?, ?, ?, ?, ?)",
                [(h, int(s), r, per, host or self._host, stamp) for s, r in zip(seeds, results)],
            )
            n = con.total_changes - before
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return n

    # -- claims of concurrent drivers
    def claim(self, pairs: Iterable[tuple[str, int]], owner: str, lease: float) -> set[tuple[str, int]]:
        """Claim the (hash, seed) pairs that no live driver holds and that are not stored; one transaction.

        Claims of drivers that are dead processes of this host are dropped first, and expired claims of drivers
        of other hosts (whose liveness cannot be checked from here). A live driver of this host keeps its claims
        even when their lease ran out unrenewed (a paused process), so two drivers never compute the same run
        because one was paused; if its process id was reused by an unrelated process, its claims are kept until
        that process ends (the runs are then skipped and counted as claimed by others, and a rerun computes them).

        Parameters
        ----------
        pairs : iterable of (str, int)
            The runs this driver would compute.
        owner : str
            This driver's id, ``"host:pid:tag"``.
        lease : float
            Seconds until the claims expire unless renewed.

        Returns
        -------
        set of (str, int)
            The pairs this driver now holds.
        """
        pairs = list(dict.fromkeys((h, int(s)) for h, s in pairs))
        con = self._w()
        now = time.time()
        con.execute("BEGIN IMMEDIATE")
        try:
            owners = [r[0] for r in con.execute("SELECT DISTINCT owner FROM claims WHERE owner != ?", (owner,))]
            dead = [o for o in owners if not _owner_alive(o, self._host)]
            # a live driver of this host keeps its claims even when their lease ran out unrenewed (a paused
            # process: SIGSTOP, a suspended session); the lease is for drivers whose liveness cannot be seen
            here = [o for o in owners if _owner_host(o) == self._host and o not in dead]
            con.execute(
                f"DELETE FROM claims WHERE expires < ? AND owner NOT IN ({','.join('?' * len(here))})", (now, *here)
            )
            con.executemany("DELETE FROM claims WHERE owner = ?", [(o,) for o in dead])
            con.executemany(
                "INSERT OR IGNORE INTO claims(hash, seed, owner, expires) SELECT ?, ?, ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM results WHERE hash = ? AND seed = ?)",
                [(h, s, owner, now + lease, h, s) for h, s in pairs],
            )
            mine = {(h, int(s)) for h, s in con.execute("SELECT hash, seed FROM claims WHERE owner = ?", (owner,))}
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return mine & set(pairs)

    def renew(self, owner: str, lease: float) -> None:
        """Extend the claims of ``owner`` by ``lease`` seconds from now.

        Parameters
        ----------
        owner : str
            The driver's id.
        lease : float
            Seconds.
        """
        renew_claims(self._w(), owner, lease)

    def release(self, owner: str) -> None:
        """Drop every claim of ``owner`` (at the end of its run, finished or not).

        Parameters
        ----------
        owner : str
            The driver's id.
        """
        if not self.readonly:
            self._c().execute("DELETE FROM claims WHERE owner = ?", (owner,))

    def claimed_by_others(self, pairs: Iterable[tuple[str, int]], owner: str) -> int:
        """How many of ``pairs`` a live claim of another driver holds.

        Parameters
        ----------
        pairs : iterable of (str, int)
            (hash, seed) pairs.
        owner : str
            This driver's id.

        Returns
        -------
        int
        """
        want = {(h, int(s)) for h, s in pairs}
        rows = self._c().execute(
            "SELECT hash, seed FROM claims WHERE owner != ? AND expires >= ?", (owner, time.time())
        )
        return sum((h, int(s)) in want for h, s in rows)

    # -- reading
    def stored_seeds(self, hashes: Iterable[str]) -> dict[str, set[int]]:
        """For each hash, the set of seeds already stored.

        Parameters
        ----------
        hashes : iterable of str
            Configuration hashes.

        Returns
        -------
        dict of str to set of int
        """
        hashes = list(dict.fromkeys(hashes))
        out: dict[str, set[int]] = {h: set() for h in hashes}
        con = self._c()
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            q = f"SELECT hash, seed FROM results WHERE hash IN ({','.join('?' * len(part))})"
            for h, s in con.execute(q, part):
                out[h].add(int(s))
        return out

    def get(self, hashes: Sequence[str], seeds: Sequence[int]) -> list[list[Any]]:
        """Decoded results ``out[i][j]`` of configuration ``hashes[i]`` and seed ``seeds[j]`` (None if missing).

        Parameters
        ----------
        hashes : sequence of str
            Configuration hashes.
        seeds : sequence of int
            Seeds.

        Returns
        -------
        list of lists
        """
        want = list(dict.fromkeys(hashes))
        rows: dict[tuple[str, int], str] = {}
        con = self._c()
        for i in range(0, len(want), 500):
            part = want[i : i + 500]
            q = f"SELECT hash, seed, result FROM results WHERE hash IN ({','.join('?' * len(part))})"
            for h, s, r in con.execute(q, part):
                rows[(h, int(s))] = r
        return [[json.loads(rows[(h, int(s))]) if (h, int(s)) in rows else None for s in seeds] for h in hashes]

    def snapshot(self) -> dict[tuple[str, int], str]:
        """Every stored row as ``{(hash, seed): result_json}`` (to compare two stores).

        Returns
        -------
        dict
        """
        return {(h, int(s)): r for h, s, r in self._c().execute("SELECT hash, seed, result FROM results")}

    def count(self) -> int:
        """Number of stored (configuration, seed) rows.

        Returns
        -------
        int
        """
        return int(self._c().execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def table(self, task: str | None = None, version: str | None = None) -> list[dict]:
        """Rows ``{"hash", "task", "version", "config", "seed", "result"}`` (decoded), of one task/version if given.

        Parameters
        ----------
        task : str or None
            Only this task id.
        version : str or None
            Only this code version.

        Returns
        -------
        list of dict
        """
        q = (
            "SELECT c.hash, c.task, c.version, c.config, r.seed, r.result "
            "FROM results r JOIN configs c ON c.hash = r.hash"
        )
        cond, args = [], []
        if task is not None:
            cond.append("c.task = ?")
            args.append(task)
        if version is not None:
            cond.append("c.version = ?")
            args.append(version)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        q += " ORDER BY c.hash, r.seed"
        return [
            {"hash": h, "task": t, "version": v, "config": json.loads(c), "seed": int(s), "result": json.loads(r)}
            for h, t, v, c, s, r in self._c().execute(q, args)
        ]

    def summary(self) -> list[dict]:
        """Per (task, version): number of configurations and of stored rows.

        Returns
        -------
        list of dict
            ``{"task", "version", "configs", "rows"}``.
        """
        q = (
            "SELECT c.task, c.version, COUNT(DISTINCT c.hash), COUNT(r.seed) FROM configs c "
            "LEFT JOIN results r ON r.hash = c.hash GROUP BY c.task, c.version ORDER BY c.task, c.version"
        )
        return [{"task": t, "version": v, "configs": int(n), "rows": int(m)} for t, v, n, m in self._c().execute(q)]


# ---------------------------------------------------------------- portable dumps
DUMP_FORMAT = "amemory-sweep-dump"
DUMP_VERSION = 1
_DUMP_REQUIRED = ("hash", "task", "version", "config", "seed", "result")
_DUMP_KEYS = frozenset(_DUMP_REQUIRED + ("seconds", "host", "finished"))


def _dump_line(obj: Any) -> bytes:
    """One line of a dump: compact JSON with sorted keys (the canonical form of its values), and a newline."""
    return (json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False) + "\n").encode()


def _open_store(store: Any, name: str, *, create: bool) -> tuple[Store, bool]:
    """``(Store, whether this call opened it)`` from a :class:`Store` or a path."""
    if isinstance(store, Store):
        return store, False
    if not isinstance(store, (str, os.PathLike)) or str(store) == "":
        raise ValueError(f"{name} must be a Store or a non-empty path (str or os.PathLike), got {store!r}")
    return Store(store, create=create), True


def _dump_tasks(tasks: Any) -> list[str] | None:
    if tasks is None:
        return None
    if isinstance(tasks, str) or not isinstance(tasks, Iterable):
        raise ValueError(f"tasks must be None or a list of task ids (str), got {tasks!r}")
    out = list(dict.fromkeys(tasks))
    if not out or not all(isinstance(t, str) and t for t in out):
        raise ValueError(f"tasks must be None or a non-empty list of non-empty task ids (str), got {tasks!r}")
    return out


def dump_store(store: Store | str | os.PathLike, out: str | os.PathLike, tasks: Iterable[str] | None = None) -> int:
    """Write the finished rows of a store to a portable, deterministic dump (gzipped JSON lines).

    The first line is the header ``{"format": "amemory-sweep-dump", "rows": n, "version": 1}``; then one line
    per stored (configuration, seed): ``hash, task, version, config, seed, result, seconds, host, finished``
    (``config`` and ``result`` as the JSON values the store holds), sorted by (task, hash, seed), every object
    with sorted keys and no whitespace, gzipped with mtime 0 and no file name. The same store contents thus
    give a byte-identical file (with the same zlib), fit to be committed. The rows are read in one read
    transaction (a consistent snapshot, even while a sweep writes to the store); the file is written under a
    temporary name and renamed into place (its directory is created if needed), so ``out`` is either the
    previous file or the complete dump. :func:`load_dump` merges it into a store.

    Parameters
    ----------
    store : Store, str or os.PathLike
        The store (an existing file; it is only read).
    out : str or os.PathLike
        The dump to write, a name ending in ``.gz`` (e.g. ``reports/full/store/optimizer_grid.jsonl.gz``).
    tasks : iterable of str or None
        Only the rows of these task ids (a named sweep's id is its name); None: every row. An id that the
        store does not know is refused.

    Returns
    -------
    int
        The number of rows written.
    """
    if not isinstance(out, (str, os.PathLike)) or str(out) == "":
        raise ValueError(f"out must be a non-empty path (str or os.PathLike), got {out!r}")
    out_path = Path(out)
    if not out_path.name.endswith(".gz"):
        raise ValueError(f"out must be a file name ending in .gz (e.g. runs.jsonl.gz), got {str(out_path)!r}")
    if out_path.is_dir():
        raise ValueError(f"out {str(out_path)!r} is a directory; give a file name ending in .jsonl.gz")
    wanted = _dump_tasks(tasks)
    st, opened = _open_store(store, "store", create=False)
    tmp: Path | None = None
    try:
        con = st._c()
        con.execute("BEGIN")  # one read transaction: the header's count and the rows are one snapshot
        try:
            cond, args = "", []
            if wanted is not None:
                known = {r[0] for r in con.execute("SELECT DISTINCT task FROM configs")}
                unknown = [t for t in wanted if t not in known]
                if unknown:
                    raise ValueError(
                        f"tasks: the store {str(st.path)!r} has no task {unknown[0]!r} (its tasks: {sorted(known)})"
                    )
                cond, args = f" WHERE c.task IN ({','.join('?' * len(wanted))})", wanted
            join = "FROM results r JOIN configs c ON c.hash = r.hash" + cond
            n = int(con.execute(f"SELECT COUNT(*) {join}", args).fetchone()[0])
            rows = con.execute(
                "SELECT c.task, c.hash, c.version, c.config, r.seed, r.result, r.seconds, r.host, r.finished "
                f"{join} ORDER BY c.task, c.hash, r.seed",
                args,
            )
            out_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.{time.time_ns()}.tmp")
            written = 0
            with open(tmp, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
                    gz.write(_dump_line({"format": DUMP_FORMAT, "version": DUMP_VERSION, "rows": n}))
                    for task, h, version, config, seed, result, seconds, host, finished in rows:
                        if seconds is not None and not math.isfinite(seconds):
                            seconds = None
                        row = {
                            "hash": h,
                            "task": task,
                            "version": version,
                            "config": json.loads(config),
                            "seed": int(seed),
                            "result": json.loads(result),
                            "seconds": seconds,
                            "host": host,
                            "finished": finished,
                        }
                        gz.write(_dump_line(row))
                        written += 1
                raw.flush()
                os.fsync(raw.fileno())
        finally:
            con.execute("COMMIT")
        if written != n:  # cannot happen within one read transaction
            raise ValueError(f"store {str(st.path)!r} changed while it was dumped ({n} rows counted, {written} read)")
        os.replace(tmp, out_path)
        tmp = None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if opened:
            st.close()
    return n


def _not_a_dump(path: Path, why: str) -> ValueError:
    return ValueError(f"path {str(path)!r} is not an amemory sweep dump: {why}; nothing was loaded")


def _read_dump(path: Path) -> list[tuple[int, str, str, str, str, int, str, float | None, str | None, str | None]]:
    """Parse and check a whole dump: ``(line, hash, task, version, config_json, seed, result_json, seconds, host,
    finished)`` per row; ``ValueError`` (naming the line) for anything wrong, before any store is opened."""
    try:
        fh = gzip.open(path, "rb")
    except OSError as e:
        raise ValueError(f"path {str(path)!r} cannot be read: {e}") from None
    rows: list[tuple[int, str, str, str, str, int, str, float | None, str | None, str | None]] = []
    seen: dict[tuple[str, int], int] = {}
    header: dict | None = None
    lineno = 0

    def bad(why: str) -> ValueError:
        return ValueError(f"path {str(path)!r} line {lineno}: {why}; the file was refused, nothing was loaded")

    try:
        with fh:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    obj = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
                except (UnicodeDecodeError, ValueError) as e:
                    if header is None:
                        raise _not_a_dump(path, f"line 1 is not JSON ({e})") from None
                    raise bad(f"not a JSON line ({e})") from None
                if header is None:
                    if not isinstance(obj, dict) or obj.get("format") != DUMP_FORMAT:
                        raise _not_a_dump(path, f'line 1 is not a header {{"format": "{DUMP_FORMAT}", ...}}')
                    ver = obj.get("version")
                    if ver != DUMP_VERSION or isinstance(ver, bool):
                        raise _not_a_dump(path, f"dump version {ver!r}, this code reads version {DUMP_VERSION}")
                    n = obj.get("rows")
                    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                        raise _not_a_dump(path, f"its header has an invalid row count {n!r}")
                    header = obj
                    continue
                if not isinstance(obj, dict):
                    raise bad(f"a row must be a JSON object, got {type(obj).__name__}")
                missing = [k for k in _DUMP_REQUIRED if k not in obj]
                if missing:
                    raise bad(f"the row lacks the keys {missing}")
                extra = sorted(set(obj) - _DUMP_KEYS)
                if extra:
                    raise bad(f"the row has unknown keys {extra}")
                h, task, version, config, seed = (obj[k] for k in ("hash", "task", "version", "config", "seed"))
                seconds, host, finished = obj.get("seconds"), obj.get("host"), obj.get("finished")
                if not isinstance(h, str):
                    raise bad(f"hash must be a str, got {h!r}")
                if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                    raise bad(f"seed must be a non-negative int, got {seed!r}")
                if seconds is not None and (
                    isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds)
                ):
                    raise bad(f"seconds must be a finite number or null, got {seconds!r}")
                for key, v in (("host", host), ("finished", finished)):
                    if v is not None and not isinstance(v, str):
                        raise bad(f"{key} must be a str or null, got {v!r}")
                try:
                    expect = config_hash(config, task, version)
                    cfg_json = canonical_json(config, name="config")
                    res_json = canonical_json(obj["result"], name="result")
                except ValueError as e:
                    raise bad(str(e)) from None
                if h != expect:
                    raise bad(
                        f"hash {h[:16]!r}... does not recompute from its (config, task, version) "
                        f"(expected {expect[:16]!r}...): the row was altered"
                    )
                if (h, seed) in seen:
                    raise bad(f"configuration {h[:12]} seed {seed} appears twice (first on line {seen[h, seed]})")
                seen[h, seed] = lineno
                rows.append(
                    (lineno, h, task, version, cfg_json, seed, res_json, None if seconds is None else float(seconds),
                     host, finished)
                )  # fmt: skip
    except (OSError, EOFError, zlib.error) as e:  # not gzip (BadGzipFile is an OSError), truncated, unreadable
        if lineno <= 1 and header is None:
            raise _not_a_dump(path, f"not a readable gzip file ({e})") from None
        raise ValueError(
            f"path {str(path)!r}: unreadable after line {lineno} ({e}: a truncated or damaged file); "
            "the file was refused, nothing was loaded"
        ) from None
    if header is None:
        raise _not_a_dump(path, "the file is empty (no header line)")
    if len(rows) != header["rows"]:
        raise ValueError(
            f"path {str(path)!r}: its header says {header['rows']} rows but it holds {len(rows)} (a truncated or "
            "edited file); the file was refused, nothing was loaded"
        )
    return rows


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_dump(path: str | os.PathLike, store: Store | str | os.PathLike) -> tuple[int, int]:
    """Merge a dump written by :func:`dump_store` into a store (created if absent), all or nothing.

    The whole file is read and checked first: a header of this format, every row's hash recomputed from
    its (config, task, version) with :func:`~amemory.sweep.hashing.config_hash`, no (hash, seed) twice.
    Any error refuses the whole file (``ValueError`` naming the line) before the store is opened or
    created. The rows are then merged in one transaction: a row the store already holds with an equal
    result is skipped; one it holds with a different result is a conflict, which refuses the file and
    writes nothing. Loaded rows keep their seconds, host and finishing time.

    Parameters
    ----------
    path : str or os.PathLike
        The dump (``.jsonl.gz``).
    store : Store, str or os.PathLike
        The store to merge into; a path that does not exist is created as a new store.

    Returns
    -------
    tuple of (int, int)
        ``(added, already_present)`` row counts.
    """
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValueError(f"path must be a non-empty path (str or os.PathLike), got {path!r}")
    src = Path(path)
    if not src.exists():
        raise ValueError(f"path {str(src)!r} does not exist")
    if not src.is_file():
        raise ValueError(f"path {str(src)!r} is not a regular file")
    if not isinstance(store, Store) and (not isinstance(store, (str, os.PathLike)) or str(store) == ""):
        raise ValueError(f"store must be a Store or a non-empty path (str or os.PathLike), got {store!r}")
    rows = _read_dump(src)
    st, opened = _open_store(store, "store", create=True)
    try:
        con = st._w()
        con.execute("BEGIN IMMEDIATE")
        try:
            hashes = list(dict.fromkeys(r[1] for r in rows))
            stored: dict[tuple[str, int], str] = {}
            for i in range(0, len(hashes), 500):
                part = hashes[i : i + 500]
                q = f"SELECT hash, seed, result FROM results WHERE hash IN ({','.join('?' * len(part))})"
                for h, s, r in con.execute(q, part):
                    stored[(h, int(s))] = r
            new = []
            for line, h, _task, _version, _cfg, seed, res, seconds, host, finished in rows:
                old = stored.get((h, seed))
                if old is None:
                    new.append((h, seed, res, seconds, host, finished))
                    continue
                try:
                    same = canonical_json(json.loads(old)) == res
                except ValueError:
                    same = False
                if not same:
                    raise ValueError(
                        f"path {str(src)!r} line {line}: configuration {h[:12]} seed {seed} is stored in "
                        f"{str(st.path)!r} with a different result (a conflict); the file was refused, "
                        "nothing was written"
                    )
            con.executemany(
                "INSERT OR IGNORE INTO configs(hash, task, version, config) VALUES (?, ?, ?, ?)",
                list(dict.fromkeys((h, t, v, c) for _, h, t, v, c, *_ in rows)),
            )
            con.executemany(
                "INSERT INTO results(hash, seed, result, seconds, host, finished) VALUES (?, ?, ?, ?, ?, ?)", new
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        if opened:
            st.close()
    return len(new), len(rows) - len(new)
