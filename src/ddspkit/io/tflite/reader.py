"""A bounds-checked reader of TFLite flatbuffers: damaged files fail with one clear reason.

The generated ``tflite`` accessors trust every offset: a file cut short raises ``struct.error``
from deep inside them, and flipped bytes can read as plausible garbage that a TFLite runtime
later refuses ("not a valid Flatbuffer buffer") or crashes on. This reader walks the parts of
the schema a DDSP model uses, the way flatbuffers' own verifier does (every table, vtable,
vector and string in bounds and aligned), then checks what must hold between them (indices in
range, each constant's bytes matching its shape). Field slots follow ``schema.fbs``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

# Bytes per element of TensorType values; types of no fixed size (STRING, RESOURCE, VARIANT,
# packed INT4) are absent and their buffers are not size-checked.
_ITEM_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8,
               15: 4, 16: 2}
_FLOAT_DTYPES = {0: np.float32, 1: np.float16, 10: np.float64}
MAX_ENTRIES = 1_000_000  # more tables in one vector than any real model has


class DamagedModel(ValueError):
    """The bytes are not a whole, consistent TFLite model; the message says where."""


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type: int  # TensorType
    buffer: int  # index into TFLiteModel.buffers; 0 = no constant data
    sparse: bool = False  # sparse constants are stored compressed: no size check


@dataclass
class OperatorInfo:
    opcode_index: int
    inputs: list[int]
    outputs: list[int]


@dataclass
class OperatorCodeInfo:
    builtin_code: int  # max(deprecated_builtin_code, builtin_code), as TFLite reads it
    version: int
    custom_code: str


@dataclass
class SubgraphInfo:
    tensors: list[TensorInfo]
    inputs: list[int]
    outputs: list[int]
    operators: list[OperatorInfo]


@dataclass
class TFLiteModel:
    operator_codes: list[OperatorCodeInfo]
    subgraphs: list[SubgraphInfo]
    buffers: list[bytes]  # constant data, in the file's order
    metadata: dict[str, int] = field(default_factory=dict)  # name -> buffer index

    def constant(self, tensor: TensorInfo) -> np.ndarray | None:
        """A float tensor's constant values, or None (not float, or no data)."""
        data = self.buffers[tensor.buffer]
        dtype = _FLOAT_DTYPES.get(tensor.type)
        if dtype is None or not data:
            return None
        return np.frombuffer(data, dtype=dtype)


class _Reader:
    """Checked little-endian reads of one flatbuffer."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.size = len(data)

    def _need(self, pos: int, n: int, what: str, align: int = 1) -> None:
        if pos < 0 or pos + n > self.size:
            raise DamagedModel(f"{what} lies outside the file (byte {pos} of {self.size}): "
                               "the file is cut short or damaged")
        if align > 1 and pos % align:
            raise DamagedModel(f"{what} is misaligned (byte {pos}): the file is damaged")

    def scalar(self, fmt: str, pos: int, what: str) -> int:
        n = struct.calcsize(fmt)
        self._need(pos, n, what, align=n)
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def table(self, pos: int, what: str) -> _Table:
        vtable = pos - self.scalar("i", pos, what)
        vt_size = self.scalar("H", vtable, f"{what}'s vtable")
        obj_size = self.scalar("H", vtable + 2, f"{what}'s vtable")
        if vt_size < 4 or vt_size % 2:
            raise DamagedModel(f"{what} has a vtable of {vt_size} bytes: the file is damaged")
        self._need(vtable, vt_size, f"{what}'s vtable", 2)
        self._need(pos, obj_size, what)
        return _Table(self, pos, vtable, vt_size, obj_size, what)

    def deref(self, pos: int, what: str) -> int:
        """Follow a uoffset stored at ``pos``."""
        return pos + self.scalar("I", pos, what)

    def vector(self, pos: int, item_bytes: int, what: str) -> tuple[int, int]:
        """(first element's position, length) of the vector whose uoffset is at ``pos``."""
        start = self.deref(pos, what)
        length = self.scalar("I", start, f"{what}'s length")
        self._need(start + 4, length * item_bytes, what)
        return start + 4, length


@dataclass
class _Table:
    reader: _Reader
    pos: int
    vtable: int
    vt_size: int
    obj_size: int
    what: str

    def field(self, slot: int) -> int | None:
        """Absolute position of field ``slot``, or None when absent."""
        entry = 4 + 2 * slot
        if entry + 2 > self.vt_size:
            return None
        offset = self.reader.scalar("H", self.vtable + entry, f"{self.what}'s vtable")
        if offset == 0:
            return None
        if offset >= self.obj_size:
            raise DamagedModel(f"{self.what} field {slot} lies outside its table: the file is "
                               "damaged")
        return self.pos + offset

    def scalar(self, slot: int, fmt: str, default: int = 0) -> int:
        pos = self.field(slot)
        return default if pos is None else self.reader.scalar(fmt, pos, self.what)

    def table(self, slot: int, what: str) -> _Table | None:
        pos = self.field(slot)
        return None if pos is None else self.reader.table(self.reader.deref(pos, what), what)

    def vector(self, slot: int, item_bytes: int, what: str) -> tuple[int, int]:
        pos = self.field(slot)
        return (0, 0) if pos is None else self.reader.vector(pos, item_bytes, what)

    def ints(self, slot: int, what: str, fmt: str = "i") -> list[int]:
        start, length = self.vector(slot, struct.calcsize(fmt), what)
        return list(struct.unpack_from(f"<{length}{fmt}", self.reader.data, start)) if length else []

    def string(self, slot: int, what: str) -> str:
        if self.field(slot) is None:
            return ""
        start, length = self.vector(slot, 1, what)
        self.reader._need(start + length, 1, f"{what}'s terminator")
        try:
            return bytes(self.reader.data[start : start + length]).decode("utf-8")
        except UnicodeDecodeError:
            raise DamagedModel(f"{what} is not valid text: the file is damaged") from None

    def tables(self, slot: int, what: str) -> list[_Table]:
        start, length = self.vector(slot, 4, what)
        if length > MAX_ENTRIES:
            raise DamagedModel(f"{what} claims {length} entries: the file is damaged")
        return [self.reader.table(self.reader.deref(start + 4 * i, what), f"{what} {i}")
                for i in range(length)]


def read_tflite(data: bytes) -> TFLiteModel:
    """Parse and verify a TFLite flatbuffer's structure. Raises :class:`DamagedModel`."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise DamagedModel("not a TFLite flatbuffer (no 'TFL3' identifier)")
    reader = _Reader(data)
    model = reader.table(reader.deref(0, "the root offset"), "the model table")
    codes = [OperatorCodeInfo(max(t.scalar(0, "b"), t.scalar(3, "i")), t.scalar(2, "i", 1),
                              t.string(1, "an operator code's custom name"))
             for t in model.tables(1, "operator code")]
    buffers = []
    for t in model.tables(4, "buffer"):
        start, length = t.vector(0, 1, "a buffer's data")
        offset, size = t.scalar(1, "Q"), t.scalar(2, "Q")
        if offset > 1:  # data stored after the flatbuffer (models over 2 GB)
            reader._need(offset, size, "a buffer's external data")
            start, length = offset, size
        buffers.append(bytes(reader.data[start : start + length]))
    subgraphs = [_subgraph(t, len(codes), len(buffers)) for t in model.tables(2, "subgraph")]
    if not subgraphs:
        raise DamagedModel("the model has no subgraph")
    metadata = {}
    for t in model.tables(6, "metadata entry"):
        index = t.scalar(1, "I")
        if index >= len(buffers):
            raise DamagedModel(f"metadata entry points at buffer {index} of {len(buffers)}")
        metadata[t.string(0, "a metadata name")] = index
    return TFLiteModel(codes, subgraphs, buffers, metadata)


def _subgraph(table: _Table, n_codes: int, n_buffers: int) -> SubgraphInfo:
    tensors = []
    for t in table.tables(0, "tensor"):
        shape = tuple(t.ints(0, "a tensor's shape"))
        tensor = TensorInfo(t.string(3, "a tensor's name"), shape, t.scalar(1, "b"),
                            t.scalar(2, "I"), sparse=t.field(6) is not None)
        if tensor.buffer >= n_buffers:
            raise DamagedModel(f"tensor '{tensor.name}' points at buffer {tensor.buffer} of "
                               f"{n_buffers}: the file is damaged")
        if any(d < -1 for d in shape):
            raise DamagedModel(f"tensor '{tensor.name}' has shape {shape}: the file is damaged")
        tensors.append(tensor)
    n = len(tensors)
    inputs, outputs = table.ints(1, "subgraph inputs"), table.ints(2, "subgraph outputs")
    operators = [OperatorInfo(t.scalar(0, "I"), t.ints(1, "operator inputs"),
                              t.ints(2, "operator outputs"))
                 for t in table.tables(3, "operator")]
    for index in inputs + outputs:
        if not 0 <= index < n:
            raise DamagedModel(f"subgraph input/output {index} is not one of its {n} tensors")
    for op in operators:
        if op.opcode_index >= n_codes:
            raise DamagedModel(f"an operator uses code {op.opcode_index} of {n_codes}: the "
                               "file is damaged")
        if any(not -1 <= i < n for i in op.inputs + op.outputs):
            raise DamagedModel(f"an operator refers to a tensor outside 0..{n - 1}: the file "
                               "is damaged")
    return SubgraphInfo(tensors, inputs, outputs, operators)


def check_constants(model: TFLiteModel) -> list[str]:
    """Problems with constant data: sizes that disagree with shapes, non-finite weights."""
    problems = []
    n_bad_size, n_nonfinite, n_values = 0, 0, 0
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            data = model.buffers[tensor.buffer]
            item = _ITEM_BYTES.get(tensor.type)
            if not data or item is None or tensor.sparse:
                continue
            if len(data) != int(np.prod(tensor.shape, dtype=np.int64)) * item:
                n_bad_size += 1
                continue
            values = model.constant(tensor)
            if values is not None:
                n_values += values.size
                n_nonfinite += int(np.count_nonzero(~np.isfinite(values)))
    if n_bad_size:
        problems.append(f"{n_bad_size} constant tensor(s) hold a different number of bytes "
                        "than their shape needs: the file is damaged")
    if n_nonfinite:
        problems.append(f"{n_nonfinite} of {n_values} weights are NaN or infinite: the model "
                        "is broken (a training that diverged?) and would play silence or noise")
    return problems
