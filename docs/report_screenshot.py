"""Screenshot of a screening report (``mammo-tf evaluate``'s report.html) into
docs/report_screenshot.png, for the README.

Run from the repository root: ``python docs/report_screenshot.py [out.png] [report.html]``
(with a report.html, e.g. ``demo_output/report/report.html`` of ``make demo``, that report is
shot instead of the synthetic one); needs headless
Chromium + chromedriver (``apt-get install chromium chromium-driver``) and selenium. The
predictions are SYNTHETIC (a seeded toy study: 80 patients, two models of the same images,
validation and test halves, density and vendor columns), not a trained model's: the picture
shows what the report looks like, not a result.
"""
import csv
import os
import shutil
import sys
import tempfile

import numpy as np

from mammo_tf.screening.report import write_report


def _write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def toy_study(folder, n_patients=80, seed=0):
    """Manifest + validation / test prediction CSVs of two models of the same images: an
    over-confident one and a noisier one; 4 patients lack their MLO views."""
    rng = np.random.default_rng(seed)
    manifest, preds = [], {(s, m): [] for s in ("val", "test") for m in ("model_A", "model_B")}
    for p in range(n_patients):
        split = "val" if p % 2 else "test"
        density = "ABCD"[rng.integers(0, 4)]
        vendor = ("HOLOGIC, Inc.", "GE MEDICAL SYSTEMS")[p % 3 == 0]
        for side in "LR":
            label = int(rng.random() < 0.3)
            for view in ("CC", "MLO"):
                if p < 4 and view == "MLO":
                    continue
                image_id = f"P{p:03d}_{side}_{view}"
                manifest.append({"image_id": image_id, "patient_id": f"P{p:03d}", "side": side, "view": view,
                                 "label": label, "density": density, "manufacturer": vendor, "split": split})
                z = 2.0 * label - 1.0 + rng.normal()
                for model, scale, noise in (("model_A", 3.0, 0.0), ("model_B", 0.8, 1.2)):
                    prob = 1.0 / (1.0 + np.exp(-scale * (z + rng.normal(0, noise or 1e-9))))
                    preds[(split, model)].append({"image_id": image_id, "prob_positive": f"{prob:.6f}"})
    files = {"manifest": _write_csv(os.path.join(folder, "manifest.csv"), manifest)}
    for (split, model), rows in preds.items():
        files[(split, model)] = _write_csv(os.path.join(folder, f"{split}_{model}.csv"), rows)
    return files


def screenshot(html, png, size=(1200, 3000)):
    """Screenshot of ``html``; returns the page y (CSS pixels) below the first row of
    reliability diagrams, where the picture is cut."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get("file://" + os.path.abspath(html))
        driver.save_screenshot(png)
        return driver.execute_script(
            "const f = [...document.querySelectorAll('figure')].filter(e => e.querySelector("
            "'img[alt^=\"Reliability\"]')); return f.length > 1 ? f[1].getBoundingClientRect().bottom + 12 : null;")
    finally:
        driver.quit()


def main(out, html=None):
    from PIL import Image

    folder = tempfile.mkdtemp(prefix="report_screenshot_")
    if html is None:
        f = toy_study(folder)
        report = write_report([f[("test", "model_A")], f[("test", "model_B")]], os.path.join(folder, "report"),
                              val=[f[("val", "model_A")], f[("val", "model_B")]], manifest=f["manifest"],
                              names=["model A", "model B"], subgroups=["density", "manufacturer"], n_boot=1000,
                              title="Screening evaluation (synthetic toy predictions)")
        html = report["files"]["html"]
    raw = os.path.join(folder, "screenshot.png")
    cut = screenshot(html, raw)
    image = Image.open(raw).convert("RGB")
    if cut:  # title, discrimination, ROC curves, missing views, calibration (first diagrams)
        image = image.crop((0, 0, image.width, min(image.height, int(cut))))
    # 64-colour palette: the page is tables and line plots, so this keeps it sharp and small
    image.quantize(colors=64).save(out, optimize=True)
    print(f"{out}: {os.path.getsize(out) // 1024} KB (report in {folder})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "report_screenshot.png"),
         sys.argv[2] if len(sys.argv) > 2 else None)
