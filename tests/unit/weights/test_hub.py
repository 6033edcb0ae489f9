"""download_weights without the network: progress forwarding and failure messages."""

from __future__ import annotations

import pytest

import ben2_model
from ben2_model import WeightsDownloadError, download_weights


def test_progress_is_forwarded_and_the_path_returned(tmp_path, monkeypatch):
    import huggingface_hub

    def fake_download(repo_id, filename, *, local_dir=None, tqdm_class=None, **kwargs):
        assert (repo_id, filename) == ("PramaLLC/BEN2", "model.safetensors")
        bar = tqdm_class(total=300)
        for _ in range(3):
            bar.update(100)
        bar.close()
        target = tmp_path / "models" / filename
        target.write_bytes(b"x" * 300)
        return str(target)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    seen = []
    path = download_weights(tmp_path / "models", progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "models" / "model.safetensors"
    assert seen == [(100, 300), (200, 300), (300, 300)]


@pytest.mark.parametrize("error", [OSError("Network is unreachable"), ConnectionError("offline")])
def test_offline_gives_instructions(tmp_path, monkeypatch, error):
    import huggingface_hub

    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", failing)
    dest = tmp_path / "ben2"
    with pytest.raises(WeightsDownloadError) as info:
        download_weights(dest)
    message = str(info.value)
    assert "model.safetensors" in message and "PramaLLC/BEN2" in message and str(dest) in message
    assert not (dest / "model.safetensors").exists()


def test_real_client_offline_mode_fails_fast(tmp_path, monkeypatch):
    # the real huggingface_hub client with offline mode on and an empty cache: no network touched
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsDownloadError, match="PramaLLC/BEN2"):
        download_weights(tmp_path / "dest")
    assert not (tmp_path / "dest" / "model.safetensors").exists()


def test_load_model_without_source_reports_download_failure(monkeypatch):
    import ben2_model.weights.hub as hub

    def failing(dest_dir=None, *, progress=None):
        raise WeightsDownloadError("Could not download model.safetensors from PramaLLC/BEN2: offline")

    monkeypatch.setattr(hub, "download_weights", failing)
    with pytest.raises(WeightsDownloadError, match="offline"):
        ben2_model.load_model()


@pytest.mark.parametrize("succeeds", [True, False], ids=["downloaded", "failed"])
def test_the_hub_clients_bookkeeping_is_removed_from_the_models_folder(tmp_path, monkeypatch, succeeds):
    import huggingface_hub

    def client(repo_id, filename, *, local_dir=None, **kwargs):
        # what huggingface_hub leaves under local_dir: lock files, a .gitignore, the partial file
        bookkeeping = tmp_path / "models" / ".cache" / "huggingface"
        (bookkeeping / "download").mkdir(parents=True)
        (bookkeeping / ".gitignore").write_text("*")
        (bookkeeping / "download" / "model.safetensors.lock").write_text("")
        (bookkeeping / "download" / "model.safetensors.incomplete").write_bytes(b"x" * 10)
        if not succeeds:
            raise OSError("Network is unreachable")
        (tmp_path / "models" / filename).write_bytes(b"x" * 300)
        return str(tmp_path / "models" / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", client)
    if succeeds:
        download_weights(tmp_path / "models")
    else:
        with pytest.raises(WeightsDownloadError):
            download_weights(tmp_path / "models")
    left = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert left == (["model.safetensors"] if succeeds else [])


def test_a_cache_folder_that_was_there_before_is_left_alone(tmp_path, monkeypatch):
    import huggingface_hub

    mine = tmp_path / "models" / ".cache" / "mine.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("kept")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(WeightsDownloadError):
        download_weights(tmp_path / "models")
    assert mine.read_text() == "kept"
