"""Sample data sets, generated here so that nothing is downloaded.

- write(): iris (scikit-learn's bundled copy) as SageMaker's built-in algorithms want it:
  header-less CSV, numeric label first.
- write_iris_names(): the same flowers the way AWS's scikit_bring_your_own sample ships them:
  the class name (setosa, ...) first, no header, in a `training` channel.
- write_bank(): a bank-marketing-like table, as real data sets come: a header, text columns,
  empty fields, a yes/no label in the last column.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write(folder: Path, seed: int = 7) -> dict[str, Path]:
    """Write train/validation/test CSVs (label first, no header) and a features-only payload."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    X, y = X[order], y[order]
    parts = {"train": slice(0, 100), "validation": slice(100, 125), "test": slice(125, 150)}
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, rows in parts.items():
        path = folder / name / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savetxt(path, np.column_stack([y[rows], X[rows]]), delimiter=",", fmt="%g")
        written[name] = path.parent
    payload = folder / "payload.csv"
    np.savetxt(payload, X[125:130], delimiter=",", fmt="%g")
    written["payload"] = payload
    return written


def write_iris_names(folder: Path, seed: int = 7) -> dict[str, Path]:
    """Iris with class names, as AWS's scikit_bring_your_own local test kit lays it out.

    `training/iris.csv` holds all 150 rows, `setosa,5.1,3.5,1.4,0.2`, no header;
    `payload.csv` holds feature rows only, and `answers.txt` the class of each payload row.
    """
    from sklearn.datasets import load_iris

    iris = load_iris()
    names = np.asarray(iris.target_names)[iris.target]
    training = folder / "training"
    training.mkdir(parents=True, exist_ok=True)
    lines = [",".join([name, *(f"{v:g}" for v in row)]) for name, row in zip(names, iris.data)]
    (training / "iris.csv").write_text("\n".join(lines) + "\n")
    picked = np.sort(np.random.default_rng(seed).choice(len(names), size=12, replace=False))
    payload = folder / "payload.csv"
    payload.write_text("".join(",".join(f"{v:g}" for v in iris.data[i]) + "\n" for i in picked))
    answers = folder / "answers.txt"
    answers.write_text("".join(f"{names[i]}\n" for i in picked))
    return {"training": training, "payload": payload, "answers": answers}


# -- bank marketing ------------------------------------------------------------------------

BANK_LABEL = "y"
BANK_COLUMNS = ("age", "job", "marital", "education", "default", "balance", "housing", "loan",
                "contact", "day", "month", "duration", "campaign", "pdays", "previous", "poutcome",
                BANK_LABEL)
_JOBS = ("admin.", "blue-collar", "entrepreneur", "housemaid", "management", "retired",
         "self-employed", "services", "student", "technician", "unemployed", "unknown")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: The share of each column's fields left empty: missing values, as exports write them.
_MISSING = {"job": 0.02, "education": 0.04, "balance": 0.03, "contact": 0.05, "duration": 0.01,
            "poutcome": 0.02}


def bank_table(rows: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Columns of a bank-marketing-like table (object arrays; None is a missing value).

    The label `y` (yes/no, about one in six yes) follows a logistic model of the call's
    duration, the previous campaign's outcome, the month, housing loans and age, so a
    model has something real to learn and AUC something to measure.
    """
    rng = np.random.default_rng(seed)
    pick = lambda values, p=None: np.asarray(values, dtype=object)[  # noqa: E731
        rng.choice(len(values), size=rows, p=p)]
    age = np.clip(rng.normal(41, 11, rows), 18, 95).round().astype(int)
    job = pick(_JOBS, [.11, .21, .03, .03, .21, .05, .03, .09, .02, .17, .03, .02])
    marital = pick(("married", "single", "divorced"), [.6, .28, .12])
    education = pick(("primary", "secondary", "tertiary", "unknown"), [.15, .51, .30, .04])
    default = pick(("no", "yes"), [.98, .02])
    balance = np.round(rng.lognormal(6.5, 1.4, rows) - 400).astype(int)
    housing = pick(("yes", "no"), [.56, .44])
    loan = pick(("no", "yes"), [.84, .16])
    contact = pick(("cellular", "telephone", "unknown"), [.65, .06, .29])
    day = rng.integers(1, 32, rows)
    month = pick(_MONTHS, [.03, .06, .01, .06, .30, .12, .15, .14, .01, .02, .09, .01])
    duration = np.round(rng.gamma(1.6, 160, rows)).astype(int)
    campaign = 1 + rng.poisson(1.7, rows)
    contacted = rng.random(rows) < 0.18
    pdays = np.where(contacted, rng.integers(1, 400, rows), -1)
    previous = np.where(contacted, 1 + rng.poisson(1.5, rows), 0)
    poutcome = np.where(contacted, pick(("failure", "other", "success"), [.55, .2, .25]), "unknown")

    score = -5.6 + 2.2 * (0.0045 * duration + 2.3 * (poutcome == "success") - 0.7 * (housing == "yes")
                          + 1.2 * np.isin(month, ("mar", "sep", "oct", "dec")) - 0.4 * (loan == "yes")
                          + 0.02 * np.abs(age - 41) - 0.08 * (campaign - 1) + 0.4 * (contact == "cellular")
                          + 0.5 * (job == "student") + 0.4 * (job == "retired") + 0.00005 * balance)
    y = np.where(rng.random(rows) < 1 / (1 + np.exp(-score)), "yes", "no").astype(object)

    table = {name: np.asarray(values, dtype=object) for name, values in zip(BANK_COLUMNS, (
        age, job, marital, education, default, balance, housing, loan, contact, day, month,
        duration, campaign, pdays, previous, poutcome, y))}
    for name, share in _MISSING.items():
        table[name][rng.random(rows) < share] = None
    return table


def bank_csv(table: dict[str, np.ndarray], columns: tuple[str, ...] = BANK_COLUMNS,
             rows: slice = slice(None), header: bool = True) -> str:
    """CSV text of some rows and columns of bank_table(); missing values are empty fields."""
    picked = [table[name][rows] for name in columns]
    lines = [",".join(columns)] if header else []
    lines += [",".join("" if v is None else str(v) for v in row) for row in zip(*picked)]
    return "\n".join(lines) + "\n"


def write_bank(folder: Path, rows: int = 30_000, seed: int = 7) -> dict[str, Path]:
    """Write the bank sample: train (2/3 of the rows), validation and test (1/6 each), each a
    CSV with a header and the label `y` last; payload.csv (the first ten test rows' features
    with the header), payload.jsonl (the same as JSON objects) and answers.txt (their labels).

    Train on it with ContentType text/csv;header=present and label_column=y.
    """
    table = bank_table(rows, seed)
    cut1, cut2 = rows * 2 // 3, rows * 5 // 6
    parts = {"train": slice(0, cut1), "validation": slice(cut1, cut2), "test": slice(cut2, rows)}
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, part in parts.items():
        path = folder / name / f"bank-{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(bank_csv(table, rows=part))
        written[name] = path.parent
    features = BANK_COLUMNS[:-1]
    few = slice(cut2, cut2 + 10)
    payload = folder / "payload.csv"
    payload.write_text(bank_csv(table, features, few))
    objects = folder / "payload.jsonl"
    objects.write_text("".join(
        json.dumps({name: _plain(table[name][i]) for name in features if table[name][i] is not None}) + "\n"
        for i in range(few.start, few.stop)))
    answers = folder / "answers.txt"
    answers.write_text("".join(f"{v}\n" for v in table[BANK_LABEL][few]))
    written.update(payload=payload, payload_jsonl=objects, answers=answers)
    return written


def _plain(value: object) -> object:
    """A NumPy scalar as the JSON number or string it stands for."""
    return value.item() if isinstance(value, np.generic) else value
