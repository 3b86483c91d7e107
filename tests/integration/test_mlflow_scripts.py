"""Unchanged MLflow scripts log the same things under MLflow 3.17 and under trackbook.

Each script in ``tests/mlflow_scripts/`` runs twice: with the real MLflow in its own venv
(SQLite store, see ``_run_mlflow.py``) and through ``python -m trackbook exec`` on a
trackbook store. Both stores are then read through MLflow's client API (``_dump.py``:
MLflow's ``MlflowClient`` in MLflow's venv, ``trackbook.Client`` here) and compared run by
run: params, every metric point, tags, artifact paths, dataset inputs, logged models
(flavors, MLmodel keys, files, params, metrics) and registered model versions. A script
that cannot match yet is ``xfail(strict=True)`` with its reason, so it flips when fixed;
``test_coverage_figure`` prints "N of M scripts run unchanged with identical logs".
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mlflow_env import mlflow_python

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = ROOT / "tests" / "mlflow_scripts"
ALL_SCRIPTS = sorted(p.name for p in SCRIPTS_DIR.glob("s[0-9]*.py"))
# TRACKBOOK_TEST_SCRIPTS=s07,s08 runs only those scripts (for working on one difference)
_ONLY = [s for s in os.environ.get("TRACKBOOK_TEST_SCRIPTS", "").split(",") if s]
SCRIPTS = [s for s in ALL_SCRIPTS if not _ONLY or s.startswith(tuple(_ONLY))]
FRAMEWORKS = ["sklearn", "xgboost", "lightgbm", "torch", "pytorch_lightning", "keras",
              "polars", "matplotlib", "psutil"]
JOBS = 2  # scripts at a time per side (the CI machine has 2 cores)

# Scripts that run unchanged but whose logs still differ, each with what differs (README,
# "Use it as MLflow"). Strict: a script that starts matching fails until it is taken off.
XFAIL: dict[str, str] = {}

# Files in a logged model's folder that the script did not log. MLflow's
# ModelsArtifactRepository writes registered_model_meta (the registered name and version it
# was loaded by, null for models:/<model_id>) into the folder a models:/ download returns,
# meant for the caller's copy; only because MLflow's local artifact repository returns the
# store's own folder when no dst_path is given does the file land in the store, rewritten on
# each load. trackbook writes it into copies only (README, "Use it as MLflow").
MODEL_FILES_NOT_LOGGED = {"registered_model_meta"}
# Tags whose keys both sides set but whose values legitimately differ.
TAG_VALUES_DIFFER = {
    # a JSON list of the run's models with MLflow's own utc_time_created and model uuid
    "mlflow.log-model.history",
}
# Tags set by only one side, for a reason that is not a difference in what was logged.
TAGS_ONE_SIDE: set[str] = set()
# Metrics whose values are not deterministic (timing, machine load): keys and steps only.
# (system/*: a background sampler; *_fit_time/*_score_time: a search's measured seconds)
VOLATILE_METRICS = re.compile(r"^(system/.*|.*_(fit|score)_time)$")
REL_TOL = 1e-6


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "TRACKBOOK_")) and k != "PYTHONPATH"}
    # one thread per framework: deterministic sums, and two scripts fit on two cores
    env.update(KERAS_BACKEND="torch", PYTHONHASHSEED="0", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    return env


def _run_mlflow_side(out: Path) -> None:
    python = mlflow_python(FRAMEWORKS)
    subprocess.run([str(python), str(SCRIPTS_DIR / "_run_mlflow.py"), str(out), str(JOBS),
                    *[str(SCRIPTS_DIR / s) for s in SCRIPTS]],
                   env=_clean_env(), check=True, capture_output=True, timeout=1200)


def _run_trackbook_script(script: str, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    env = _clean_env()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [
        os.environ.get("PYTHONPATH")])])
    env["MLFLOW_TRACKING_URI"] = str(work / "tbstore")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "trackbook", "exec", str(SCRIPTS_DIR / script)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    return {"rc": proc.returncode, "seconds": round(time.perf_counter() - started, 2),
            "stdout": proc.stdout[-3000:], "stderr": proc.stderr[-6000:]}


def _dump_trackbook(work: Path) -> dict:
    import _dump

    import trackbook as tb

    store = work / "tbstore"
    tb.set_tracking_uri(str(store))
    try:
        search = functools.partial(tb.search_logged_models, output_format="list")
        return _dump.dump(tb.Client(str(store)), str(store), search_logged_models=search)
    finally:
        tb.set_tracking_uri(None)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """script -> {"mlflow": (result, dump), "trackbook": (result, dump)}, both sides run
    at the same time (MLflow's in one process of its venv, trackbook's from here)."""
    sys.path.insert(0, str(SCRIPTS_DIR))
    base = tmp_path_factory.mktemp("mlflow-scripts")
    started = time.perf_counter()
    with ThreadPoolExecutor(1 + JOBS) as pool:
        ml = pool.submit(_run_mlflow_side, base / "mlflow")
        tb_results = {s: pool.submit(_run_trackbook_script, s, base / "trackbook" / Path(s).stem)
                      for s in SCRIPTS}
        tb_results = {s: f.result() for s, f in tb_results.items()}
        ml.result()
    found = {}
    for script in SCRIPTS:
        stem = Path(script).stem
        ml_dir = base / "mlflow" / stem
        found[script] = {
            "mlflow": (json.loads((ml_dir / "result.json").read_text()),
                       json.loads((ml_dir / "dump.json").read_text())),
            "trackbook": (tb_results[script], _dump_trackbook(base / "trackbook" / stem)),
        }
        # kept beside MLflow's for reading a failure: `diff mlflow/x/dump.json trackbook/...`
        (base / "trackbook" / stem / "dump.json").write_text(json.dumps(
            found[script]["trackbook"][1], default=str, indent=1, sort_keys=True))
    seconds = {s: (v["mlflow"][0]["seconds"], v["trackbook"][0]["seconds"])
               for s, v in found.items()}
    (base / "timings.json").write_text(json.dumps(
        {"total": round(time.perf_counter() - started, 1), "per_script": seconds}))
    return found


# -- comparison ---------------------------------------------------------------------------


def _normalize(value, names: set[str]):
    """Replace run names the script did not choose (autolog's child runs) by '~auto', and
    the uuids/timestamps MLflow puts in image file names by placeholders."""
    if isinstance(value, dict):
        return {_normalize(k, names): _normalize(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v, names) for v in value]
    if not isinstance(value, str):
        return value
    value = re.sub(r"<run:([^>]*)>", lambda m: m.group(0) if m.group(1) in names
                   else "<run:~auto>", value)
    value = re.sub(r"[0-9a-f]{32}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "<uuid>", value)
    return re.sub(r"(%timestamp%|\+timestamp\+)\d+", r"\1<ts>", value)


def _script_names(script: str) -> set[str]:
    """Every string literal and f-string expansion (trial-0..9) in the script's source."""
    source = (SCRIPTS_DIR / script).read_text()
    names = set(re.findall(r"[\"']([^\"'\n]+)[\"']", source))
    names |= {re.sub(r"\{[^}]*\}", str(i), n) for n in names for i in range(10)}
    return names


def _run_key(run: dict, names: set[str]) -> tuple:
    name = run["name"] if run["name"] in names else "~auto"
    return (run["experiment"], name, run["tags"].get("mlflow.parentRunId", ""),
            json.dumps(run["params"], sort_keys=True))


def _same_number(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)


def _compare_metrics(where: str, ml: dict, tb: dict, diffs: list[str]) -> None:
    if sorted(ml) != sorted(tb):
        diffs.append(f"{where} metric keys: mlflow-only {sorted(set(ml) - set(tb))}, "
                     f"trackbook-only {sorted(set(tb) - set(ml))}")
    for key in sorted(set(ml) & set(tb)):
        ml_steps, tb_steps = [p[0] for p in ml[key]], [p[0] for p in tb[key]]
        if VOLATILE_METRICS.match(key):
            continue  # how many samples a background thread took depends on the machine
        if ml_steps != tb_steps:
            diffs.append(f"{where} metric {key} steps: mlflow {ml_steps}, trackbook {tb_steps}")
        elif not all(_same_number(a[1], b[1]) for a, b in zip(ml[key], tb[key], strict=True)):
            diffs.append(f"{where} metric {key} values: mlflow {[p[1] for p in ml[key]]}, "
                         f"trackbook {[p[1] for p in tb[key]]}")


def _compare_tags(where: str, ml: dict, tb: dict, diffs: list[str]) -> None:
    """Tags in trackbook's own ``trackbook.*`` namespace (python version, package snapshot,
    dirty flag) are extras MLflow has no name for; every other tag must match."""
    ml = {k: v for k, v in ml.items() if k not in TAGS_ONE_SIDE}
    tb = {k: v for k, v in tb.items()
          if k not in TAGS_ONE_SIDE and not k.startswith("trackbook.")}
    if sorted(ml) != sorted(tb):
        diffs.append(f"{where} tag keys: mlflow-only {sorted(set(ml) - set(tb))}, "
                     f"trackbook-only {sorted(set(tb) - set(ml))}")
    for key in sorted(set(ml) & set(tb) - TAG_VALUES_DIFFER):
        if ml[key] != tb[key]:
            diffs.append(f"{where} tag {key}: mlflow {ml[key]!r}, trackbook {tb[key]!r}")


def _compare_plain(where: str, ml, tb, diffs: list[str]) -> None:
    if ml != tb:
        diffs.append(f"{where}: mlflow {json.dumps(ml, default=str)[:600]}, "
                     f"trackbook {json.dumps(tb, default=str)[:600]}")


# MLflow's own race: its autolog client flushes the child runs of a parameter search in
# parallel, and two inserting the same dataset at once fail one run's log_inputs
# ("Encountered unexpected error during sklearn autologging ... UNIQUE constraint failed:
# datasets..."); that child then has no dataset input in MLflow's store.
MLFLOW_DATASET_RACE = "UNIQUE constraint failed: datasets"


def _compare_runs(ml_runs: list, tb_runs: list, names: set[str], diffs: list[str],
                  mlflow_lost_inputs: bool = False) -> None:
    tb_by_key: dict[tuple, list] = {}
    for run in tb_runs:
        tb_by_key.setdefault(_run_key(run, names), []).append(run)
    for run in ml_runs:
        key = _run_key(run, names)
        where = f"run {key[1]!r} ({key[0]}, params {key[3][:80]})"
        if not tb_by_key.get(key):
            diffs.append(f"{where}: no such run in trackbook")
            continue
        other = tb_by_key[key].pop(0)
        for field in ("status", "lifecycle_stage", "params", "artifacts", "inputs",
                      "model_outputs"):
            if field == "inputs" and mlflow_lost_inputs and run[field] == [] and \
                    key[2]:  # a child run MLflow's race left without its input
                continue
            _compare_plain(f"{where} {field}", run[field], other[field], diffs)
        _compare_metrics(where, run["metrics"], other["metrics"], diffs)
        if key[1] == "~auto":  # a name neither side chose: both random
            run["tags"].pop("mlflow.runName", None)
            other["tags"].pop("mlflow.runName", None)
        _compare_tags(where, run["tags"], other["tags"], diffs)
    for rest in tb_by_key.values():
        for run in rest:
            diffs.append(f"run {run['name']!r} ({run['experiment']}): only in trackbook")


def _compare_models(ml_models: list, tb_models: list, diffs: list[str]) -> None:
    # Keyed by name and source run: autolog names every run's model 'model', so a name
    # alone would pair one run's model with another's. Same key: in search order (newest
    # first on both sides).
    tb_by_key: dict[tuple, list] = {}
    for m in tb_models:
        tb_by_key.setdefault((m["name"], m["run"]), []).append(m)
    for model in ml_models:
        where = f"logged model {model['name']!r} of {model['run']}"
        other = (tb_by_key.get((model["name"], model["run"])) or [None]).pop(0)
        if other is None:
            diffs.append(f"{where}: not in trackbook")
            continue
        # trackbook's own MLmodel section (packaged code, project files), like trackbook.* tags
        other = {**other, "mlmodel_keys": [k for k in other["mlmodel_keys"] if k != "trackbook"]}
        model = {**model, "files": [f for f in model["files"]
                                    if f not in MODEL_FILES_NOT_LOGGED]}
        for field in ("run", "model_type", "params", "status", "files", "flavors",
                      "mlmodel_keys"):
            _compare_plain(f"{where} {field}", model[field], other[field], diffs)
        _compare_tags(where, model["tags"], other["tags"], diffs)
        ml_m = [m[:2] + m[3:] for m in model["metrics"]]
        tb_m = [m[:2] + m[3:] for m in other["metrics"]]
        _compare_plain(f"{where} metric keys/steps", ml_m, tb_m, diffs)
        # measured seconds (a search's best_estimator carries its candidate's fit/score
        # times): keys and steps only, as for run metrics
        if ml_m == tb_m and not all(VOLATILE_METRICS.match(a[0]) or _same_number(a[2], b[2])
                                    for a, b in zip(model["metrics"], other["metrics"],
                                                    strict=True)):
            diffs.append(f"{where} metric values: mlflow {model['metrics']}, "
                         f"trackbook {other['metrics']}")
    diffs += [f"logged model {name!r} of {run}: only in trackbook"
              for (name, run), rest in tb_by_key.items() for _ in rest]


def _without_unstored_model_ids(ml: list, tb: list) -> list:
    """``tb`` with each version's model_id set to None where MLflow's is None: MLflow
    3.17's SQL registry store has no column for it and returns None for every version
    (its file store keeps it, as trackbook does); the link itself is still compared, as
    the version's source models:/<model_id> and the model's mlflow.modelVersions tag."""
    ml_ids = {(m["name"], v["version"]): v["model_id"] for m in ml for v in m["versions"]}
    return [{**m, "versions": [
        {**v, "model_id": None} if ml_ids.get((m["name"], v["version"]), "") is None else v
        for v in m["versions"]]} for m in tb]


def compare(script: str, ml: dict, tb: dict, mlflow_lost_inputs: bool = False) -> list[str]:
    """Every difference between what MLflow and trackbook logged for ``script``."""
    names = _script_names(script)
    ml, tb = _normalize(ml, names), _normalize(tb, names)
    diffs = [f"trackbook dump {k}: {v}" for k, v in tb["errors"].items()]
    diffs += [f"mlflow dump {k}: {v}" for k, v in ml["errors"].items()]
    ml_exps = {k: {**v, "tags": {t: x for t, x in v["tags"].items()
                                 if not t.startswith("mlflow.")}}
               for k, v in ml["experiments"].items()}
    tb_exps = {k: {**v, "tags": {t: x for t, x in v["tags"].items()
                                 if not t.startswith("mlflow.")}}
               for k, v in tb["experiments"].items()}
    _compare_plain("experiments", ml_exps, tb_exps, diffs)
    _compare_runs(ml["runs"], tb["runs"], names, diffs, mlflow_lost_inputs)
    _compare_models(ml["logged_models"], tb["logged_models"], diffs)
    _compare_plain("registered models", ml["registered_models"],
                   _without_unstored_model_ids(ml["registered_models"],
                                               tb["registered_models"]), diffs)
    return diffs


def _outcome(script: str, logs: dict) -> list[str]:
    (ml_res, ml_dump), (tb_res, tb_dump) = logs[script]["mlflow"], logs[script]["trackbook"]
    if ml_res["rc"] != 0:
        return [f"the script fails under MLflow itself:\n{ml_res['stderr'][-2500:]}"]
    if tb_res["rc"] != 0:
        return [f"the script fails under trackbook:\n{tb_res['stderr'][-2500:]}"]
    return compare(script, ml_dump, tb_dump, MLFLOW_DATASET_RACE in ml_res["stderr"])


@pytest.mark.slow
@pytest.mark.parametrize("script", [
    pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=XFAIL[s])) if s in XFAIL
    else s for s in SCRIPTS])
def test_script_logs_the_same(script: str, logs: dict) -> None:
    diffs = _outcome(script, logs)
    assert not diffs, f"{script}: {len(diffs)} differences\n" + "\n".join(diffs)


@pytest.mark.slow
def test_coverage_figure(logs: dict, capsys: pytest.CaptureFixture[str],
                         record_property) -> None:
    """Prints the figure; the xfail list must name exactly the scripts that differ."""
    identical = [s for s in SCRIPTS if not _outcome(s, logs)]
    figure = f"{len(identical)} of {len(SCRIPTS)} scripts run unchanged with identical logs"
    record_property("mlflow_scripts_coverage", figure)
    with capsys.disabled():
        print(f"\n{figure}")
    assert sorted(set(SCRIPTS) - set(identical)) == sorted(set(XFAIL) & set(SCRIPTS))
