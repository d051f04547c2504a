"""Sample tables (CSV / Parquet, wide and long) -> samples, with clear errors naming the file and the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sitsbench.data import load_dataset
from sitsbench.data.readers.base import DatasetFormatError
from sitsbench.data.readers.tables import read_sample_table

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _wide() -> pd.DataFrame:
    return pd.DataFrame({
        "label": ["wheat", "maize", "wheat"],
        "group": ["p1", "p1", "p2"],
        "B04_2020-05-01": [0.1, 0.2, np.nan],
        "B08_2020-05-01": [0.4, 0.5, 0.6],
        "B04_2020-05-11": [0.11, 0.21, 0.31],
        "B08_2020-05-11": [0.41, 0.51, 0.61],
    })


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_wide_table_with_band_date_columns(tmp_path, suffix):
    path = tmp_path / f"samples{suffix}"
    table = _wide()
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path, index=False)
    samples = load_dataset(path).samples
    assert dict(samples.sizes) == {"sample": 3, "time": 2, "band": 2}
    assert list(samples["band"].values) == ["B04", "B08"] and samples.attrs["class_names"] == ["maize", "wheat"]
    np.testing.assert_array_equal(samples["label"].values, [1, 0, 1])
    np.testing.assert_array_equal(samples["group"].values, [1, 1, 2])
    np.testing.assert_allclose(samples["series"].values[1], [[0.2, 0.5], [0.21, 0.51]])
    assert samples["date"].values[0, 1] == np.datetime64("2020-05-11")
    assert not samples["valid"].values[2, 0] and samples["valid"].values[2, 1], "a NaN band makes the date invalid"


def test_wide_table_without_dates_in_the_names_needs_them(tmp_path):
    path = tmp_path / "v.csv"
    pd.DataFrame({"label": [0, 1], "v0": [1.0, 2.0], "v1": [3.0, 4.0], "v2": [5.0, 6.0], "v3": [7.0, 8.0]}).to_csv(
        path, index=False)
    with pytest.raises(DatasetFormatError, match=r"v\.csv: the value columns .* name no date"):
        read_sample_table(path)
    samples = read_sample_table(path, dates=["2021-01-01", "2021-02-01"], bands=["red", "nir"],
                                class_names=["a", "b"])
    np.testing.assert_allclose(samples["series"].values[0], [[1.0, 3.0], [5.0, 7.0]])  # date by date
    with pytest.raises(DatasetFormatError, match="4 value columns, expected 3 dates x 2 band"):
        read_sample_table(path, dates=["2021-01-01", "2021-02-01", "2021-03-01"], bands=["red", "nir"])
    with pytest.raises(DatasetFormatError, match=r"class id\(s\) \[1\] outside 0..0"):
        read_sample_table(path, dates=["2021-01-01", "2021-02-01"], bands=["red", "nir"], class_names=["a"])


def test_long_table_keeps_each_samples_own_dates_across_years(tmp_path):
    path = tmp_path / "long.csv"
    rows = [("s1", "2019-03-01", "wheat", 0.2), ("s1", "2019-04-01", "wheat", 0.5),
            ("s2", "2020-03-15", "maize", 0.1), ("s2", "2020-04-20", "maize", 0.3), ("s2", "2020-06-01", "maize", 0.8)]
    pd.DataFrame(rows, columns=["sample", "date", "label", "NDVI"]).sample(frac=1, random_state=0).to_csv(
        path, index=False)
    samples = load_dataset(path).samples
    assert dict(samples.sizes) == {"sample": 2, "time": 3, "band": 1}
    np.testing.assert_array_equal(samples["date"].values[0, :2].astype("datetime64[D]"),
                                  np.array(["2019-03-01", "2019-04-01"], dtype="datetime64[D]"))
    assert np.isnat(samples["date"].values[0, 2]) and not samples["valid"].values[0, 2]
    np.testing.assert_allclose(samples["series"].values[1, :, 0], [0.1, 0.3, 0.8])
    assert list(samples["label"].values) == [1, 0]


def test_bad_tables_name_the_file_and_the_column(tmp_path):
    path = tmp_path / "bad.csv"
    _wide().drop(columns="label").to_csv(path, index=False)
    with pytest.raises(DatasetFormatError, match=r"bad\.csv: missing label column 'label'"):
        read_sample_table(path)
    rows = pd.DataFrame({"sample": ["a", "a"], "date": ["2020-01-01", "2020-01-01"], "label": ["x", "x"],
                         "NDVI": [0.1, 0.2]})
    rows.to_csv(path, index=False)
    with pytest.raises(DatasetFormatError, match="sample 'a' has the date 2020-01-01 twice"):
        read_sample_table(path)
    rows.assign(date=["01/02/2020", "03/02/2020"]).to_csv(path, index=False)
    with pytest.raises(DatasetFormatError, match="'01/02/2020' is not an ISO date"):
        read_sample_table(path)
    rows.assign(date=["2020-01-01", "2020-02-01"]).to_csv(path, index=False)
    with pytest.raises(DatasetFormatError, match=r"label\(s\) \['x'\] not in \['y'\]"):
        read_sample_table(path, class_names=["y"])


@pytest.mark.skipif(not (SHARED / "igarss2019_victoria_s2").is_dir(), reason="shared Victoria sample absent")
def test_the_victoria_csv_read_as_a_generic_table_equals_its_reader():
    """The generic reader on the real Victoria bytes (no dates in the file: given as the Victoria reader assumes)."""
    from sitsbench.data.readers.victoria import read_victoria

    folder = SHARED / "igarss2019_victoria_s2"
    dates = (np.datetime64("2018-01-01") + 5 * np.arange(73)).astype(str)
    bands = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
    table = read_sample_table(folder / "train_dataset.csv", label="lc_id", group="objectid", dates=dates, bands=bands,
                              class_names=[str(k) for k in range(8)], scale=1e-4)
    reference = read_victoria(folder).isel(sample=slice(0, 400))
    np.testing.assert_allclose(table["series"].values, reference["series"].values, rtol=1e-6)
    np.testing.assert_array_equal(table["label"].values, reference["label"].values)
    # groups are renumbered by the table reader; the partition into polygons is the same
    assert len({(a, b) for a, b in zip(table["group"].values, reference["group"].values)}) == np.unique(
        reference["group"].values).size


HEADER = "label,B04_2021-01-01,B04_2021-02-01\n"


@pytest.mark.parametrize("text, message", [
    (HEADER + 'a,0.1,"0.2\nb,0.3,0.4\nc,0.4,0.5"\ny,0.1,0.2\n',
     "lines 2-4, column 'B04_2021-02-01': a field runs over several lines (a quote left open?)"),
    (HEADER + 'a,0.1,0.2\nb,"0.3,0.4\ny,0.5,0.6\n', "lines 3-4: unexpected end of data (a quote left open?)"),
    (HEADER + "a,0.1,0.2\nb,0.3\nc,0.4,0.5\n", "line 3: 2 fields, the header has 3 (a ragged row)"),
    (HEADER + "a,0.1,0.2\nb,0.3,0.4,0.5\n", "line 3: 4 fields, the header has 3 (a ragged row)"),
    (HEADER + "a,0.1,0.2\n\nb,0.3,n/a?\n", "line 4, column 'B04_2021-02-01': value 'n/a?' is not a number"),
    (HEADER + ",0.1,0.2\n", "line 2, column 'label': empty label"),
    ("label,id,B04_2021-01-01\na,7,0.1\n", "column(s) ['id'] are neither the label ('label') nor a value column"),
    (",label,B04_2021-01-01\n0,a,0.1\n", "line 1: column(s) [1] have no name (a row index written by pandas"),
    ("label,B04_2021-01-01,B04_2021-01-01\na,0.1,0.2\n", "column name(s) ['B04_2021-01-01'] appear more than once"),
    ("sample,date,label,B04,notes\n1,2021-01-01,a,0.1,cloudy\n",
     "line 2, column 'notes': value 'cloudy' is not a number (1 such value(s) in this column); every column other"),
], ids=["quote-closed-lines-later", "quote-never-closed", "short-row", "long-row", "not-a-number", "empty-label",
        "unknown-column", "index-column", "repeated-column", "text-column-in-long-table"])
def test_malformed_csv_tables_are_errors_naming_the_line_and_the_column(tmp_path, text, message):
    """Each of these loaded before as something else (a malformed table as one sample of class 'y', a ragged row with
    NaN values, a non-number as a cloudy date, a text column dropped): now an error naming the file and the line."""
    path = tmp_path / "malformed.csv"
    path.write_text(text)
    with pytest.raises(DatasetFormatError) as raised:
        load_dataset(path)
    assert str(raised.value).startswith(f"{path}") and message in str(raised.value), str(raised.value)


def test_parquet_values_that_are_not_numbers_name_the_row(tmp_path):
    path = tmp_path / "samples.parquet"
    _wide().assign(**{"B08_2020-05-11": ["0.4", "high", "0.6"]}).to_parquet(path)
    with pytest.raises(DatasetFormatError, match=r"samples\.parquet, row 2, column 'B08_2020-05-11': value 'high'"):
        read_sample_table(path)


def test_long_table_with_named_bands_refuses_other_columns(tmp_path):
    path = tmp_path / "long.csv"
    pd.DataFrame({"sample": [1, 1], "date": ["2021-01-01", "2021-02-01"], "label": ["a", "a"], "B04": [0.1, 0.2],
                  "B08": [0.3, 0.4]}).to_csv(path, index=False)
    with pytest.raises(DatasetFormatError, match=r"column\(s\) \['B08'\] are neither the label .* nor a band \['B04'\]"):
        read_sample_table(path, bands=["B04"])
    np.testing.assert_allclose(read_sample_table(path)["series"].values[0], [[0.1, 0.3], [0.2, 0.4]])
