"""Alpha video files: write WebM (VP9 alpha) / MOV (ProRes 4444) / MP4, decode them with PyAV and compare the
alpha plane with the mask; audio from a ComfyUI AUDIO dict and from a file; the Save Alpha Video node."""

from __future__ import annotations

import asyncio
import os
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")  # optional dependency: the rest of the suite runs without it

from ben2_model.video import AlphaVideoWriter, iter_video_frames, iter_video_rgba, probe_video  # noqa: E402

T, H, W = 12, 72, 96
FPS = 24
# Codec tolerances on the alpha plane, in 8-bit levels. VP9 is lossy (crf 18; alpha is a second full-
# resolution VP9 plane): measured mean 0.2, max 3 levels on the clip below. ProRes 4444 keeps alpha
# losslessly at 16 bits (prores_ks alpha_bits=16) and the 10-bit path costs rounding only: measured max 0.3.
TOLERANCE = {"webm": {"mean": 1.0, "max": 8.0}, "mov": {"mean": 0.2, "max": 1.0}}
AUDIO_CODEC = {"webm": "opus", "mov": "pcm_s16le", "mp4": "aac"}


def _clip(frames: int = T, height: int = H, width: int = W) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth coloured frames and a moving soft disc + gradient matte: realistic content for a codec."""
    yy, xx = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    pattern = torch.sin(xx / 7 + yy / 11)[None, ..., None] * torch.tensor([0.3, 0.15, -0.15])
    rgb = (0.5 + pattern + 0.02 * torch.arange(frames).view(-1, 1, 1, 1) / frames).clamp(0, 1).expand(frames, -1, -1, -1)
    disc = torch.stack([(18 - torch.sqrt((xx - 30 - 3 * t) ** 2 + (yy - height / 2) ** 2)).clamp(0, 1)
                        for t in range(frames)])
    alpha = torch.maximum(disc, (xx / width * (yy > height * 0.83)).expand(frames, -1, -1))
    return rgb.contiguous(), alpha.contiguous()


def _audio(seconds: float, sample_rate: int = 44100, channels: int = 2) -> dict:
    """A ComfyUI AUDIO dict: a 440 Hz tone, [1, C, samples]."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    waveform = (0.5 * torch.sin(2 * torch.pi * 440 * t)).expand(1, channels, -1).contiguous()
    return {"waveform": waveform, "sample_rate": sample_rate}


def _decode_alpha_with_pyav(path: str) -> np.ndarray:
    """Alpha planes [T,H,W] in 8-bit levels, straight from PyAV (libvpx-vp9 reads VP9's alpha side data)."""
    planes = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name == "vp9":
            decoder = av.CodecContext.create("libvpx-vp9", "r")
            decoded = (frame for packet in container.demux(stream) for frame in decoder.decode(packet))
        else:
            decoded = container.decode(stream)
        for frame in decoded:
            assert frame.format.name.startswith("yuva"), f"{path}: decoded {frame.format.name}, no alpha plane"
            planes.append(frame.to_ndarray(format="rgba64le")[..., 3].astype(np.float64) / 257.0)
    return np.stack(planes)


def _decoded_audio(path: str) -> tuple[str, int, np.ndarray]:
    with av.open(path) as container:
        stream = container.streams.audio[0]
        name, rate = stream.codec_context.name, stream.codec_context.sample_rate
        samples = np.concatenate([frame.to_ndarray().reshape(frame.to_ndarray().shape[0], -1)
                                  if frame.format.is_planar else frame.to_ndarray().reshape(-1, len(frame.layout.channels)).T
                                  for frame in container.decode(stream)], axis=1)
    return name, rate, samples.astype(np.float64) / (32768.0 if samples.dtype == np.int16 else 1.0)


@pytest.mark.parametrize("container", ["webm", "mov"])
@pytest.mark.parametrize("with_audio", [False, True])
def test_alpha_plane_round_trip(tmp_path, container, with_audio):
    rgb, alpha = _clip()
    path = str(tmp_path / f"clip.{container}")
    audio = _audio(T / FPS + 0.3) if with_audio else None  # longer than the video: cut to it
    with AlphaVideoWriter(path, W, H, FPS, audio=audio) as writer:
        for start in range(0, T, 5):  # uneven chunks
            writer.write(rgb[start:start + 5], alpha[start:start + 5])

    decoded = _decode_alpha_with_pyav(path)
    assert decoded.shape == (T, H, W)
    error = np.abs(decoded - alpha.numpy() * 255)
    assert error.mean() <= TOLERANCE[container]["mean"], error.mean()
    assert error.max() <= TOLERANCE[container]["max"], error.max()

    info = probe_video(path)
    assert (info.width, info.height, info.fps, info.frame_count, info.has_audio) == (W, H, Fraction(FPS), T, with_audio)
    # Our own reader agrees with the raw PyAV decode, and gives the colours back.
    rgb_read, alpha_read = (torch.cat(parts) for parts in zip(*iter_video_rgba(path, chunk_size=5)))
    assert torch.allclose(alpha_read.double() * 255, torch.from_numpy(decoded), atol=0.6)
    inside = alpha > 0.5
    assert (rgb_read - rgb).abs()[inside].mean() < (2.5 if container == "webm" else 0.5) / 255 * 3

    if with_audio:
        name, rate, samples = _decoded_audio(path)
        assert name == AUDIO_CODEC[container]
        seconds = samples.shape[1] / rate
        assert abs(seconds - T / FPS) < 0.03, seconds  # cut to the video (Opus adds < 1 frame of padding)
        spectrum = np.abs(np.fft.rfft(samples[0]))
        assert abs(np.argmax(spectrum) * rate / samples.shape[1] - 440) < 1.5 / (T / FPS) + 5


def test_audio_from_a_source_file_and_mp4_on_a_colour(tmp_path):
    """The CLI path: audio re-encoded from the source file; mp4 = H.264 composited on the background."""
    rgb, alpha = _clip(height=71, width=95)  # odd size: edge-padded to even for 4:2:0
    source = str(tmp_path / "source.mov")
    with AlphaVideoWriter(source, 95, 71, FPS, audio=_audio(1.0, sample_rate=48000, channels=1)) as writer:
        writer.write(rgb, alpha)
    target = str(tmp_path / "out.mp4")
    with AlphaVideoWriter(target, 95, 71, Fraction(FPS), background=(0.0, 1.0, 0.0), audio=source) as writer:
        writer.write(rgb, alpha)
    info = probe_video(target)
    assert (info.width, info.height, info.has_audio) == (96, 72, True)
    name, rate, samples = _decoded_audio(target)
    assert name == "aac" and abs(samples.shape[1] / rate - T / FPS) < 0.05
    frames = torch.cat(list(iter_video_frames(target, chunk_size=4)))[:, :71, :95]
    expected = rgb * alpha[..., None] + torch.tensor([0.0, 1.0, 0.0]) * (1 - alpha[..., None])
    assert frames.shape == (T, 71, 95, 3)
    # H.264 4:2:0 (crf 17): ~1 level in flat areas, a few more at green/colour edges (chroma subsampling).
    error = (frames - expected).abs() * 255
    assert error.median() <= 2 and error.mean() < 6


def test_reading_in_chunks(tmp_path):
    rgb, alpha = _clip()
    path = str(tmp_path / "clip.mov")
    with AlphaVideoWriter(path, W, H, Fraction(30000, 1001)) as writer:
        writer.write(rgb, alpha)
    chunks = list(iter_video_frames(path, chunk_size=5))
    assert [c.shape[0] for c in chunks] == [5, 5, 2]
    assert all(c.dtype == torch.float32 and c.shape[1:] == (H, W, 3) for c in chunks)
    assert probe_video(path).fps == Fraction(30000, 1001)
    with pytest.raises(ValueError, match="chunk_size"):
        next(iter_video_frames(path, chunk_size=0))


def test_bad_input_gives_clear_errors(tmp_path, monkeypatch):
    rgb, alpha = _clip(frames=2)
    with pytest.raises(ValueError, match=r"\.webm .*\.mov .*\.mp4"):
        AlphaVideoWriter(str(tmp_path / "clip.gif"), W, H, FPS)
    with pytest.raises(ValueError, match="fps"):
        AlphaVideoWriter(str(tmp_path / "clip.webm"), W, H, 0)
    with pytest.raises(ValueError, match="background"):
        AlphaVideoWriter(str(tmp_path / "clip.mp4"), W, H, FPS, background=(0, 255, 0))
    with pytest.raises(ValueError, match="waveform"):
        AlphaVideoWriter(str(tmp_path / "clip.webm"), W, H, FPS, audio={"sample_rate": 44100})
    writer = AlphaVideoWriter(str(tmp_path / "clip.webm"), W, H, FPS)
    with pytest.raises(ValueError, match="does not match the writer"):
        writer.write(rgb[:, :-1], alpha[:, :-1])
    with pytest.raises(ValueError, match="one mask per frame"):
        writer.write(rgb, alpha[:1])
    writer.write(rgb, alpha)
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(rgb, alpha)
    with pytest.raises(ValueError, match="no video stream"):
        probe_video(_write_audio_only(tmp_path))
    # A PyAV build without the encoder, and no PyAV at all.
    monkeypatch.setattr(av, "codecs_available", set(av.codecs_available) - {"prores_ks"})
    with pytest.raises(RuntimeError, match="no video encoder for .mov.*prores_ks"):
        AlphaVideoWriter(str(tmp_path / "clip.mov"), W, H, FPS)
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match="pip install av"):
        AlphaVideoWriter(str(tmp_path / "clip.webm"), W, H, FPS)


def _write_audio_only(tmp_path) -> str:
    path = str(tmp_path / "sound.wav")
    with av.open(path, "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# -- the node --------------------------------------------------------------------------------------------------

@pytest.fixture
def node_env(tmp_path, monkeypatch):
    from ..nodes.pack import load_nodes

    nodes = load_nodes()
    import comfy.model_management as mm
    import folder_paths

    folder_paths.reset(str(tmp_path))
    mm.interrupt_current_processing(False)

    def get_save_image_path(prefix, output_dir, width=0, height=0):
        # ComfyUI's contract: (folder, file stem, counter, subfolder, prefix); the folder exists.
        subfolder, stem = os.path.split(prefix)
        folder = os.path.join(output_dir, subfolder)
        os.makedirs(folder, exist_ok=True)
        return folder, stem, 1, subfolder, prefix

    monkeypatch.setattr(folder_paths, "get_save_image_path", get_save_image_path, raising=False)
    yield nodes, mm, folder_paths
    mm.interrupt_current_processing(False)


def _run(node, **kwargs):
    result = node.execute(**kwargs)
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


def test_save_alpha_video_node(node_env):
    nodes, mm, folder_paths = node_env
    node = nodes.BEN2SaveAlphaVideo
    schema = node.GET_SCHEMA()
    assert schema.node_id == "BEN2SaveAlphaVideo" and schema.is_output_node
    assert node in nodes.NODES
    rgb, alpha = _clip(frames=20)

    # WebM from RGBA frames (Segment Foreground's rgba output): preview = the file itself.
    out = _run(node, images=torch.cat([rgb, alpha[..., None]], dim=-1), fps=24.0, format="webm",
               filename_prefix="video/test")
    saved = out.ui["images"][0]
    assert saved["type"] == "output" and saved["subfolder"] == "video" and out.ui["animated"] == [True]
    path = os.path.join(folder_paths.get_output_directory(), "video", saved["filename"])
    assert np.abs(_decode_alpha_with_pyav(path) - alpha.numpy() * 255).mean() <= TOLERANCE["webm"]["mean"]

    # MOV from IMAGE + MASK + AUDIO: a WebM preview in the temp folder (browsers cannot play ProRes).
    out = _run(node, images=rgb, mask=alpha, audio=_audio(1.0), fps=24.0, format="mov", filename_prefix="alpha")
    preview = out.ui["images"][0]
    assert preview["type"] == "temp" and preview["filename"].endswith(".webm")
    assert os.path.isfile(os.path.join(folder_paths.get_temp_directory(), preview["filename"]))
    path = os.path.join(folder_paths.get_output_directory(), "alpha_00001_.mov")
    assert np.abs(_decode_alpha_with_pyav(path) - alpha.numpy() * 255).max() <= TOLERANCE["mov"]["max"]
    assert probe_video(path).has_audio

    with pytest.raises(ValueError, match="connect a mask"):
        _run(node, images=rgb, fps=24.0, format="webm", filename_prefix="x")


def test_save_alpha_video_node_cancel_leaves_no_file(node_env, monkeypatch):
    nodes, mm, folder_paths = node_env
    import comfy.utils

    original = comfy.utils.ProgressBar.update_absolute

    def cancel(self, value, total=None, preview=None):
        original(self, value, total, preview)
        mm.interrupt_current_processing(True)  # the user presses Cancel after the first chunk

    monkeypatch.setattr(comfy.utils.ProgressBar, "update_absolute", cancel)
    rgb, alpha = _clip(frames=40)
    with pytest.raises(mm.InterruptProcessingException):
        _run(nodes.BEN2SaveAlphaVideo, images=rgb, mask=alpha, fps=24.0, format="mov", filename_prefix="cancelled")
    leftovers = [name for root in (folder_paths.get_output_directory(), folder_paths.get_temp_directory())
                 if os.path.isdir(root) for name in os.listdir(root)]
    assert leftovers == []


def test_refine_edges_temporal_stability_option(node_env):
    """The option on Refine Edges is stabilize_alpha applied to its refined mask (off by default)."""
    nodes, mm, folder_paths = node_env
    from ben2_model import stabilize_alpha
    from ben2_model.bench.synthetic_clips import make_clip

    clip = make_clip(3, frames=6, height=48, width=64)
    schema = nodes.BEN2RefineEdges.GET_SCHEMA()
    option = next(put for put in schema.inputs if put.id == "temporal_stability")
    assert option.default is False and option.optional
    plain = _run(nodes.BEN2RefineEdges, image=clip.frames, mask=clip.coarse)[0]
    steady = _run(nodes.BEN2RefineEdges, image=clip.frames, mask=clip.coarse, temporal_stability=True)[0]
    assert torch.allclose(steady, stabilize_alpha(plain, clip.frames), atol=1e-5)
    assert not torch.allclose(steady, plain, atol=1e-3)


VIDEO_WORKFLOWS = sorted(
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "example_workflows", name)
    for name in ("video_composite_new_background.json", "video_save_alpha_video.json")
)
CORE_NODES = {
    # id: (input names, output types, number of widget values) of the ComfyUI 0.25 core nodes used
    "LoadVideo": ([], ["VIDEO"], 2),
    "GetVideoComponents": (["video"], ["IMAGE", "AUDIO", "FLOAT"], 0),
    "LoadImage": ([], ["IMAGE", "MASK"], 2),
    "CreateVideo": (["images", "audio", "fps"], ["VIDEO"], 1),
    "SaveVideo": (["video"], [], 3),
}


@pytest.mark.parametrize("path", VIDEO_WORKFLOWS, ids=os.path.basename)
def test_video_workflows_fit_the_schemas(path, node_env):
    """Links connect matching types; our nodes' widget values fit their schemas (as the other workflows' test)."""
    import json

    from ..nodes.pack import PACK_NAME

    nodes, mm, folder_paths = node_env
    sys.modules[f"{PACK_NAME}.nodes.loader"].register_model_folder()  # the model list the loader's combo shows
    schemas = {node.GET_SCHEMA().node_id: node.GET_SCHEMA() for node in nodes.NODES}
    with open(path) as handle:
        workflow = json.load(handle)
    by_id = {node["id"]: node for node in workflow["nodes"]}
    for link_id, source, source_slot, target, target_slot, link_type in workflow["links"]:
        output, put = by_id[source]["outputs"][source_slot], by_id[target]["inputs"][target_slot]
        assert link_id in output["links"] and put["link"] == link_id
        assert output["type"] == link_type == put["type"]
    for node in workflow["nodes"]:
        if node["type"] in CORE_NODES:
            inputs, outputs, widget_count = CORE_NODES[node["type"]]
            assert [p["name"] for p in node["inputs"]] == inputs
            assert [o["type"] for o in node["outputs"]] == outputs
            assert len(node["widgets_values"]) == widget_count
            continue
        schema = schemas[node["type"]]
        widgets = [i for i in schema.inputs if i.io_type in {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}]
        assert len(node["widgets_values"]) == len(widgets), node["type"]
        for put, value in zip(widgets, node["widgets_values"]):
            if put.io_type == "COMBO" and put.id != "ckpt_name":
                assert value in put.options
            elif put.io_type == "BOOLEAN":
                assert isinstance(value, bool)
            elif put.io_type in ("INT", "FLOAT"):
                assert put.min <= value <= put.max
        for put in node["inputs"]:
            assert put["type"] == next(i for i in schema.inputs if i.id == put["name"]).io_type
        assert [o["type"] for o in node["outputs"]] == [o.io_type for o in schema.outputs]
    segment = next(n for n in workflow["nodes"] if n["type"] == "BEN2SegmentForeground")
    widget_ids = [i.id for i in schemas["BEN2SegmentForeground"].inputs if i.io_type in {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}]
    # the video workflows show the temporal stability option on
    assert segment["widgets_values"][widget_ids.index("temporal_stability")] is True
    audio_links = [link for link in workflow["links"] if link[5] == "AUDIO"]
    assert len(audio_links) == 1  # the clip's own sound track reaches the output


@pytest.mark.parametrize("prefix", ["nul\x00x", "line\nbreak", "bell\x07"])
def test_save_alpha_video_refuses_control_characters_in_the_prefix(node_env, prefix):
    nodes, mm, folder_paths = node_env
    rgb, alpha = torch.rand(2, 16, 16, 3), torch.rand(2, 16, 16)
    with pytest.raises(ValueError, match="Save Alpha Video \\(BEN2\\): filename_prefix .* control characters"):
        _run(nodes.BEN2SaveAlphaVideo, images=rgb, mask=alpha, fps=24.0, format="webm", filename_prefix=prefix)
    assert not any(files for _, _, files in os.walk(folder_paths.get_output_directory()))


def test_save_alpha_video_prefix_outside_the_output_folder_names_the_node(node_env, monkeypatch):
    nodes, mm, folder_paths = node_env

    def refuse(prefix, output_dir, width=0, height=0):  # ComfyUI's own check raises a bare Exception
        raise Exception("**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: /x")

    monkeypatch.setattr(folder_paths, "get_save_image_path", refuse, raising=False)
    rgb, alpha = torch.rand(2, 16, 16, 3), torch.rand(2, 16, 16)
    with pytest.raises(ValueError, match=r"^Save Alpha Video \(BEN2\): filename_prefix '\.\./x' cannot be used "
                                         r"\(Saving image outside the output folder is not allowed\.\); type a prefix"):
        _run(nodes.BEN2SaveAlphaVideo, images=rgb, mask=alpha, fps=24.0, format="webm", filename_prefix="../x")
