"""The CDNOW files of tests/predictive/data (see its README): transactions as arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

DATA = Path(__file__).resolve().parent / "data"
MASTER = DATA / "CDNOW_master.txt"
SAMPLE = DATA / "CDNOW_sample.txt"
SUMMARY = DATA / "cdnow_customers_summary.csv"
SUMMARY_WITH_SPEND = DATA / "cdnow_customers_summary_with_transactions.csv"
# days since 1997-01-01 of 1997-09-30, the last day of the 39-week calibration period
CALIBRATION_END = 272


def day_numbers(yyyymmdd: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Days since 1997-01-01 of dates written as the integers YYYYMMDD."""
    years = (yyyymmdd // 10_000 - 1970).astype("datetime64[Y]")
    months = years.astype("datetime64[M]") + (yyyymmdd // 100 % 100 - 1)
    days = months.astype("datetime64[D]") + (yyyymmdd % 100 - 1)
    return (days - np.datetime64("1997-01-01")).astype(np.int64)


def transactions(
    path: Path,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(client id, day number, amount) per order. The master file has a header and the columns
    id, date, CDs, dollars; the sample file has master id, sample id, date, CDs, dollars (the
    sample id, 1..2,357, is the ID of the summary files)."""
    if path == MASTER:
        table = np.loadtxt(path, skiprows=1)
        client, date, amount = table[:, 0], table[:, 1], table[:, 3]
    else:
        table = np.loadtxt(path)
        client, date, amount = table[:, 1], table[:, 2], table[:, 4]
    return client.astype(np.int64), day_numbers(date.astype(np.int64)), amount
