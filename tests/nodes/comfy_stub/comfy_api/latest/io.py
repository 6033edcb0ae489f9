"""Stand-in for ``comfy_api.latest.io`` (ComfyUI 0.8 signatures, the subset the pack uses).

Unknown keyword arguments fail here as they would on ComfyUI 0.8, so the tests catch options that
only newer versions understand. 0.8 has no ``BackgroundRemoval`` type, so neither has this stub.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


class Input:
    def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None, lazy: bool = None,
                 extra_dict=None, raw_link: bool = None):
        self.id = id
        self.display_name = display_name
        self.optional = optional
        self.tooltip = tooltip
        self.lazy = lazy

    @property
    def io_type(self) -> str:
        return self.Parent.io_type


class WidgetInput(Input):
    def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None, lazy: bool = None,
                 default: Any = None, socketless: bool = None, widget_type: str = None, force_input: bool = None,
                 extra_dict=None, raw_link: bool = None):
        super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, raw_link)
        self.default = default


class Output:
    def __init__(self, id: str = None, display_name: str = None, tooltip: str = None, is_output_list=False):
        self.id = id
        self.display_name = display_name if display_name else id
        self.tooltip = tooltip

    @property
    def io_type(self) -> str:
        return self.Parent.io_type


def _comfytype(io_type: str, input_class: type = Input, output_class: type = Output) -> type:
    """A ComfyType: a class with ``io_type`` and its own ``Input``/``Output`` subclasses."""
    parent = type(io_type, (), {"io_type": io_type})
    parent.Input = type("Input", (input_class,), {"Parent": parent})
    parent.Output = type("Output", (output_class,), {"Parent": parent})
    return parent


def Custom(io_type: str) -> type:
    """A ComfyType for a custom io_type."""
    return _comfytype(io_type)


Image = Custom("IMAGE")
Mask = Custom("MASK")


class _BooleanInput(WidgetInput):
    def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None, lazy: bool = None,
                 default: bool = None, label_on: str = None, label_off: str = None, socketless: bool = None,
                 force_input: bool = None, extra_dict=None, raw_link: bool = None):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input, extra_dict, raw_link)


class _IntInput(WidgetInput):
    def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None, lazy: bool = None,
                 default: int = None, min: int = None, max: int = None, step: int = None,
                 control_after_generate: bool = None, display_mode=None, socketless: bool = None,
                 force_input: bool = None, extra_dict=None, raw_link: bool = None):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input, extra_dict, raw_link)
        self.min, self.max, self.step = min, max, step


class _FloatInput(WidgetInput):
    def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None, lazy: bool = None,
                 default: float = None, min: float = None, max: float = None, step: float = None, round: float = None,
                 display_mode=None, socketless: bool = None, force_input: bool = None, extra_dict=None,
                 raw_link: bool = None):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input, extra_dict, raw_link)
        self.min, self.max, self.step = min, max, step


class _StringInput(WidgetInput):
    def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None, lazy: bool = None,
                 multiline=False, placeholder: str = None, default: str = None, dynamic_prompts: bool = None,
                 socketless: bool = None, force_input: bool = None, extra_dict=None, raw_link: bool = None):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input, extra_dict, raw_link)


class _ComboInput(WidgetInput):
    def __init__(self, id: str, options: list = None, display_name: str = None, optional=False, tooltip: str = None,
                 lazy: bool = None, default: Any = None, control_after_generate: bool = None, upload=None,
                 image_folder=None, remote=None, socketless: bool = None, extra_dict=None, raw_link: bool = None):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, None, extra_dict, raw_link)
        self.options = options


Boolean = _comfytype("BOOLEAN", _BooleanInput)
Int = _comfytype("INT", _IntInput)
Float = _comfytype("FLOAT", _FloatInput)
String = _comfytype("STRING", _StringInput)
Combo = _comfytype("COMBO", _ComboInput)


@dataclass
class Schema:
    node_id: str
    display_name: str = None
    category: str = "sd"
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    hidden: list = field(default_factory=list)
    description: str = ""
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False

    def validate(self) -> None:
        """As ComfyUI: input and output ids must be unique."""
        for ids in ([i.id for i in self.inputs], [o.id for o in self.outputs]):
            repeated = [item for item, count in Counter(ids).items() if count > 1]
            if repeated:
                raise ValueError(f"ids must be unique, but {repeated} are not.")


class NodeOutput:
    def __init__(self, *args: Any, ui: dict = None, expand: dict = None, block_execution: str = None):
        self.args = args
        self.ui = ui

    @property
    def result(self):
        return self.args if len(self.args) > 0 else None

    def __getitem__(self, index) -> Any:
        return self.args[index]


class ComfyNode:
    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs) -> NodeOutput:
        raise NotImplementedError

    @classmethod
    def GET_SCHEMA(cls) -> Schema:
        schema = cls.define_schema()
        schema.validate()
        cls.SCHEMA = schema  # as 0.8 does: raises on the locked clone execute runs on
        return schema
