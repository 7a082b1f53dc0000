"""The explorer page of ``aekit serve`` in a real browser (headless Chromium through Selenium; Debian's chromium
and chromium-driver, nothing downloaded), against the real server started on 127.0.0.1: a stroke drawn on the
canvas comes back reconstructed and scored as the model scores it, the map shows the example under the pointer,
the slider walks the interpolation between two picked points, a generative model's samples appear, and the
table form scores a row with per-feature error bars. No console errors; the screenshots are not blank."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import chromium_driver, has_chromium

WAIT_S = 30   # the longest any page state is waited for (the first map runs t-SNE on 1,000 codes)

pytestmark = [pytest.mark.e2e,   # a real browser: the e2e tier (pytest -m e2e)
              pytest.mark.skipif(not has_chromium(),
                                 reason="needs headless Chromium: apt-get install chromium chromium-driver")]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """A digit detector (8x8 images, 16-value codes: a t-SNE map), a 2-D VAE from a training run (it records
    its data: a map at its codes; it samples) and a table detector (wine, 13 features)."""
    pytest.importorskip("fastapi")
    from sklearn.datasets import load_wine

    from aekit import AnomalyDetector
    from aekit.cli import main
    from aekit.run import RunOptions, train_run

    root = tmp_path_factory.mktemp("explorer")
    assert main(["fit", "anomaly-detector", "--data", "digits", "--param", "epochs=3", "--param", "min_steps=0",
                 "--out", str(root / "digits")]) == 0
    train_run(RunOptions(data="digits", out=str(root / "vae"), model="vae", latent_dim=2,
                         train={"epochs": 10, "progress": False}, report=False, verbose=False))
    AnomalyDetector(epochs=30, min_steps=0).fit(load_wine().data).save(root / "wine")
    return {name: root / name for name in ("digits", "vae", "wine")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(folders, tmp_path_factory):
    """``aekit serve`` on a free port of 127.0.0.1, with the digits as the map's data; its URL."""
    port, log = _free_port(), tmp_path_factory.mktemp("server") / "serve.log"
    cmd = [sys.executable, "-m", "aekit.cli", "serve", *map(str, folders.values()), "--host", "127.0.0.1",
           "--port", str(port), "--data", "digits"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            assert proc.poll() is None, f"aekit serve exited with {proc.returncode}:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"aekit serve not ready after {WAIT_S} s:\n{log.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("selenium")
    driver = chromium_driver(1200, 1000, script_timeout=WAIT_S)
    yield driver
    driver.quit()


def wait_for(driver, script: str):
    """The first truthy value of the JavaScript expression ``script``, polled for at most WAIT_S seconds."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(lambda d: d.execute_script(f"return {script};"))


def open_model(driver, url: str, name: str) -> None:
    driver.get(f"{url}/?model={name}")
    wait_for(driver, f"state.model && state.model.name === {json.dumps(name)}")


def settle(driver, after: int = 0) -> int:
    """Wait until the page has sent more than ``after`` scoring requests and shows the answer to the last one,
    with no change left to send; the number sent."""
    return wait_for(driver, f"state.sent > {after} && !state.timer && state.shown === state.sent && state.sent")


def score_shown(driver, prefix: str) -> float:
    return float(driver.find_element("id", f"{prefix}-score").text)


def screenshot(driver, path: Path) -> None:
    """The whole page, checked not blank."""
    from PIL import Image

    height = driver.execute_script("return document.body.scrollHeight;")
    driver.set_window_size(1200, min(height + 120, 4000))
    assert driver.save_screenshot(str(path))
    pixels = np.asarray(Image.open(path).convert("L"))
    assert pixels.std() > 20 and len(np.unique(pixels)) > 50


def no_console_errors(driver) -> None:
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def canvas_pixels(driver, canvas: str) -> np.ndarray:
    """The grey values of a canvas as the page drew it, (H, W); ``canvas``: its id, or a JavaScript expression."""
    find = canvas if "(" in canvas else f"$('{canvas}')"
    data = driver.execute_script(f"const c = {find}; return [c.width, c.height, "
                                 "Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)];")
    w, h, rgba = data
    return np.asarray(rgba, dtype=np.float32).reshape(h, w, 4)[..., 0]


def in_view(driver, element) -> None:
    """Scroll ``element`` to the middle of the window: Selenium's offsets count from the centre of its visible part."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)


def draw(driver, canvas, strokes: list[list[tuple[int, int]]]) -> None:
    """Mouse strokes over ``canvas``, in pixels from its centre."""
    from selenium.webdriver.common.action_chains import ActionChains

    in_view(driver, canvas)
    for points in strokes:
        chain = ActionChains(driver, duration=15).move_to_element_with_offset(canvas, *points[0]).click_and_hold()
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            chain.move_by_offset(x1 - x0, y1 - y0)
        chain.release().perform()


def test_drawing_is_reconstructed_and_scored(server, browser, folders, tmp_path):
    import aekit
    from selenium.webdriver.common.by import By

    open_model(browser, server, "digits")
    pad = browser.find_element(By.ID, "pad")
    draw(browser, pad, [[(-50, -70), (20, -75), (45, -40), (10, 0), (-40, 50), (-45, 70), (50, 70)]])  # a "2"
    sent = settle(browser)
    score = score_shown(browser, "draw")
    assert canvas_pixels(browser, "recon").std() > 5          # a reconstruction, not a black square
    # the page sent what it shows to the model, in the model's range: the server's score is the model's score
    seen = np.asarray(browser.execute_script("return padSample();"), dtype=np.float32).reshape(1, 1, 8, 8)
    assert seen.max() > 8 and seen.min() >= 0                 # the stroke, in digits' 0..16
    detector = aekit.load(folders["digits"])
    assert score == pytest.approx(float(detector.anomaly_score(seen)[0]), rel=2e-3)
    verdict = browser.find_element(By.ID, "draw-verdict").text
    assert verdict.startswith("anomaly" if score > detector.threshold_ else "normal")
    screenshot(browser, tmp_path / "draw.png")
    # scribbling over the whole pad: the score follows the drawing and the blot is an anomaly
    draw(browser, pad, [[(-100, y), (100, y)] for y in range(-100, 101, 25)])
    settle(browser, sent)
    blot = score_shown(browser, "draw")
    assert blot > max(score, detector.threshold_)
    assert browser.find_element(By.ID, "draw-verdict").text.startswith("anomaly")
    no_console_errors(browser)


def test_map_preview_and_interpolation(server, browser, folders, tmp_path):
    import aekit
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from aekit.data import load_dataset

    open_model(browser, server, "digits")
    assert int(wait_for(browser, "$('map').dataset.points")) == 1000
    points = np.asarray(browser.execute_script("return state.map.points.map((_, i) => mapXY(i));"))
    digits = load_dataset("digits", limit=1000)
    names = [digits.classes[label] for label in digits.train.y]
    canvas = browser.find_element(By.ID, "map")
    in_view(browser, canvas)
    # the page maps a pointer to canvas pixels by the canvas's box (border included): invert that mapping
    box_w, box_h, pix_w, pix_h = browser.execute_script(
        "const r = $('map').getBoundingClientRect(); return [r.width, r.height, $('map').width, $('map').height];")

    def at(i):   # offsets from the canvas centre, as Selenium moves
        return (round(points[i][0] * box_w / pix_w - box_w / 2), round(points[i][1] * box_h / pix_h - box_h / 2))

    gaps = np.linalg.norm(points[:, None] - points[None], axis=-1) + 1e9 * np.eye(len(points))
    alone = np.flatnonzero(gaps.min(axis=1) > 6)      # points the pointer cannot mistake for a neighbour
    a, b = alone[points[alone, 0].argmin()], alone[points[alone, 0].argmax()]   # at the two ends of the map
    ActionChains(browser).move_to_element_with_offset(canvas, *at(a)).perform()
    wait_for(browser, f"$('preview-label').textContent === 'example {a}, {names[a]}'")
    assert canvas_pixels(browser, "preview").std() > 5
    ActionChains(browser).click().perform()
    wait_for(browser, "$('interp-note').textContent.includes('picked')")
    ActionChains(browser).move_to_element_with_offset(canvas, *at(b)).click().perform()
    wait_for(browser, "!$('slider').disabled")
    first = canvas_pixels(browser, "interp")
    browser.find_element(By.ID, "slider").send_keys(Keys.END)
    assert int(wait_for(browser, "$('interp').dataset.step")) == 8
    assert np.abs(canvas_pixels(browser, "interp") - first).max() > 0
    # the ends of the line are the two examples' reconstructions
    images = np.asarray(browser.execute_script("return state.interp.images;"), dtype=np.float32)
    x = digits.train.X[[a, b]]
    np.testing.assert_allclose(images[[0, -1]], aekit.load(folders["digits"]).reconstruct(x).reshape(2, -1),
                               atol=1e-3)
    screenshot(browser, tmp_path / "map.png")
    no_console_errors(browser)


def test_generative_model_samples(server, browser, tmp_path):
    open_model(browser, server, "vae")
    wait_for(browser, "$('samples').children.length === 8")
    assert canvas_pixels(browser, "$('samples').children[0]").std() > 5
    assert "at their 2-D codes" in wait_for(browser, "state.map && $('map-note').textContent")
    screenshot(browser, tmp_path / "samples.png")
    no_console_errors(browser)


def test_table_form_scores_a_row_with_feature_errors(server, browser, folders, tmp_path):
    import aekit
    from selenium.webdriver.common.by import By

    open_model(browser, server, "wine")
    sent = settle(browser)
    normal = score_shown(browser, "table")
    detector = aekit.load(folders["wine"])
    lo, hi = browser.execute_script("return state.model.feature_ranges[4];")
    field = browser.find_element(By.ID, "feature-4")
    field.clear()
    field.send_keys(str(hi + 5 * (hi - lo)))     # far beyond the training range of feature 4
    settle(browser, sent)
    odd = score_shown(browser, "table")
    row = np.asarray([browser.execute_script("return Array.from(state.model.feature_ranges, (_, i) => "
                                             "parseFloat($(`feature-${i}`).value));")])
    assert odd == pytest.approx(float(detector.anomaly_score(row)[0]), rel=2e-3)
    assert odd > max(normal, detector.threshold_) and browser.find_element(By.ID, "table-verdict").text.startswith("anomaly")
    widths = browser.execute_script("return Array.from(state.model.feature_ranges, (_, i) => "
                                    "$(`bar-${i}`).getBoundingClientRect().width);")
    assert int(np.argmax(widths)) == 4 and widths[4] > 0
    wait_for(browser, "$('map-note').textContent.startsWith('no map')")   # --data digits is no table
    screenshot(browser, tmp_path / "table.png")
    no_console_errors(browser)
