"""A minimal stand-in for the parts of ComfyUI the pack uses, so node-contract tests run in CI.

Only the API surface the nodes touch, with the real signatures of ComfyUI 0.8 (the oldest
supported version): ``comfy_api.latest`` (``io``, ``ComfyExtension``), ``comfy.model_management``,
``comfy.model_patcher``, ``comfy.utils.ProgressBar`` and ``folder_paths``. The behaviour tests
rely on (progress updates, Cancel, model loads) is recorded in module attributes.
The real thing is exercised by ``tests/test_comfyui_e2e.py``.
"""
