"""Signal processing: scaling and framing, oscillators and filtered noise, reverb, spectral losses."""
