"""df.lamina.download writes only inside the pattern's folder (issue 12 item 5): labels, index labels
and run ids are data from the server or from any frame, never path parts; the extension comes from
the bytes received; long names are shortened with a hash; names that sanitise alike stay apart."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pandas as pd
import pytest
from suite import TEXT_TO_IMAGE

from lamina_jupyter import run_dataframe

SCRIPT = b"import os\nos.system('echo pwned')\n"


@pytest.fixture
def result(client, prompts):
    """A real two-row result frame (one image output column) from the emulator."""
    return run_dataframe(prompts(2), TEXT_TO_IMAGE, client=client, progress=False)


def image_column(frame: pd.DataFrame) -> str:
    return next(o["column"] for o in frame.attrs["lamina"]["outputs"] if o["type"] == "image")


def relabel(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    hostile = frame.copy()
    hostile.attrs["lamina"] = {**frame.attrs["lamina"], "outputs": [
        {**o, "label": label} for o in frame.attrs["lamina"]["outputs"]]}
    return hostile


def written(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_dotdot_label_and_run_id_with_a_py_url_stay_inside_the_folder(client, result):
    script_url = client.upload(SCRIPT, filename="conftest.py", media_type="image")
    assert script_url.endswith("/conftest.py")
    hostile = relabel(result, "..")
    hostile[image_column(result)] = script_url
    hostile["lamina_run_id"] = ["conftest", ".."]
    cwd = Path.cwd()
    before = written(cwd)
    saved = hostile.lamina.download("out/{label}/{run_id}.{ext}")
    new = [p for p in written(cwd) if p not in before]
    assert new and all(p.resolve().is_relative_to((cwd / "out").resolve()) for p in new)
    assert not (cwd / "conftest.py").exists() and not any(p.suffix == ".py" for p in new)
    assert all(p.read_bytes() == SCRIPT for p in new if "Caption" not in str(p) and p.stem != "manifest")
    paths = saved[f"{image_column(result)}_local_path"].tolist()
    assert len(set(paths)) == len(paths) == 2 and all(Path(p).is_file() for p in paths)


@pytest.mark.parametrize("pattern", ["out/{index}/{label}.{ext}", "{label}/{index}.{ext}"])
def test_dotdot_index_labels_cannot_climb_out(result, pattern):
    hostile = relabel(result, "..")
    hostile.index = ["..", "."]
    folder = Path(pattern.split("{", 1)[0] or ".").resolve()
    before = set(written(Path.cwd().parent))
    saved = hostile.lamina.download(pattern)
    for p in written(Path.cwd().parent):
        assert p in before or p.resolve().is_relative_to(folder), p
    assert saved[f"{image_column(result)}_local_path"].notna().all()


def test_the_extension_comes_from_the_bytes_received(client, result):
    png = result[image_column(result)].iloc[0]  # an emulator PNG, re-served under a .py name
    data = httpx.get(png).content
    assert data.startswith(b"\x89PNG")
    disguised = result.copy()
    junk = b"\x00\x01 not media"
    disguised[image_column(result)] = [client.upload(data, filename="x.py", media_type="image"),
                                       client.upload(junk, filename="y.exe", media_type="image")]
    saved = disguised.lamina.download("out/{index}.{ext}")
    paths = [Path(p) for p in saved[f"{image_column(result)}_local_path"]]
    assert [p.suffix for p in paths] == [".png", ".bin"]


def test_a_300_character_label_is_shortened_and_two_long_labels_stay_apart(result):
    long_a, long_b = "A" * 299 + "a", "A" * 299 + "b"
    frame = result.copy()
    outputs = frame.attrs["lamina"]["outputs"]
    image = next(o for o in outputs if o["type"] == "image")
    frame["second"] = frame[image["column"]]
    frame.attrs["lamina"] = {**frame.attrs["lamina"], "outputs": [
        {**image, "label": long_a}, {"column": "second", "label": long_b, "type": "image"}]}
    saved = frame.lamina.download("out/{index}_{label}.{ext}")
    columns = [f"{image['column']}_local_path", "second_local_path"]
    paths = [Path(p) for p in saved[columns].to_numpy().ravel()]
    assert len(set(paths)) == 4 and all(p.is_file() for p in paths)
    assert all(len(os.fsencode(p.name)) <= 255 for p in paths)


def test_labels_that_sanitise_alike_do_not_overwrite_each_other(client, result):
    frame = result.copy()
    image = next(o for o in frame.attrs["lamina"]["outputs"] if o["type"] == "image")
    frame[image["column"]] = [client.upload(b"first", filename="a.txt", media_type="image"),
                              client.upload(b"second", filename="b.txt", media_type="image")]
    frame.index = ["a/b", "a?b"]  # both sanitise to a_b
    saved = frame.lamina.download("out/{index}.{ext}")
    paths = [Path(p) for p in saved[f"{image['column']}_local_path"]]
    assert len(set(paths)) == 2 and sorted(p.read_bytes() for p in paths) == [b"first", b"second"]
