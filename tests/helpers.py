"""Small shared helpers for the tests (real data, scaled to [0, 1])."""
from __future__ import annotations

import functools

import numpy as np
from sklearn.datasets import load_digits


@functools.lru_cache(maxsize=None)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (1797, 1, 8, 8) float32 in [0, 1], and labels."""
    d = load_digits()
    return (d.images[:, None] / 16.0).astype(np.float32), d.target.astype(np.int64)


def digits_split():
    X, _ = digits()
    return X[:1400], X[1400:]


# ------------------------------------------------------------------------------ headless Chromium
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"   # Debian's chromium + chromium-driver


def has_chromium() -> bool:
    import os

    return os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


def chromium_driver(width: int = 1200, height: int = 1000, script_timeout: float | None = None):
    """Selenium driving the system's headless Chromium (never a downloaded browser), browser console kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if script_timeout is not None:
        driver.set_script_timeout(script_timeout)
    return driver
