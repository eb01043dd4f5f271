"""Model files and formats: ddspkit's safetensors, decoder-step exports, DDSP-VST's TFLite."""
