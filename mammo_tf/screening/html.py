# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``report.html``: the screening report (the dict of :func:`mammo_tf.screening.report.write_report`)
as one self-contained HTML page; the PNG plots are linked, next to it."""
import html


def _fmt(v, digits=3):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _ci(ci):
    return "–" if not ci else f"{ci[0]:.3f}–{ci[1]:.3f}"


def _table(header, rows):
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(src, alt):
    return f'<figure><img src="{html.escape(src)}" alt="{html.escape(alt)}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def render_html(report):
    """The report as one self-contained HTML page (the PNGs are linked, next to it)."""
    parts = [f"<h1>{html.escape(report['title'])}</h1>",
             f"<p>Breast level: <b>{html.escape(report['reducer'])}</b> over views; exam level: max over "
             f"breasts; missing views: <b>{html.escape(report['missing_views'])}</b>. CIs: "
             f"{html.escape(report['ci'])}, {report['n_boot']} resamples.</p>"]
    images = report["images"]
    parts.append("<h2>Discrimination</h2>")
    rows = []
    for name, model in report["models"].items():
        for level, e in model["levels"].items():
            rows.append([_fmt(name), level, e["n"], e["n_positive"], e["n_patients"], _fmt(e["auc"]),
                         _ci(e["auc_ci95"]), e["probabilities"]])
    parts.append(_table(["model", "level", "n", "positive", "patients", "AUC", "95% CI", "probabilities"], rows))
    parts += [_img(images[k], f"ROC curve, {k[4:]} level") for k in images if k.startswith("roc_")]
    parts.append("<h2>Missing views</h2>")
    rows = [[_fmt(n), *(m["missing_views"][k] for k in ("breasts", "both_views", "missing_cc", "missing_mlo", "dropped"))]
            for n, m in report["models"].items() if m.get("missing_views")]
    parts.append(_table(["model", "breasts", "CC and MLO", "no CC", "no MLO", "dropped"], rows) if rows
                 else "<p>Not applicable (breast-level predictions, or no sides known).</p>")
    parts.append("<h2>Calibration</h2>")
    rows = []
    for name, model in report["models"].items():
        cal = model.get("calibration")
        how = "none" if not cal else (
            f"temperature T = {cal['temperature']:.3f}" + (" (at its bound)" if cal.get("at_bound") else "")
            if cal["method"] == "temperature" else f"isotonic ({len(cal['x_thresholds'])} points)")
        for level, e in model["levels"].items():
            before, after = e["calibration"]["before"], e["calibration"].get("after")
            rows.append([_fmt(name), level, how, _fmt(before["ece"]), _fmt(after and after["ece"]),
                         _fmt(before["brier"]), _fmt(after and after["brier"])])
    parts.append(_table(["model", "level", "fitted on validation", "ECE before", "ECE after",
                         "Brier before", "Brier after"], rows))
    parts += [_img(images[k], f"Reliability diagram, {k[12:]}") for k in images if k.startswith("reliability_")]
    parts.append("<h2>Operating points</h2>")
    rows = []
    for name, model in report["models"].items():
        for level, e in model["levels"].items():
            ops = e.get("operating_points")
            if not ops:
                continue
            for kind, label in (("sensitivity_at_specificity", "sensitivity at specificity"),
                                ("specificity_at_sensitivity", "specificity at sensitivity")):
                for at, v in ops[kind].items():
                    rows.append([_fmt(name), level, f"{label} {at}", _fmt(v["value"]), _ci(v["ci95"])])
    parts.append(_table(["model", "level", "operating point", "value", "95% CI"], rows))
    rows = []
    for name, model in report["models"].items():
        for level, e in model["levels"].items():
            for t in e.get("validation_thresholds") or ():
                (tn, fp), (fn, tp) = t["confusion_matrix"]["matrix"]
                rows.append([_fmt(name), level, t["target"], _fmt(t["threshold"], 4),
                             f"{t['sensitivity']:.3f} ({_ci(t['sensitivity_ci95'])})",
                             f"{t['specificity']:.3f} ({_ci(t['specificity_ci95'])})",
                             f"TP {tp} FN {fn} FP {fp} TN {tn}"])
    parts.append("<h3>Thresholds chosen on validation, applied unchanged to test</h3>")
    parts.append(_table(["model", "level", "target (validation)", "threshold", "test sensitivity",
                         "test specificity", "test confusion matrix"], rows) if rows
                 else "<p>No validation predictions given: no threshold chosen.</p>")
    if report["comparisons"]:
        parts.append("<h2>Paired comparison (DeLong)</h2>")
        rows = []
        for c in report["comparisons"]:
            d = c.get("delong")
            if not d:
                rows.append([_fmt(c["model_1"]), _fmt(c["model_2"]), c["level"], c["n"], _fmt(c.get("note")), "", "", ""])
                continue
            boot = c.get("bootstrap", {}).get("difference_ci95")
            rows.append([_fmt(c["model_1"]), _fmt(c["model_2"]), c["level"], c["n"], _fmt(d["difference"]),
                         _ci(d["ci95"]), _fmt(d["p_value"], 4), _ci(boot)])
        parts.append(_table(["model 1", "model 2", "level", "n", "AUC difference", "DeLong 95% CI",
                             "p (DeLong)", "patient-bootstrap 95% CI"], rows))
    sub_rows = []
    for name, model in report["models"].items():
        for level, e in model["levels"].items():
            for column, table in (e.get("subgroups") or {}).items():
                for r in table:
                    sub_rows.append([_fmt(name), level, _fmt(column), _fmt(r["value"]), r["n"], r["n_positive"],
                                     _fmt(r["auc"]), _ci(r["auc_ci95"])])
    if sub_rows:
        parts.append("<h2>Subgroups</h2>")
        parts.append(_table(["model", "level", "column", "value", "n", "positive", "AUC", "95% CI"], sub_rows))
        parts += [_img(images[k], f"Subgroups, {k[10:]}") for k in images if k.startswith("subgroups_")]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:left}th{background:#f0f0f0}figure{display:inline-block;margin:0.5em}"
             "img{max-width:480px}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(report['title'])}</title><style>{style}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
