"""Data larger than memory: sources read piece by piece, shuffled across the whole set with bounded memory.

- :class:`ArrayStream`: one ``.npy`` file or a folder of ``.npy`` shards, read block by block with plain file
  reads (nothing is loaded whole, and the pages read stay in the operating system's page cache instead of
  the process's memory, as they would with a memory map). A large CSV table becomes such shards in one chunked pass
  (:func:`csv_to_shards`, through pandas' ``read_csv(chunksize=...)``).
- :class:`ImageFolderStream`: a folder of image files, each decoded when it is drawn, in DataLoader worker
  processes (``TrainConfig.num_workers``).

How an :class:`ArrayStream` shuffles (per epoch, seeded by ``(seed, epoch)``, the same in every process):

1. The rows of all shards are cut into blocks of ``block_size`` consecutive rows, and the blocks are put in a
   random order over the whole set (shard shuffling, as WebDataset and tf.data do).
2. Process ``r`` of ``R`` (``torch.distributed``) and DataLoader worker ``w`` of ``W`` read every
   ``(R * W)``-th block of that order, each in one sequential read.
3. A shuffle buffer of ``buffer_size`` rows mixes rows of different blocks: every incoming row takes the place
   of a random row of the buffer, which is emitted.

Memory: the buffer + one block per worker + one batch, whatever the data's size. Every row is seen exactly
once per epoch in one process; under DDP every process takes the same number of full batches (a process
whose blocks run out goes round them again, as ``DistributedSampler`` pads). The trainer's batches are made here
(``batch_size`` rows per item), so no per-row Python work happens in the DataLoader. ``skip(n)`` resumes an epoch
after its first ``n`` rows (the same order is drawn again and the first rows are discarded, so a resumed epoch sees
exactly the rows the interrupted one had not).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from aekit.data.errors import DataError


def _npy_paths(source) -> list[Path]:
    if isinstance(source, (list, tuple)):
        paths = [Path(p) for p in source]
    else:
        root = Path(source)
        if root.is_dir():
            paths = sorted(root.glob("*.npy"))
            if not paths:
                raise DataError(f"{root}: no .npy shards in this folder; expected files such as part-00000.npy")
        elif root.is_file():
            paths = [root]
        else:
            raise DataError(f"{root}: no such file or folder; expected a .npy file or a folder of .npy shards")
    for p in paths:
        if p.suffix != ".npy" or not p.is_file():
            raise DataError(f"{p}: not a .npy file; expected NumPy arrays saved with numpy.save")
    return paths


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _worker() -> tuple[int, int]:
    """(this DataLoader worker's index, the number of workers); (0, 1) outside a worker."""
    info = torch.utils.data.get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


def _header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, offset of the data) of a ``.npy`` file, read from its header alone."""
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
        except ValueError as exc:
            raise DataError(f"{path}: not a readable .npy file ({exc})") from None
        if len(shape) < 2 or dtype.kind not in "biuf":
            raise DataError(f"{path}: an array of shape {shape} and dtype {dtype}; expected numbers shaped "
                            f"(n_samples, *sample_shape)")
        if fortran:
            raise DataError(f"{path}: a Fortran-ordered array; save it C-ordered "
                            f"(numpy.save(path, numpy.ascontiguousarray(a)))")
        return tuple(int(d) for d in shape), dtype, f.tell()


class ArrayStream(torch.utils.data.IterableDataset):
    """Rows of a ``.npy`` file or of a folder of ``.npy`` shards (same sample shape), read block by block.

    Parameters
    ----------
    source : path or list of paths
        A ``.npy`` file, a folder of them (sorted by name), or a list of files.
    block_size : int, default 1024
        Consecutive rows read together and the unit of the global shuffle.
    buffer_size : int, default 16384
        Rows in the shuffle buffer (per DataLoader worker): the memory the shuffle costs.
    shuffle : bool, default True
        False: rows in file order (for statistics and inference).
    transform : callable, optional
        Applied to every block ``(n, *sample_shape)`` float32 array after reading (the fitted scaler).
    exclude : iterable of (shard, start), optional
        Blocks (of ``block_size`` rows, named by their shard and first row) left out of every read: the
        rows :meth:`hold_out` set aside for validation or testing.

    Notes
    -----
    The trainer calls :meth:`configure` (batch size, seed) and :meth:`set_epoch`; iterating yields
    ``(inputs, targets)`` float32 tensor batches (targets = inputs).
    """

    def __init__(self, source, *, block_size: int = 1024, buffer_size: int = 16384, shuffle: bool = True,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None, exclude=()):
        super().__init__()
        if int(block_size) < 1 or int(buffer_size) < 0:
            raise ValueError(f"block_size must be >= 1 and buffer_size >= 0, got {block_size} and {buffer_size}")
        self.paths = _npy_paths(source)
        self.block_size, self.buffer_size, self.shuffle = int(block_size), int(buffer_size), bool(shuffle)
        self.transform = transform
        self.exclude = frozenset((int(s), int(a)) for s, a in exclude)
        headers = [_header(p) for p in self.paths]                 # (shape, dtype, data offset) per shard
        shapes = {h[0][1:] for h in headers}
        if len(shapes) > 1:
            raise DataError(f"the shards have different sample shapes {sorted(shapes)}; expected one")
        self.lengths = [h[0][0] for h in headers]
        # the rows' shape in the files; sample_shape is what the transform makes of it (a caller may set it)
        self.row_shape = self.sample_shape = headers[0][0][1:]
        self._layout = [(dtype, int(np.prod(self.row_shape)) * dtype.itemsize, offset)  # dtype, row bytes, offset
                        for _, dtype, offset in headers]
        self.batch_size, self.seed, self.epoch, self._skip = 256, 0, 0, 0
        self._kept = [(s, a, min(a + self.block_size, n)) for s, n in enumerate(self.lengths)
                      for a in range(0, n, self.block_size) if (s, a) not in self.exclude]

    def __len__(self) -> int:
        return int(sum(b - a for _, a, b in self._kept))

    @property
    def row_bytes(self) -> int:
        """Bytes of one row as float32 (what a row costs in memory once read)."""
        return 4 * int(np.prod(self.row_shape))

    # ------------------------------------------------------------------ what the trainer sets
    def configure(self, *, batch_size: int, seed: int) -> "ArrayStream":
        self.batch_size, self.seed = int(batch_size), int(seed)
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self._skip = int(epoch), 0

    def skip(self, n_rows: int) -> None:
        """Start this epoch after its first ``n_rows`` rows (of this process), for a resumed run."""
        self._skip = int(n_rows)

    def with_transform(self, transform, *, shuffle: bool | None = None) -> "ArrayStream":
        """The same rows through ``transform`` (e.g. a fitted scaler's), optionally with another ``shuffle``."""
        return ArrayStream(self.paths, block_size=self.block_size, buffer_size=self.buffer_size,
                           shuffle=self.shuffle if shuffle is None else shuffle, transform=transform,
                           exclude=self.exclude)

    def hold_out(self, n_rows: int, seed: int = 0) -> tuple[ArrayStream, list[tuple[int, int, int]]]:
        """Set aside whole blocks drawn at random until they hold at least ``n_rows`` rows (none for 0): returns
        (this stream without them, the blocks set aside as (shard, start, stop), to :meth:`read`)."""
        order = np.random.default_rng(seed).permutation(len(self._kept))
        held, got = [], 0
        for i in order.tolist():
            if got >= n_rows or len(held) == len(self._kept) - 1:  # keep at least one block to train on
                break
            held.append(self._kept[i])
            got += held[-1][2] - held[-1][1]
        held.sort()
        rest = ArrayStream(self.paths, block_size=self.block_size, buffer_size=self.buffer_size, shuffle=self.shuffle,
                           transform=self.transform, exclude=self.exclude | {(s, a) for s, a, _ in held})
        return rest, held

    def read(self, blocks: list[tuple[int, int, int]]) -> np.ndarray:
        """The rows of ``blocks`` ((shard, start, stop) each, e.g. from :meth:`hold_out`), joined, raw or
        through ``transform``."""
        return np.concatenate([self._read(b) for b in blocks])

    # ------------------------------------------------------------------ reading
    def blocks(self) -> list[tuple[int, int, int]]:
        """(shard, start, stop) of every block (less those excluded), in this epoch's order."""
        out = list(self._kept)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            out = [out[i] for i in rng.permutation(len(out))]
        return out

    def _read(self, block: tuple[int, int, int]) -> np.ndarray:
        """Rows ``start:stop`` of a shard, read from the file into a new array (one sequential read: no
        memory map, so the pages read stay in the page cache, not in this process's memory)."""
        return self._converted(self._raw(block))

    def _raw(self, block: tuple[int, int, int]) -> np.ndarray:
        shard, start, stop = block
        dtype, row_bytes, offset = self._layout[shard]
        rows = np.empty((stop - start, *self.row_shape), dtype=dtype)
        with open(self.paths[shard], "rb", buffering=0) as f:
            f.seek(offset + start * row_bytes)
            view = memoryview(rows).cast("B")
            got = 0
            while got < len(view):
                n = f.readinto(view[got:])
                if not n:
                    raise DataError(f"{self.paths[shard]}: the file ends before row {stop}; it is truncated")
                got += n
        return rows

    def _converted(self, rows: np.ndarray) -> np.ndarray:
        rows = rows.astype(np.float32, copy=False)
        return rows if self.transform is None else np.asarray(self.transform(rows), dtype=np.float32)

    def chunks(self, rows: int = 65536) -> Iterator[np.ndarray]:
        """The rows in file order (less the blocks excluded), at most ``rows`` at a time (raw, or through
        ``transform``), in this process."""
        rows = max(1, int(rows))
        runs: list[list[int]] = []  # [shard, start, stop] of consecutive kept blocks
        for s, a, b in self._kept:
            if runs and runs[-1][0] == s and runs[-1][2] == a:
                runs[-1][2] = b
            else:
                runs.append([s, a, b])
        for s, a, b in runs:
            for at in range(a, b, rows):
                yield self._read((s, at, min(at + rows, b)))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` rows drawn uniformly without replacement (all rows when there are fewer), in file order,
        each read on its own (no memory map, so memory holds only the rows drawn; raw, or through
        ``transform``)."""
        total = len(self)
        picks = np.sort(np.random.default_rng(seed).choice(total, size=min(int(n), total), replace=False))
        sizes = np.array([b - a for _, a, b in self._kept])
        ends = np.cumsum(sizes)
        block = np.searchsorted(ends, picks, side="right")               # the kept block of each pick
        starts = np.array([a for _, a, _ in self._kept])
        shards = np.array([s for s, _, _ in self._kept])
        offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        return self.take(offsets[shards[block]] + starts[block] + picks - (ends[block] - sizes[block]))

    def take(self, index) -> np.ndarray:
        """The rows at ``index`` (positions over all shards in file order, excluded blocks included), in the
        order given, each read on its own (memory holds only these rows; raw, or through ``transform``)."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        ends = np.cumsum(self.lengths)
        if len(index) and (index.min() < 0 or index.max() >= ends[-1]):
            raise IndexError(f"row index {int(index.min() if index.min() < 0 else index.max())} is out of range for "
                             f"{int(ends[-1])} rows")
        shard = np.searchsorted(ends, index, side="right")
        dtype = np.result_type(*[d for d, _, _ in self._layout])
        rows = np.empty((len(index), *self.row_shape), dtype=dtype)
        for s in np.unique(shard).tolist():
            here = np.flatnonzero(shard == s)
            first = ends[s] - self.lengths[s]
            d, row_bytes, offset = self._layout[s]
            fd = os.open(self.paths[s], os.O_RDONLY)
            try:
                for j in here.tolist():
                    raw = os.pread(fd, row_bytes, offset + (int(index[j]) - first) * row_bytes)
                    rows[j] = np.frombuffer(raw, dtype=d).reshape(self.row_shape)
            finally:
                os.close(fd)
        return self._converted(rows)

    def rows(self) -> Iterator[np.ndarray]:
        """This process's and worker's rows for the epoch, shuffled through the buffer, as arrays of rows."""
        rank, world = _distributed()
        worker, workers = _worker()
        mine = self.blocks()[rank * workers + worker::world * workers]
        rng = np.random.default_rng([self.seed, self.epoch, rank, worker])
        if not self.shuffle or self.buffer_size == 0:
            for block in mine:
                yield self._read(block)
            return
        buffer, filled = None, 0
        for block in mine:
            rows = self._read(block)
            if buffer is None:
                buffer = np.empty((self.buffer_size, *rows.shape[1:]), dtype=np.float32)
            take = min(self.buffer_size - filled, len(rows))          # fill the buffer first
            buffer[filled:filled + take] = rows[:take]
            filled += take
            rest = rows[take:]
            for a in range(0, len(rest), self.buffer_size):  # then each new row evicts a random buffered one
                piece = rest[a:a + self.buffer_size]
                slots = rng.choice(self.buffer_size, size=len(piece), replace=False)
                out = buffer[slots].copy()
                buffer[slots] = piece
                yield out
        if filled:
            yield buffer[:filled][rng.permutation(filled)]

    def __iter__(self):
        rank, world = _distributed()
        if world == 1:
            yield from self._batches(self.rows(), self._skip)
            return
        # under DDP every process must take the same number of steps: each (process, worker) makes its share
        # of ceil(rows / (batch_size * world)) full batches, going round its own rows again when they run out
        worker, workers = _worker()
        steps = math.ceil(len(self) / (self.batch_size * world))
        quota = steps // workers + (1 if worker < steps % workers else 0)

        def cycle():
            while True:
                yield from self.rows()

        for i, batch in enumerate(self._batches(cycle(), self._skip)):
            if i >= quota:
                return
            yield batch

    def _batches(self, pieces, skip: int):
        pending, have, size = [], 0, self.batch_size
        for rows in pieces:
            if skip:
                drop = min(skip, len(rows))
                rows, skip = rows[drop:], skip - drop
            if not len(rows):
                continue
            pending.append(rows)
            have += len(rows)
            while have >= size:
                joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
                batch, rest = joined[:size], joined[size:]
                pending, have = ([rest] if len(rest) else []), len(rest)
                t = torch.from_numpy(np.ascontiguousarray(batch))
                yield t, t
        if have:
            t = torch.from_numpy(np.ascontiguousarray(np.concatenate(pending)))
            yield t, t


def csv_to_shards(path: str | os.PathLike, out_dir: str | os.PathLike, *, rows_per_shard: int = 1_000_000,
                  chunk_rows: int = 100_000, columns: list[str] | None = None, **read_csv) -> ArrayStream:
    """Convert a CSV table, read ``chunk_rows`` at a time by pandas, into float32 ``.npy`` shards of
    ``rows_per_shard`` rows in ``out_dir`` (one pass, memory bounded by a chunk and a shard), and return an
    :class:`ArrayStream` over them. ``columns``: the numeric columns to keep (default: all; a non-numeric
    one is an error that names it). ``read_csv``: more arguments for :func:`pandas.read_csv`.
    Shards are written to a temporary name and renamed, so an interrupted conversion leaves no partial shard.
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("csv_to_shards reads the CSV with pandas, which is not installed; "
                          "pip install 'aekit[stream]'") from None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shard, filled, n_shards, names = None, 0, 0, None

    def flush(rows: np.ndarray) -> None:
        nonlocal n_shards
        final = out / f"part-{n_shards:05d}.npy"
        tmp = final.with_name(final.name + ".tmp")
        with open(tmp, "wb") as f:
            np.save(f, rows)
        os.replace(tmp, final)
        n_shards += 1

    for chunk in pd.read_csv(path, chunksize=int(chunk_rows), usecols=columns, **read_csv):
        if names is None:
            names = list(chunk.columns)
            bad = [c for c in names if not pd.api.types.is_numeric_dtype(chunk[c])]
            if bad:
                raise DataError(f"{path}: column(s) {bad} are not numeric; pass columns=[...] with the numeric "
                                f"ones to keep")
        values = chunk.to_numpy(dtype=np.float32)
        while len(values):
            if shard is None:
                shard = np.empty((rows_per_shard, values.shape[1]), dtype=np.float32)
            take = min(rows_per_shard - filled, len(values))
            shard[filled:filled + take], values = values[:take], values[take:]
            filled += take
            if filled == rows_per_shard:
                flush(shard)
                shard, filled = None, 0
    if filled:
        flush(shard[:filled])
    if n_shards == 0:
        raise DataError(f"{path}: the table has no rows")
    (out / "columns.txt").write_text("\n".join(map(str, names)) + "\n")
    return ArrayStream(out)


class ImageFolderStream(torch.utils.data.Dataset):
    """Image files under a folder (recursive, sorted), each read and decoded when drawn, so that DataLoader
    worker processes (``TrainConfig.num_workers``) decode in parallel with training. Every image must have
    ``size`` (H, W) after an optional resize and ``channels`` channels (1 grey, 3 RGB); values in [0, 1].
    Items are ``(image, image)`` float32 tensors shaped (C, H, W)."""

    def __init__(self, folder, *, size: tuple[int, int], channels: int = 3):
        from aekit.data.files import list_images

        self.folder = Path(folder)
        self.files = list_images(self.folder)
        if not self.files:
            raise DataError(f"{self.folder}: no image files found (PNG, JPEG, BMP, ...)")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.size, self.channels = (int(size[0]), int(size[1])), int(channels)
        self.sample_shape = (self.channels, *self.size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        from PIL import Image

        from aekit.data.files import read_image_file

        arr, _ = read_image_file(self.files[i], channels=self.channels)
        if arr.shape[:2] != self.size:
            im = Image.fromarray(np.uint8(np.clip(arr * 255 + 0.5, 0, 255)).squeeze())
            arr = np.asarray(im.resize(self.size[::-1], Image.BILINEAR), dtype=np.float32) / 255.0
        x = torch.from_numpy(np.ascontiguousarray(arr.reshape(*self.size, -1).transpose(2, 0, 1), dtype=np.float32))
        return x, x


__all__ = ["ArrayStream", "ImageFolderStream", "csv_to_shards"]
