"""The reader on pydicom's own test corpus (odd real files): every file either reads or fails
with a MammogramReadError naming it; never an unexplained exception (issue 15)."""
import os
import warnings

import pytest

from mammo_tf.io import MammogramReadError, read_mammogram


@pytest.mark.slow
def test_pydicom_corpus_reads_or_fails_clearly():
    from pydicom.data import get_testdata_files

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = [f for f in get_testdata_files("*") if os.path.isfile(f)]
        read, clear, unclear = 0, 0, []
        for path in files:
            try:
                read_mammogram(path)
                read += 1
            except MammogramReadError as exc:
                assert os.fspath(path) in str(exc)
                clear += 1
            except Exception as exc:  # noqa: BLE001 - the point of the test
                unclear.append(f"{path}: {type(exc).__name__}: {exc}")
    print(f"pydicom corpus: {len(files)} files, {read} read, {clear} clear errors, {len(unclear)} unclear")
    assert not unclear, "\n".join(unclear)
    # Measured with the decoders installed (pydicom 3.0 bundled files): 23 of 85 read; the
    # rest are colour, header-only, multi-frame, non-DICOM or damaged files.
    assert read >= 23
