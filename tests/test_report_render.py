"""The train, detect and restore reports render in a real browser (headless Chromium through Selenium):
every image loads, the console stays free of errors, the expected sections are there and the page is not
blank. CI installs Debian's chromium and chromium-driver (.ci/run); Selenium never downloads a browser."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aekit.cli import main
from tests.helpers import chromium_driver, has_chromium

pytestmark = [pytest.mark.e2e,   # a real browser: the e2e tier (pytest -m e2e)
              pytest.mark.skipif(not has_chromium(),
                                 reason="needs headless Chromium: apt-get install chromium chromium-driver")]

# report -> (section headings, figure headings that must appear)
EXPECTED = {
    "train": ({"Summary", "Metrics", "Comparison with baselines", "Figures", "Model"},
              {"Reconstructions", "Loss curves", "Latent space"}),
    "detect": ({"Summary", "Metrics", "Figures"}, {"Loss curves", "Anomaly scores and threshold", "ROC curve"}),
    "restore": ({"Summary", "Metrics", "Per image", "Figures"}, {"coins: before / restored / original"}),
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """The three reports, from small, fast runs."""
    root = tmp_path_factory.mktemp("reports")
    assert main(["train", "--data", "digits", "--model", "mlp", "--latent-dim", "4", "--epochs", "2",
                 "--batch-size", "64", "--quiet", "--out", str(root / "train")]) == 0
    assert main(["detect", "--fit", "digits", "--normal-class", "0", "--data", "digits", "--limit", "600",
                 "--param", "epochs=2", "--param", "min_steps=0", "--n-heatmaps", "4",
                 "--out", str(root / "detect")]) == 0
    assert main(["restore", "--task", "denoise", "--fit", "skimage:brick", "--param", "patch_size=32",
                 "--param", "n_patches=100", "--param", 'corruption="gaussian:0.1"', "--epochs", "1", "--quiet",
                 "--corrupt", "--out", str(root / "restore"), "skimage:coins"]) == 0
    return {name: root / name / "report.html" for name in EXPECTED}


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("selenium")
    driver = chromium_driver(1200, 900)
    yield driver
    driver.quit()


@pytest.mark.parametrize("name", list(EXPECTED))
def test_report_renders(reports, browser, name, tmp_path):
    from PIL import Image

    browser.get(reports[name].resolve().as_uri())
    images = browser.execute_script(
        "return Array.from(document.images, i => [i.alt, i.complete, i.naturalWidth]);")
    assert images and all(done and width > 0 for _, done, width in images), images
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    sections, figures = EXPECTED[name]
    h2 = set(browser.execute_script("return Array.from(document.querySelectorAll('h2'), h => h.textContent);"))
    h3 = set(browser.execute_script("return Array.from(document.querySelectorAll('h3'), h => h.textContent);"))
    assert h2 == sections and figures <= h3
    # the whole page, as a reader scrolls through it, is not blank
    height = browser.execute_script("return document.body.scrollHeight;")
    browser.set_window_size(1200, min(height + 100, 8000))
    shot = tmp_path / f"{name}.png"
    assert browser.save_screenshot(str(shot))
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.std() > 20 and len(np.unique(pixels)) > 50
    if name == "restore":  # the images are shown at a size where the restoration can be judged
        widths = browser.execute_script("return Array.from(document.images, i => i.getBoundingClientRect().width);")
        assert max(widths) >= 3 * 256
