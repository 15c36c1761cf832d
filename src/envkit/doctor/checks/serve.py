"""smoke.serve: the installed lerobot's policy server serves the smoke checkpoint over loopback gRPC.

Opt-in (`envkit doctor --check smoke.serve`), and on by default where setup installed lerobot's
`async` extra. The server is the release's own module (found in the tree, not assumed from the
version) on a free 127.0.0.1 port; the client is built from the release's async-inference modules
(doctor/serve_client.py, in the target); the server is stopped and no process of it may be left.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from envkit.doctor import serving
from envkit.doctor import smoke as run
from envkit.doctor.checks import infer
from envkit.doctor.checks import smoke as smoke_checks
from envkit.doctor.checks._util import pip_install
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip
from envkit.doctor.target_script import last_json, run_json, script_argv
from envkit.targetenv.layout import from_probe

OBSERVATIONS = 4  # observations sent; the first round trip warms up the model
TRANSPORT = ("grpcio", "protobuf")  # the extra's pins the gRPC stubs need; the rest (matplotlib) only plots
CLIENT_TIMEOUT_S = 420


def _wanted(ctx: Context) -> bool:
    requested = ctx.scratch.get("requested_checks") or ()
    return "smoke.serve" in requested or "async" in ctx.setup.extras


def serve(ctx: Context) -> Outcome:
    if not _wanted(ctx):
        return skip("opt-in: envkit doctor --check smoke.serve (on by default where envkit setup --extras async installed "
                    "lerobot's async inference)")
    if ctx.target is None:
        return skip("no target environment to serve from")
    lay = ctx.scratch.get("smoke_layout") or from_probe(ctx.probe)
    if lay is None:
        return skip("lerobot is not installed")
    package = lay.package or "lerobot"
    found, result = run_json(ctx, "serve_client.py", "discover", json.dumps({"package": package}), timeout=120)
    if found is None:
        return fail("the target could not report its async inference modules", "see details", result.tail())
    if not found.get("server_module"):
        return skip(f"lerobot {found.get('lerobot') or '?'} ({lay.name}) has no async inference: neither "
                    f"{package}.async_inference.policy_server nor {package}.scripts.server.policy_server is in the installed "
                    "tree; nothing to serve")
    refused = _stack(ctx, found)
    if refused is not None:
        return refused
    return _with_checkpoint(ctx, lambda ckpt, dataset: _round_trip(ctx, found, ckpt, dataset))


def _stack(ctx: Context, found: dict[str, Any]) -> Outcome | None:
    """grpcio/protobuf against lerobot's own pins for its async extra, and the stubs importing."""
    reqs = [r for r in serving.extra_requirements(found.get("requires") or [], "async") if r.name.lower() in TRANSPORT]
    installed = {"grpcio": found.get("grpcio"), "protobuf": found.get("protobuf")}
    install = pip_install(ctx, *(f"{r.name}{r.specifier}" for r in reqs)) if reqs else pip_install(ctx, f"lerobot[async]=={found.get('lerobot')}")
    setup = "or rerun envkit setup with --extras async (same --prefix and --profile)"
    bad = serving.mismatches(reqs, installed)
    if bad:
        return fail(f"lerobot {found.get('lerobot')}'s async inference needs its pinned gRPC stack: " + "; ".join(bad),
                    f"{install}; {setup}")
    broken = {k: v for k, v in (found.get("stubs") or {}).items() if v}
    if broken:
        name, err = next(iter(broken.items()))
        return fail(f"{name} does not import with grpcio {installed['grpcio']} / protobuf {installed['protobuf']}: "
                    f"{err.get('type')}: {err.get('message', '').splitlines()[0] if err.get('message') else ''}",
                    f"{install}; {setup}", err.get("traceback", ""))
    return None


def _with_checkpoint(ctx: Context, use) -> Outcome:  # type: ignore[no-untyped-def]
    """The smoke's checkpoint; when smoke.train did not run (`--check smoke.serve` alone), a fresh one."""
    ckpt = infer.smoke_checkpoint(ctx)
    if ckpt is not None and (ckpt / "config.json").is_file():
        return use(ckpt, ctx.scratch["smoke_dataset"])
    made = smoke_checks.dataset(ctx)
    if made.status.value != "ok":
        return fail(f"no dataset to serve from: {made.summary}", made.fix, made.details)
    trained = smoke_checks.train(ctx)
    try:
        if trained.status.value != "ok":
            return fail(f"no checkpoint to serve: {trained.summary}", trained.fix, trained.details)
        return use(infer.smoke_checkpoint(ctx), ctx.scratch["smoke_dataset"])
    finally:
        shutil.rmtree(ctx.scratch["smoke_train"].out_dir.parent, ignore_errors=True)
        ctx.scratch.pop("smoke_train", None)


def _server_argv(ctx: Context, found: dict[str, Any], port: int) -> list[str]:
    fields = set(found.get("config_fields") or ())
    argv = [ctx.python_cmd(), "-m", found["server_module"], "--host=127.0.0.1", f"--port={port}"]
    if "inference_latency" in fields:
        argv.append("--inference_latency=0")  # answer as soon as the chunk is ready: the round trip is the measure
    if "obs_queue_timeout" in fields:
        argv.append("--obs_queue_timeout=30")  # a loaded CPU may take seconds per chunk
    return ctx.target.wrap(argv)


def _round_trip(ctx: Context, found: dict[str, Any], ckpt: Path, dataset: tuple[Path, str]) -> Outcome:
    work = Path(tempfile.mkdtemp(prefix="envkit-serve-"))  # the server's cwd: lerobot writes logs/ there
    try:
        for attempt in (1, 2):  # a port taken between our probe and the server's bind: once more
            port = serving.free_port()
            server = serving.Server(_server_argv(ctx, found, port), work / f"server-{attempt}.log")
            server.start(run.run_env(ctx), work)
            try:
                doc, tail = _client(ctx, found, port, ckpt, dataset, work)
                died = not server.alive()
            finally:
                server.stop()
            if attempt == 1 and died and doc and doc.get("error") and doc.get("stage") == "connect":
                continue
            break
        return _verdict(found, port, doc, tail, server)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _client(ctx: Context, found: dict[str, Any], port: int, ckpt: Path, dataset: tuple[Path, str],
            work: Path) -> tuple[dict[str, Any] | None, str]:
    args = {"package": found.get("package"), "server_module": found["server_module"], "address": f"127.0.0.1:{port}", "checkpoint": str(ckpt),
            "dataset": str(dataset[0]), "repo_id": dataset[1], "device": run.device_for(ctx),
            "observations": OBSERVATIONS, "ready_timeout": 180}
    argv = script_argv(ctx, "serve_client.py", work, "client", json.dumps(args))
    result = run._run(ctx, argv, work, timeout=CLIENT_TIMEOUT_S)

    return last_json(result.log), result.tail(30)


def _verdict(found: dict[str, Any], port: int, doc: dict[str, Any] | None, tail: str, server: serving.Server) -> Outcome:
    module = found["server_module"]
    details = f"client:\n{tail}\n\nserver ({module}):\n{server.log_tail()}"
    if server.leftovers:
        return fail(f"{len(server.leftovers)} process(es) of the policy server outlived SIGKILL of its session: "
                    + ", ".join(server.leftovers), "kill them by pid; report this with envkit doctor --report", details)
    if not doc:
        return fail("the async inference client died before reporting", "see details (client and server output)", details)
    if doc.get("error"):
        err = doc["error"]
        where = {"connect": f"connecting to the policy server on 127.0.0.1:{port}",
                 "policy": "sending the policy instructions (the server loads the checkpoint)",
                 "actions": "sending observations and receiving action chunks",
                 "dataset": "reading the dataset frames to send"}.get(doc.get("stage"), f"the client's {doc.get('stage')} stage")
        return fail(f"async inference failed while {where}: {err.get('type')}: {(err.get('message') or '').splitlines()[0][:300] if err.get('message') else ''}",
                    f"run the server by hand to see it: python -m {module} --host=127.0.0.1 --port={port}; see details",
                    details)
    chunks = doc.get("chunks") or []
    empty = [i for i, c in enumerate(chunks) if not c.get("len")]
    if empty or not chunks:
        return fail(f"the policy server returned no action chunk for observation(s) {empty or 'all'} of {len(chunks)}",
                    "see the server's log in details (it logs the inference error and answers Empty)", details)
    shapes = {tuple(c.get("shape") or ()) for c in chunks}
    want = tuple(doc.get("want_shape") or ())
    if shapes != {want} or {c.get("dtype") for c in chunks} != {doc.get("want_dtype")}:
        return fail(f"action chunks of {sorted(shapes)} {sorted({c.get('dtype') for c in chunks})}, the dataset's action is "
                    f"{list(want)} {doc.get('want_dtype')}", "retrain on this dataset", details)
    return ok(f"{module} on 127.0.0.1:{port}: {len(chunks)} action chunks of {chunks[0]['len']} x {list(want)} "
              f"{doc.get('want_dtype')}, round trip {doc.get('median_ms'):.0f} ms (median), checkpoint loaded in "
              f"{doc.get('policy_load_s')} s; server stopped, no process left", details)


CHECKS = [
    Check("smoke.serve", "the policy server serves the smoke checkpoint over gRPC", serve,
          needs=("torch.import", "lerobot.import", "smoke.train"), slow=True),
]
