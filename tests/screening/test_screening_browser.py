"""The screening report in a real browser (headless Chromium via selenium): it opens and
every plot it links is loaded (naturalWidth > 0)."""
import shutil

import pytest

from test_screening import _study

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-sync", "--window-size=1200,900")


def test_report_html_shows_its_images_in_headless_chromium(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not browser or not driver_path:
        pytest.skip("headless Chromium not installed: apt-get install -y chromium chromium-driver")
    from mammo_tf.screening.report import write_report

    f = _study(tmp_path)
    report = write_report([f["test1"], f["test2"]], str(tmp_path / "out"), val=[f["val1"], f["val2"]],
                          manifest=f["manifest"], subgroups=["density"], n_boot=20)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get((tmp_path / "out" / "report.html").as_uri())
        assert driver.title == report["title"]
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) == len(report["images"])
        for image in images:
            assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0, \
                image.get_attribute("src")
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "Paired comparison (DeLong)" in text and "applied unchanged to test" in text
    finally:
        driver.quit()
