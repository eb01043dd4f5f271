"""A small TFLite flatbuffer writer: float32 graphs of builtin ops, no TensorFlow needed.

Built on the generated schema in the ``tflite`` package (pure Python, Apache-2.0) and
``flatbuffers``. Only what a DDSP decoder needs is here: constants, float tensors, builtin ops
at version 1 (the oldest, known to every TFLite runtime the DDSP-VST plugin may ship), and
string metadata entries.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import flatbuffers
import numpy as np
from tflite.BuiltinOperator import BuiltinOperator as Op
from tflite.BuiltinOptions import BuiltinOptions
from tflite.TensorType import TensorType


def schema(table: str):
    """The generated module of a schema table (``tflite/__init__`` shadows them with classes)."""
    return importlib.import_module(f"tflite.{table}")


OptionsWriter = Callable[[flatbuffers.Builder], int]

_DTYPES = {np.dtype(np.float32): TensorType.FLOAT32, np.dtype(np.int32): TensorType.INT32,
           np.dtype(np.bool_): TensorType.BOOL}


@dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: int
    buffer: int


@dataclass
class _Operator:
    opcode: int  # index into the model's operator codes
    inputs: list[int]
    outputs: list[int]
    options_type: int
    options: OptionsWriter | None


class TFLiteGraph:
    """One subgraph; tensors are referred to by index."""

    def __init__(self) -> None:
        self._tensors: list[_Tensor] = []
        self._buffers: list[bytes] = [b""]  # buffer 0: the empty buffer of non-constant tensors
        self._operators: list[_Operator] = []
        self._opcodes: dict[tuple[int, int, str], int] = {}
        self._metadata: list[tuple[str, bytes]] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def tensor(self, name: str, shape: Sequence[int], dtype: int = TensorType.FLOAT32) -> int:
        self._tensors.append(_Tensor(name, tuple(int(s) for s in shape), dtype, 0))
        return len(self._tensors) - 1

    def input(self, name: str, shape: Sequence[int]) -> int:
        index = self.tensor(name, shape)
        self.inputs.append(index)
        return index

    def constant(self, name: str, value: np.ndarray | float | Sequence[int]) -> int:
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        if array.dtype == np.int64:
            array = array.astype(np.int32)
        self._buffers.append(np.ascontiguousarray(array).tobytes())
        self._tensors.append(_Tensor(name, array.shape, _DTYPES[array.dtype], len(self._buffers) - 1))
        return len(self._tensors) - 1

    def op(self, code: int, inputs: Sequence[int], out_shapes: Sequence[Sequence[int]],
           name: str, options_type: int = BuiltinOptions.NONE,
           options: OptionsWriter | None = None, version: int = 1,
           out_dtype: int = TensorType.FLOAT32, custom_code: str = "") -> list[int]:
        """Add an operator; returns the indices of its new output tensors.

        ``custom_code`` names a custom op (with code CUSTOM); ddspkit never exports one, the
        tests use it to check that the validator refuses them.
        """
        opcode = self._opcodes.setdefault((code, version, custom_code), len(self._opcodes))
        outputs = [self.tensor(name if len(out_shapes) == 1 else f"{name}:{i}", shape, out_dtype)
                   for i, shape in enumerate(out_shapes)]
        self._operators.append(_Operator(opcode, list(inputs), outputs, options_type, options))
        return outputs

    def rename(self, index: int, name: str) -> None:
        self._tensors[index].name = name

    def shape(self, index: int) -> tuple[int, ...]:
        return self._tensors[index].shape

    def add_metadata(self, name: str, data: bytes) -> None:
        self._metadata.append((name, data))

    def to_bytes(self, description: str = "") -> bytes:
        """Serialize as a TFLite model (schema version 3, file identifier TFL3)."""
        b = flatbuffers.Builder(1 << 20)
        buffer_data = list(self._buffers)
        metadata_buffers = []
        for _, data in self._metadata:
            buffer_data.append(data)
            metadata_buffers.append(len(buffer_data) - 1)

        def int_vector(start, values: Sequence[int]) -> int:
            start(b, len(values))
            for value in reversed(values):
                b.PrependInt32(int(value))
            return b.EndVector()

        buffers = []
        for data in buffer_data:
            vec = None
            if data:
                b.StartVector(1, len(data), 16)  # 16-byte alignment for tensor data
                b.head = b.head - len(data)
                b.Bytes[b.head : b.head + len(data)] = data
                vec = b.EndVector()
            schema("Buffer").BufferStart(b)
            if vec is not None:
                schema("Buffer").BufferAddData(b, vec)
            buffers.append(schema("Buffer").BufferEnd(b))

        tensors = []
        for t in self._tensors:
            name = b.CreateString(t.name)
            shape = int_vector(schema("Tensor").TensorStartShapeVector, t.shape)
            schema("Tensor").TensorStart(b)
            schema("Tensor").TensorAddShape(b, shape)
            schema("Tensor").TensorAddType(b, t.dtype)
            schema("Tensor").TensorAddBuffer(b, t.buffer)
            schema("Tensor").TensorAddName(b, name)
            tensors.append(schema("Tensor").TensorEnd(b))

        operators = []
        for o in self._operators:
            inputs = int_vector(schema("Operator").OperatorStartInputsVector, o.inputs)
            outputs = int_vector(schema("Operator").OperatorStartOutputsVector, o.outputs)
            options = o.options(b) if o.options else None
            schema("Operator").OperatorStart(b)
            schema("Operator").OperatorAddOpcodeIndex(b, o.opcode)
            schema("Operator").OperatorAddInputs(b, inputs)
            schema("Operator").OperatorAddOutputs(b, outputs)
            if options is not None:
                schema("Operator").OperatorAddBuiltinOptionsType(b, o.options_type)
                schema("Operator").OperatorAddBuiltinOptions(b, options)
            operators.append(schema("Operator").OperatorEnd(b))

        def table_vector(start, items: list[int]) -> int:
            start(b, len(items))
            for item in reversed(items):
                b.PrependUOffsetTRelative(item)
            return b.EndVector()

        sub_tensors = table_vector(schema("SubGraph").SubGraphStartTensorsVector, tensors)
        sub_ops = table_vector(schema("SubGraph").SubGraphStartOperatorsVector, operators)
        sub_in = int_vector(schema("SubGraph").SubGraphStartInputsVector, self.inputs)
        sub_out = int_vector(schema("SubGraph").SubGraphStartOutputsVector, self.outputs)
        sub_name = b.CreateString("main")
        schema("SubGraph").SubGraphStart(b)
        schema("SubGraph").SubGraphAddTensors(b, sub_tensors)
        schema("SubGraph").SubGraphAddInputs(b, sub_in)
        schema("SubGraph").SubGraphAddOutputs(b, sub_out)
        schema("SubGraph").SubGraphAddOperators(b, sub_ops)
        schema("SubGraph").SubGraphAddName(b, sub_name)
        subgraph = schema("SubGraph").SubGraphEnd(b)

        opcodes = []
        for (code, version, custom), _ in sorted(self._opcodes.items(), key=lambda item: item[1]):
            custom_name = b.CreateString(custom) if custom else None
            schema("OperatorCode").OperatorCodeStart(b)
            if custom_name is not None:
                schema("OperatorCode").OperatorCodeAddCustomCode(b, custom_name)
            # Runtimes before 2.4 read only the deprecated int8 field: fill both.
            schema("OperatorCode").OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            schema("OperatorCode").OperatorCodeAddBuiltinCode(b, code)
            schema("OperatorCode").OperatorCodeAddVersion(b, version)
            opcodes.append(schema("OperatorCode").OperatorCodeEnd(b))

        metadata = []
        for (name, _), buffer_index in zip(self._metadata, metadata_buffers, strict=True):
            meta_name = b.CreateString(name)
            schema("Metadata").MetadataStart(b)
            schema("Metadata").MetadataAddName(b, meta_name)
            schema("Metadata").MetadataAddBuffer(b, buffer_index)
            metadata.append(schema("Metadata").MetadataEnd(b))

        model_opcodes = table_vector(schema("Model").ModelStartOperatorCodesVector, opcodes)
        model_subgraphs = table_vector(schema("Model").ModelStartSubgraphsVector, [subgraph])
        model_buffers = table_vector(schema("Model").ModelStartBuffersVector, buffers)
        model_metadata = table_vector(schema("Model").ModelStartMetadataVector, metadata)
        model_description = b.CreateString(description)
        schema("Model").ModelStart(b)
        schema("Model").ModelAddVersion(b, 3)
        schema("Model").ModelAddOperatorCodes(b, model_opcodes)
        schema("Model").ModelAddSubgraphs(b, model_subgraphs)
        schema("Model").ModelAddDescription(b, model_description)
        schema("Model").ModelAddBuffers(b, model_buffers)
        schema("Model").ModelAddMetadata(b, model_metadata)
        b.Finish(schema("Model").ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def options(start, end, *setters) -> OptionsWriter:
    """An options table writer: ``options(XStart, XEnd, (XAddField, value), ...)``."""

    def write(builder: flatbuffers.Builder) -> int:
        start(builder)
        for setter, value in setters:
            setter(builder, value)
        return end(builder)

    return write


__all__ = ["TFLiteGraph", "Op", "BuiltinOptions", "TensorType", "options"]
