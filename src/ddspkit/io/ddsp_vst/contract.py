"""What Magenta's DDSP-VST plugin (v1.1.0, TFLite 2.9.1) requires of a model file.

The one statement of the contract, shared by the graph writer, the checker and the probe
that runs a model in a child process; it imports nothing (the probe must start fast).

- exactly 3 inputs and 4 outputs, float32, matched by tensor **name** and size
  (:data:`INPUTS`, :data:`OUTPUTS`); one invoke per 20 ms frame at 16 kHz;
- only builtin ops in versions TFLite 2.9.1 knows (:data:`KNOWN_OPS_2_9`);
- an uncompressed zip with ``metadata.json`` (:data:`REQUIRED_METADATA`) appended after the
  flatbuffer, whose ``export_time`` is unique per model;
- a first byte that is a small non-zero ASCII value (the plugin reads files as text).
"""

from __future__ import annotations

SAMPLE_RATE_HZ = 16000
FRAME_RATE_HZ = 50
N_HARMONICS = 60
N_NOISE_BANDS = 65
GRU_UNITS = 512

F0_INPUT, POWER_INPUT, STATE_INPUT = "call_f0_scaled:0", "call_pw_scaled:0", "call_state:0"
AMPLITUDE_OUTPUT, HARMONICS_OUTPUT, NOISE_OUTPUT, STATE_OUTPUT = (
    f"StatefulPartitionedCall:{i}" for i in range(4))
INPUTS = {F0_INPUT: 1, POWER_INPUT: 1, STATE_INPUT: GRU_UNITS}  # name -> values, in this order
OUTPUTS = {AMPLITUDE_OUTPUT: 1, HARMONICS_OUTPUT: N_HARMONICS, NOISE_OUTPUT: N_NOISE_BANDS,
           STATE_OUTPUT: GRU_UNITS}
REQUIRED_METADATA = {"mean_min_pitch_note_hz": float, "mean_max_pitch_note_hz": float,
                     "mean_min_power_note": float, "mean_max_power_note": float,
                     "version": str, "export_time": str}
VST_EXTRA_HINT = "pip install 'ddspkit[vst]' (ai-edge-litert)"

# Builtin ops and the highest version TFLite 2.9.1's BuiltinOpResolver registers (from its
# kernels/register.cc), for the ops a DDSP decoder can contain; anything else is refused.
KNOWN_OPS_2_9: dict[str, int] = {
    "ADD": 4, "SUB": 5, "MUL": 5, "DIV": 2, "POW": 1, "EXP": 1, "LOG": 1, "RSQRT": 2, "SQRT": 1,
    "SQUARE": 1, "SQUARED_DIFFERENCE": 2, "MEAN": 3, "SUM": 2, "MAXIMUM": 4, "MINIMUM": 4,
    "FULLY_CONNECTED": 9, "BATCH_MATMUL": 4, "LOGISTIC": 3, "TANH": 3, "LEAKY_RELU": 2,
    "RELU": 3, "CONCATENATION": 3, "RESHAPE": 1, "SQUEEZE": 2, "EXPAND_DIMS": 1, "SPLIT": 4,
    "SPLIT_V": 2, "STRIDED_SLICE": 6, "SLICE": 5, "GATHER": 5, "PACK": 3, "UNPACK": 4,
    "TRANSPOSE": 5, "LESS": 2, "LESS_EQUAL": 2, "GREATER": 2, "GREATER_EQUAL": 2, "EQUAL": 3,
    "NOT_EQUAL": 3, "SELECT": 2, "SELECT_V2": 1, "CAST": 4, "WHILE": 1, "FILL": 3, "SHAPE": 1,
    "ZEROS_LIKE": 1, "NEG": 1, "ABS": 4, "LOGICAL_AND": 1, "LOGICAL_OR": 1, "LOGICAL_NOT": 1,
    "QUANTIZE": 3, "DEQUANTIZE": 5, "SOFTMAX": 3, "TILE": 3, "BROADCAST_TO": 3,
}


# What a DDSP-VST decoder can output: exp_sigmoid bounds amplitude and noise to (0, 2], the
# harmonic distribution sums to 1 (0 when every harmonic is above Nyquist), and a GRU's state
# is a blend of tanh values, within [-1, 1]. A small tolerance covers float rounding.
OUTPUT_BOUNDS = {"amplitude": (0.0, 2.0), "noise": (0.0, 2.0), "harmonics": (0.0, 1.0),
                 "state": (-1.0, 1.0)}
