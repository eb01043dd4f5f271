"""Play instruments live: streaming engines, the stream tracker, and ``ddspkit live``.

    from ddspkit.stream import EffectEngine, SynthEngine
    engine = EffectEngine(ddspkit.load_model("Cello"), sample_rate_hz=48000)
    out_block = engine.process(in_block)        # any block size; engine.latency_samples
    synth = SynthEngine(ddspkit.load_model("Cello"), 48000)
    out_block = synth.process(480, [(offset, mido.Message("note_on", note=60, velocity=90))])

Call ``use_one_thread()`` first: a frame's operations are small, and torch's thread pool only
makes them wait for each other (ten times slower on a busy machine).

The subpackage depends on the core (model, synths, features, midi) and never the other way.
"""

from ddspkit.stream.engine import EffectEngine, StreamEngine, SynthEngine, use_one_thread
from ddspkit.stream.tracker import StreamTracker, TrackerSettings

__all__ = ["EffectEngine", "StreamEngine", "StreamTracker", "SynthEngine", "TrackerSettings",
           "use_one_thread"]
