"""Run BY THE TARGET interpreter: the installed lerobot's async inference, from the client side.

Usage: python serve_client.py discover '{"package": "lerobot"}'
       python serve_client.py client '{"package": ..., "address": "127.0.0.1:PORT", "checkpoint": DIR,
                                       "dataset": ROOT, "repo_id": ID, "device": DEV, "observations": N,
                                       "ready_timeout": S}'
Prints one JSON line.

discover: where the tree keeps its policy server (found with find_spec, not by version), the
server config's fields (read from its source with ast, so nothing heavy is imported), whether the
gRPC stubs import with the installed grpcio/protobuf, and lerobot's own requirements (the extras'
pins) with the installed versions, for the doctor to compare.

client: the robot client's own steps, with the dataset playing the robot: lerobot's gRPC stub,
channel options and chunked sender, its RemotePolicyConfig and TimedObservation, the observation
features built by its hw_to_dataset_features as RobotClient does from a robot's features. It sends
the policy instructions, then observations from dataset frames, and receives the action chunks.
"""

import ast
import dataclasses
import importlib
import importlib.metadata as md
import importlib.util
import json
import pickle  # nosec: the async inference protocol itself is pickle over loopback
import statistics
import sys
import time
import traceback

SERVER_MODULES = ("async_inference.policy_server", "scripts.server.policy_server")


def _err(exc):
    return {"type": type(exc).__name__, "message": str(exc)[:2000], "traceback": traceback.format_exc()[-3000:]}


def _dist(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def _find(name):
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _config_fields(spec, cls="PolicyServerConfig"):
    """Field names of the server's config dataclass, read from the source of its configs module."""
    try:
        with open(spec.origin, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, TypeError):
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return [n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
    return None


def discover(args):
    pkg = args.get("package") or "lerobot"
    out = {"package": pkg, "lerobot": _dist("lerobot"), "grpcio": _dist("grpcio"), "protobuf": _dist("protobuf")}
    out["requires"] = (md.requires("lerobot") or []) if out["lerobot"] else []
    module = next((f"{pkg}.{m}" for m in SERVER_MODULES if _find(f"{pkg}.{m}")), None)
    out["server_module"] = module
    if module:
        configs = _find(module.rsplit(".", 1)[0] + ".configs")
        out["config_fields"] = _config_fields(configs) if configs else None
        out["stubs"] = {}
        for name in ("grpc", f"{pkg}.transport.services_pb2", f"{pkg}.transport.services_pb2_grpc"):
            try:
                importlib.import_module(name)
                out["stubs"][name] = None
            except Exception as exc:  # protobuf's gencode/runtime check raises at import
                out["stubs"][name] = _err(exc)
    return out


def _hw_features(meta_features):
    """A robot's features as the dataset recorded them: one float per state name, one (H, W, C) per camera."""
    hw, names = {}, {}
    for key, ft in meta_features.items():
        if ft.get("dtype") in ("image", "video") and key.startswith("observation.images."):
            hw[key[len("observation.images."):]] = tuple(ft["shape"])
        elif key == "observation.state":
            given = ft.get("names")
            if isinstance(given, dict):  # some datasets keep {"motors": [...]}
                given = next(iter(given.values()), None)
            state = list(given) if isinstance(given, list) and len(given) == ft["shape"][0] else [f"state_{i}" for i in range(ft["shape"][0])]
            names["observation.state"] = state
            for name in state:
                hw[name] = float
    return hw, names


def _raw_observation(item, hw, state_names, task):
    """A dataset frame as a robot's get_observation() returns it: named floats and uint8 HWC images."""
    raw = {}
    for i, name in enumerate(state_names):
        raw[name] = float(item["observation.state"][i])
    for cam, shape in hw.items():
        if isinstance(shape, tuple):
            image = item[f"observation.images.{cam}"]  # float (C, H, W) in [0, 1]
            raw[cam] = (image * 255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    raw["task"] = task
    return raw


def _build(cls, **values):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def client(args, out):
    import grpc

    pkg = args.get("package") or "lerobot"
    home = (args.get("server_module") or pkg + ".async_inference.policy_server").rsplit(".", 1)[0]  # its helpers live beside it
    helpers = importlib.import_module(home + ".helpers")
    pb2 = importlib.import_module(pkg + ".transport.services_pb2")
    pb2_grpc = importlib.import_module(pkg + ".transport.services_pb2_grpc")
    tutils = importlib.import_module(pkg + ".transport.utils")
    ds_utils = importlib.import_module(pkg + ".datasets.utils")
    ds_module = importlib.import_module(pkg + ".datasets.lerobot_dataset")
    out["stage"] = "dataset"
    ds = ds_module.LeRobotDataset(args["repo_id"], root=args["dataset"])
    hw, names = _hw_features(ds.meta.features)
    lerobot_features = ds_utils.hw_to_dataset_features(hw, "observation", use_video=False)
    with open(f"{args['checkpoint']}/config.json", encoding="utf-8") as f:
        policy_cfg = json.load(f)
    chunk = int(policy_cfg.get("n_action_steps") or policy_cfg.get("chunk_size") or 1)
    spec = _build(helpers.RemotePolicyConfig, policy_type=policy_cfg.get("type"), pretrained_name_or_path=args["checkpoint"],
                  lerobot_features=lerobot_features, actions_per_chunk=chunk, device=args.get("device") or "cpu")
    out["stage"] = "connect"
    options = tutils.grpc_channel_options() if hasattr(tutils, "grpc_channel_options") else None
    channel = grpc.insecure_channel(args["address"], options) if options else grpc.insecure_channel(args["address"])
    try:
        start = time.perf_counter()
        grpc.channel_ready_future(channel).result(timeout=float(args.get("ready_timeout") or 120))
        out["connect_s"] = round(time.perf_counter() - start, 3)
        stub = pb2_grpc.AsyncInferenceStub(channel)
        stub.Ready(pb2.Empty())
        out["stage"] = "policy"
        start = time.perf_counter()
        stub.SendPolicyInstructions(pb2.PolicySetup(data=pickle.dumps(spec)))
        out["policy_load_s"] = round(time.perf_counter() - start, 3)
        out["stage"] = "actions"
        n = int(args.get("observations") or 4)
        trips, chunks = [], []
        for i in range(n):
            item = ds[(i * len(ds)) // n]
            raw = _raw_observation(item, hw, names.get("observation.state", []), item.get("task", ""))
            obs = _build(helpers.TimedObservation, timestamp=time.time(), timestep=i * chunk, observation=raw, must_go=True)
            start = time.perf_counter()
            stub.SendObservations(tutils.send_bytes_in_chunks(pickle.dumps(obs), pb2.Observation))
            reply = stub.GetActions(pb2.Empty())
            trips.append(time.perf_counter() - start)
            actions = pickle.loads(reply.data) if getattr(reply, "data", b"") else []  # nosec: our own server on loopback
            chunks.append({"len": len(actions),
                           "shape": list(actions[0].get_action().shape) if actions else None,
                           "dtype": str(actions[0].get_action().dtype).replace("torch.", "") if actions else None})
        out.update({"chunks": chunks, "round_trip_ms": [round(t * 1000, 3) for t in trips],
                    "median_ms": round(statistics.median(trips[1:] or trips) * 1000, 3),
                    "want_shape": list(ds.meta.features["action"]["shape"]), "want_dtype": ds.meta.features["action"]["dtype"],
                    "actions_per_chunk": chunk})
        out["ok"] = all(c["len"] > 0 for c in chunks)
        out["stage"] = "done"
    finally:
        channel.close()
    return out


def main():
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    out = {"stage": "import"}
    try:
        out = discover(args) if mode == "discover" else client(args, out)
    except Exception as exc:  # the stage reached says where it broke
        out["error"] = _err(exc)
    print(json.dumps(out, default=str), flush=True)


if __name__ == "__main__":
    main()
