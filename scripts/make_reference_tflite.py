"""Build tests/fixtures/CelloNotebook.tflite the way Magenta's Train_VST notebook built models.

Run once, in a throwaway environment with TensorFlow (never a ddspkit dependency):

    python -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu tf-keras safetensors
    TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python scripts/make_reference_tflite.py \
        src/ddspkit/assets/Cello.safetensors tests/fixtures/CelloNotebook.tflite

It rebuilds ddspkit's bundled Cello decoder as ddsp's ``VSTStatelessPredictControls`` did: a
tf.Module whose SavedModel signature is ``call(f0_scaled[1], pw_scaled[1], state[512])``, with
Dense/LayerNorm(1e-3)/leaky_relu(0.2) stacks, a Keras GRU (gate order z, r, h; PyTorch's
weights reordered), and the output nonlinearities; then ``TFLiteConverter.from_saved_model``
with builtin and Select-TF ops, as ``ddsp_export`` did; then a stored zip with the plugin's
``metadata.json`` keys only (no ddspkit statistics), as old notebook exports carry.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import zipfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, as ddsp used: weights freeze

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402


def main(src: str, dst: str) -> None:
    w = {k: v.astype(np.float32) for k, v in load_file(src).items()}
    with open(src, "rb") as handle:  # read the model's range box from its metadata
        n = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(n))
    stats = json.loads(header["__metadata__"]["ddspkit"])["statistics"]
    units = 512

    def split_gates(matrix: np.ndarray) -> list[np.ndarray]:  # PyTorch [r, z, n] rows
        return [matrix[i * units : (i + 1) * units] for i in range(3)]

    r, z, h = split_gates(w["decoder.gru.weight_ih_l0"])
    kernel = np.concatenate([z, r, h], axis=0).T  # Keras [in, 3 units], order z, r, h
    r, z, h = split_gates(w["decoder.gru.weight_hh_l0"])
    recurrent = np.concatenate([z, r, h], axis=0).T
    bi, bh = (split_gates(w[f"decoder.gru.bias_{k}_l0"]) for k in ("ih", "hh"))
    bias = np.stack([np.concatenate([bi[1], bi[0], bi[2]]), np.concatenate([bh[1], bh[0], bh[2]])])

    gru = tf.keras.layers.GRU(units, return_state=True, reset_after=True)
    gru.build((1, 1, 512))
    gru.set_weights([kernel, recurrent, bias])

    def dense(x, name):
        return tf.matmul(x, tf.constant(w[f"{name}.weight"].T)) + w[f"{name}.bias"]

    def fc_stack(x, prefix):
        x = dense(x, f"decoder.{prefix}.0")
        mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
        x = (x - mean) * tf.math.rsqrt(var + 1e-3) * w[f"decoder.{prefix}.1.weight"] \
            + w[f"decoder.{prefix}.1.bias"]
        return tf.nn.leaky_relu(x, 0.2)

    def exp_sigmoid(x):
        return 2.0 * tf.pow(tf.sigmoid(x), tf.math.log(10.0)) + 1e-7

    class VSTStatelessPredictControls(tf.Module):
        def __init__(self):
            super().__init__()
            self.gru = gru

        @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="f0_scaled"),
                                      tf.TensorSpec([1], tf.float32, name="pw_scaled"),
                                      tf.TensorSpec([512], tf.float32, name="state")])
        def call(self, f0_scaled, pw_scaled, state):
            pw_feat = fc_stack(pw_scaled[None, :], "pw_stack")
            f0_feat = fc_stack(f0_scaled[None, :], "f0_stack")
            x = tf.concat([pw_feat, f0_feat], axis=-1)[:, None, :]
            gru_out, new_state = self.gru(x, initial_state=state[None, :])
            hidden = fc_stack(tf.concat([pw_feat, f0_feat, gru_out], -1), "out_stack")
            raw = dense(hidden, "decoder.out_dense")
            amps = exp_sigmoid(raw[:, :1])
            hd = exp_sigmoid(raw[:, 1:61])
            noise = exp_sigmoid(raw[:, 61:] - 5.0)
            f0_hz = 440.0 * tf.pow(2.0, (f0_scaled * 127.0 - 69.0) / 12.0)
            freqs = f0_hz[:, None] * tf.range(1.0, 61.0)[None, :]
            hd = tf.where(freqs >= 8000.0, tf.zeros_like(hd), hd)
            hd = hd / tf.maximum(tf.reduce_sum(hd, axis=-1, keepdims=True), 1e-7)
            return (tf.reshape(amps, [1]), tf.reshape(hd, [60]), tf.reshape(noise, [65]),
                    tf.reshape(new_state, [512]))

    module = VSTStatelessPredictControls()
    with tempfile.TemporaryDirectory() as saved:
        tf.saved_model.save(module, saved, signatures={"call": module.call})
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                               tf.lite.OpsSet.SELECT_TF_OPS]
        flatbuffer = converter.convert()
    metadata = {k: stats[k] for k in ("mean_min_pitch_note_hz", "mean_max_pitch_note_hz",
                                      "mean_min_power_note", "mean_max_power_note")}
    metadata.update(version="3.7.0", export_time="2022-05-01T12:00:00.000000", num_harmonics=60,
                    num_noise_amps=65, frame_rate=50, frame_size=1024, sample_rate=16000)
    buffer = io.BytesIO(flatbuffer)
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
    with open(dst, "wb") as handle:
        handle.write(buffer.getvalue())
    print(f"{dst}: {len(buffer.getvalue()) / 1e6:.1f} MB, TensorFlow {tf.__version__}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
