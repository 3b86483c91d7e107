"""``trackbook models ...``: serve, check and batch-score packaged models.

Kept apart from ``trackbook/cli.py`` so the CLI imports the models code only when one of
these subcommands runs (this module imports nothing heavy).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

#: Said in the help of every command that loads a model into this process.
PICKLE_WARNING = ("Loading a pickled model executes code from its files (scikit-learn's "
                  "pickle/cloudpickle formats, PyTorch, custom PythonModels, and the model's "
                  "code/ folder): only load models you trust. scikit-learn models in the skops "
                  "format load without running code from the file; the types they need beyond "
                  "skops' defaults must be named with --skops-trusted-type.")


def add_parser(sub: Any, store_help: str) -> argparse.ArgumentParser:
    """Add the ``models`` command (with serve, check, predict) to ``sub``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "models", help="serve, check and batch-score packaged models",
        description="Work with model directories in MLflow's MLmodel format. MODEL_URI is "
                    "runs:/<run_id>/<path>, a folder, or a file:// URI.")
    cmds = p.add_subparsers(title="commands", metavar="COMMAND")
    uri_help = "the model: runs:/<run_id>/<path> or a model folder"
    trust_help = ("a type beyond skops' defaults to trust in a skops model, e.g. "
                  "sklearn.tree._tree.Tree (repeat for more); types not trusted are refused")

    s = cmds.add_parser("serve", help="REST scoring server (MLflow's /invocations protocol)",
                        description="Serve a model: GET /ping, /health, /version; POST "
                                    "/invocations with JSON (dataframe_split, "
                                    "dataframe_records, instances, inputs) or CSV. "
                                    "Every client is held to the limits below, so slow or "
                                    "idle clients cannot use up the server. "
                                    + PICKLE_WARNING,
                        add_help=False)
    s.add_argument("-m", "--model-uri", required=True, metavar="MODEL_URI", help=uri_help)
    s.add_argument("-p", "--port", type=int, default=5001, help="port (default 5001; 0 = any)")
    s.add_argument("-h", "--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; 0.0.0.0 accepts other machines)")
    s.add_argument("--no-batching", action="store_true",
                   help="score every request on its own (no micro-batching)")
    s.add_argument("--skops-trusted-type", action="append", dest="skops_trusted_types",
                   metavar="TYPE", help=trust_help)
    _limit_options(s)
    s.add_argument("--store", metavar="PATH", help=store_help)
    s.set_defaults(func=cmd_serve)
    s.add_argument("--help", action="help", help="show this help message and exit")

    c = cmds.add_parser("check", help="load the model in a fresh virtualenv built from its "
                                      "requirements and predict on its input example")
    c.add_argument("-m", "--model-uri", required=True, metavar="MODEL_URI", help=uri_help)
    c.add_argument("--cache-dir", metavar="DIR",
                   help="where environments are cached (default ~/.cache/trackbook/envs)")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    c.add_argument("--store", metavar="PATH", help=store_help)
    c.set_defaults(func=cmd_check)

    b = cmds.add_parser("predict", help="score a Parquet/CSV/JSON file",
                        description="Batch scoring: predictions are appended as column(s) "
                                    "'prediction' (or prediction_0, ...). " + PICKLE_WARNING)
    b.add_argument("-m", "--model-uri", required=True, metavar="MODEL_URI", help=uri_help)
    b.add_argument("-i", "--input", required=True, metavar="PATH",
                   help="a .parquet or .csv file, or a .json scoring payload")
    b.add_argument("-o", "--output", metavar="PATH",
                   help="write Parquet here (default: CSV on standard output)")
    b.add_argument("--batch-size", type=int, default=100_000, metavar="N")
    b.add_argument("--skops-trusted-type", action="append", dest="skops_trusted_types",
                   metavar="TYPE", help=trust_help)
    b.add_argument("--store", metavar="PATH", help=store_help)
    b.set_defaults(func=cmd_predict)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])
    return p


_LIMITS = (  # (flag, ServerLimits field, type, metavar, help); defaults come from there
    ("--header-timeout", "header_timeout", float, "S",
     "seconds to send a whole request head; then 408 and close (default 10)"),
    ("--body-timeout", "body_timeout", float, "S",
     "longest pause while a body arrives, and the grace before --min-body-rate applies; "
     "also how long a client may stop reading responses (default 30)"),
    ("--min-body-rate", "min_body_rate", float, "BYTES_PER_S",
     "bytes/s a body must average after --body-timeout s; 0 = none (default 10000)"),
    ("--keepalive-timeout", "keepalive_timeout", float, "S",
     "seconds an idle keep-alive connection stays open (default 5)"),
    ("--request-timeout", "request_timeout", float, "S",
     "seconds to score a request before answering 504 (default 60)"),
    ("--max-connections", "max_connections", int, "N",
     "open connections at most; more wait in the listen backlog (default 1000, fewer if "
     "the open-file limit is lower)"),
    ("--backlog", "backlog", int, "N", "connections the kernel queues (default 256)"),
    ("--max-body-bytes", "max_body_bytes", int, "N",
     "largest request body; larger gets 413 (default 104857600 = 100 MiB)"),
    ("--max-json-depth", "max_json_depth", int, "N",
     "deepest nesting of JSON arrays/objects; deeper gets 400 (default 64)"),
    ("--workers", "workers", int, "N",
     "threads that parse large bodies and predict, off the event loop (default 4)"),
)


def _limit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits (per client and for the whole server)")
    for flag, dest, kind, metavar, text in _LIMITS:
        group.add_argument(flag, dest=dest, type=kind, metavar=metavar, default=None,
                           help=text)


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    return {dest: getattr(args, dest) for _f, dest, *_ in _LIMITS
            if getattr(args, dest) is not None}


def _use_store(args: argparse.Namespace) -> None:
    if args.store:
        from ..tracking.uri import set_tracking_uri

        set_tracking_uri(args.store)


def cmd_serve(args: argparse.Namespace) -> int:
    from .loading import load_model
    from .serving import ScoringServer

    _use_store(args)
    model = load_model(args.model_uri, skops_trusted_types=args.skops_trusted_types)
    server = ScoringServer(model, args.host, args.port, batching=not args.no_batching,
                           **_limits(args))
    print(f"Serving {args.model_uri} at {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .check import check

    _use_store(args)
    result = check(args.model_uri, cache_dir=args.cache_dir, progress=not args.quiet)
    print(repr(result))
    return 0 if result.ok else 1


def cmd_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd

    from .batch import score_batch
    from .loading import load_model
    from .payload import parse_json_payload

    _use_store(args)
    path = Path(args.input)
    model = load_model(args.model_uri, skops_trusted_types=args.skops_trusted_types)
    data: Any = path
    if path.suffix == ".csv":
        data = pd.read_csv(path)
    elif path.suffix == ".json":
        data, _ = parse_json_payload(path.read_bytes(), model.metadata.get_input_schema())
    elif path.suffix != ".parquet":
        from ._errors import ModelError

        raise ModelError(f"--input must be a .parquet, .csv or .json file, got {path.name}")
    result = score_batch(model, data, output_path=args.output, batch_size=args.batch_size)
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        result.to_csv(sys.stdout, index=False)
    return 0
