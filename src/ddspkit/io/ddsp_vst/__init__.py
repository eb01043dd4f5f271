"""Magenta's DDSP-VST plugin format (``.tflite``): export, checks, import, and running it.

- :mod:`~ddspkit.io.ddsp_vst.contract`: what the plugin requires (tensor names and sizes, ops,
  metadata), in one torch-free module;
- :mod:`~ddspkit.io.ddsp_vst.graph`: one decoder step as a TFLite graph, and its weights read back;
- :mod:`~ddspkit.io.ddsp_vst.metadata`: the ``metadata.json`` zip and its statistics;
- :mod:`~ddspkit.io.ddsp_vst.check` and :mod:`~ddspkit.io.ddsp_vst.probe`: the plugin's loading
  rules, and a run of the model in a child process;
- :mod:`~ddspkit.io.ddsp_vst.runtime`: a ``.tflite`` decoder in Python, frame by frame;
- :mod:`~ddspkit.io.ddsp_vst.plugin`: the plugin's model folder, export, import, zip.
"""
