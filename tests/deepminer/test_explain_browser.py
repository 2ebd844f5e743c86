# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The annotation site in a real browser (headless Chromium via selenium): fill, hover, export."""
import glob
import json
import os
import shutil
import time

import pytest

from explain_fixtures import SIZE, nested_model, write_phantom_manifest

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000")


def _driver(profile_dir, download_dir):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not browser or not driver_path:
        pytest.skip("headless Chromium not installed: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from mammo_tf.deepminer.annotate import build_site
    from mammo_tf.deepminer.dissect import dissect
    from mammo_tf.deepminer.graph import split_model
    from mammo_tf.deepminer.probe import open_probe

    root = tmp_path_factory.mktemp("site")
    manifest = write_phantom_manifest(str(root / "data"), n=4, lesions=("mass_malignant",))
    split = split_model(nested_model(size=SIZE, units=4, classes=2))
    dissect(split, open_probe(manifest), str(root / "dis"), 100.0, ["unit_0002", "unit_0004"], top_k=3, progress=False)
    return build_site(str(root / "dis"), str(root / "site"))


def test_annotation_form_export_in_headless_chromium(site, tmp_path):
    pytest.importorskip("selenium", reason="selenium not installed (pip install selenium)")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = _driver(tmp_path / "profile", downloads)
    try:
        page = os.path.join(os.path.dirname(site), "unit_0002.html")
        driver.get("file://" + page)
        driver.find_element(By.ID, "annotator").send_keys("Dr Test")
        driver.find_element(By.CSS_SELECTOR, 'input[name="recognizable"][value="yes"]').click()
        driver.find_element(By.CSS_SELECTOR, 'input[name="association"][value="malignant"]').click()
        driver.find_element(By.CSS_SELECTOR, 'input[name="multiplicity"][value="multiple"]').click()
        for concept in ("mass_margin_spiculated", "calcified_vessels"):
            driver.find_element(By.CSS_SELECTOR, f'input[name="concept"][value="{concept}"]').click()
        driver.find_element(By.NAME, "free_text").send_keys("spiculated mass edge")
        # hovering a patch shows its whole mammogram with the patch outlined
        ActionChains(driver).move_to_element(driver.find_element(By.CSS_SELECTOR, ".gallery img")).perform()
        assert driver.find_element(By.ID, "context-image").get_attribute("src").endswith(".png")
        assert driver.find_element(By.ID, "context-outline").value_of_css_property("display") == "block"
        driver.save_screenshot(str(tmp_path / "annotation_unit_page.png"))
        # answers persist across pages (localStorage): annotate the second unit too
        driver.get("file://" + os.path.join(os.path.dirname(site), "unit_0004.html"))
        driver.find_element(By.CSS_SELECTOR, 'input[name="recognizable"][value="no"]').click()
        driver.get("file://" + site)
        # Chromium hands localStorage writes to other pages asynchronously: under load the
        # index may first render before the last answer arrived, so reload until it has.
        deadline = time.time() + 15
        while len(driver.find_elements(By.CSS_SELECTOR, ".card.done")) < 2 and time.time() < deadline:
            time.sleep(0.5)
            driver.refresh()
        assert len(driver.find_elements(By.CSS_SELECTOR, ".card.done")) == 2
        driver.find_element(By.CSS_SELECTOR, "button.export").click()
        deadline = time.time() + 10
        files = []
        while time.time() < deadline and not files:
            files = [f for f in glob.glob(str(downloads / "*.json"))]
            time.sleep(0.2)
        shown = json.loads(driver.find_element(By.ID, "export-json").text)
        driver.save_screenshot(str(tmp_path / "annotation_index.png"))
    finally:
        driver.quit()
    assert files, "the Export button did not download a JSON file"
    exported = json.load(open(files[0], encoding="utf-8"))
    assert os.path.basename(files[0]) == "annotations_Dr_Test.json"
    assert exported == shown
    assert exported["format"] == "mammo_tf.explain.annotations/1" and exported["annotator"] == "Dr Test"
    answer = exported["units"]["unit_0002"]
    assert answer["recognizable"] == "yes" and answer["association"] == "malignant"
    assert answer["multiplicity"] == "multiple" and answer["free_text"] == "spiculated mass edge"
    assert sorted(answer["concepts"]) == ["calcified_vessels", "mass_margin_spiculated"]
    assert exported["units"]["unit_0004"]["recognizable"] == "no"
    assert os.path.getsize(tmp_path / "annotation_unit_page.png") > 5000
    # the export merges directly
    from mammo_tf.deepminer.merge import merge_annotations

    merged = merge_annotations(files)
    assert merged["units"]["unit_0002"]["association"] == "malignant"
