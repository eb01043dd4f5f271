"""TFLite flatbuffers, read and written with the published schema (no TensorFlow)."""
