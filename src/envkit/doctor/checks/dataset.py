"""dataset.* (with --dataset DIR): lerobot can read it, and its cameras decode."""

from __future__ import annotations

from envkit.doctor.checks._util import first_line, known, matrix, q, vtuple
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip, warn
from envkit.targetenv.layout import from_probe


def _ds(ctx: Context) -> dict:
    return ctx.section("dataset")


def info(ctx: Context) -> Outcome:
    if ctx.dataset is None:
        return skip("no --dataset given")
    d = _ds(ctx)
    if d.get("info_error") or not d:
        return fail(f"cannot read {ctx.dataset}/meta/info.json: {d.get('info_error', 'not probed')}",
                    "pass the dataset root (the directory holding meta/, data/ and videos/)")
    if d.get("info_missing"):
        return fail(f"{ctx.dataset}/meta/info.json lacks " + ", ".join(d["info_missing"]) + " (or holds the wrong type): "
                    "lerobot cannot load the dataset without them",
                    "re-create meta/info.json with lerobot (LeRobotDataset.create / the recording script), or restore it from the dataset's source")
    return ok(f"{d.get('total_episodes')} episodes, {d.get('total_frames')} frames at {d.get('fps')} fps")


def converter(lerobot: str | None) -> str:
    m = matrix()
    row = known(m.lerobot, lerobot) if (m and lerobot) else None
    if row is not None and row.converter_v21_v30:
        return row.converter_v21_v30
    if lerobot and vtuple(lerobot) >= (0, 5, 1):
        return "python -m lerobot.scripts.convert_dataset_v21_to_v30"
    return "python -m lerobot.datasets.v30.convert_dataset_v21_to_v30"


def version(ctx: Context) -> Outcome:
    if ctx.dataset is None:
        return skip("no --dataset given")
    have = _ds(ctx).get("codebase_version")
    lerobot = ctx.dist("lerobot")
    reads = ctx.section("lerobot").get("codebase_version")
    if not reads:
        m = matrix()
        row = known(m.lerobot, lerobot) if (m and lerobot) else None
        reads = row.codebase_version if row else None
    if not have:
        return fail("meta/info.json has no codebase_version", "re-create the dataset with lerobot's LeRobotDataset.create")
    if not reads:
        lay = from_probe(ctx.probe)
        if lay is not None and lay.package and not lay.dataset_module:  # PyPI 0.1.0: no LeRobotDataset at all
            return fail(f"dataset {have}, but lerobot {lerobot} ({lay.name}) has no LeRobotDataset to read it with",
                        "set up a lerobot that reads it: envkit setup --lerobot lerobot==0.3.3 (v2.x datasets) or lerobot==0.4.4 (v3.0)")
        return warn(f"dataset {have}; cannot tell which format lerobot {lerobot} reads", None)
    hv, rv = vtuple(have.lstrip("v")), vtuple(reads.lstrip("v"))
    if hv[:1] == rv[:1]:
        return ok(f"dataset {have}, lerobot {lerobot} reads {reads}")
    if hv < rv:
        if have.startswith("v2.1"):
            root = ctx.dataset
            repo = f"local/{root.name}"
            cmd = f"{converter(lerobot)} --repo-id={repo} --root={q(str(root))} --push-to-hub=false"
            return fail(f"dataset is {have}, lerobot {lerobot} reads only {reads} (BackwardCompatibilityError)", cmd)
        return fail(f"dataset is {have}; lerobot {lerobot} has no direct converter from it to {reads}",
                    "convert to v2.1 with lerobot 0.3.x (python -m lerobot.datasets.v21.convert_dataset_v20_to_v21), then to v3.0")
    return fail(f"dataset is {have}, newer than lerobot {lerobot} reads ({reads}) (ForwardCompatibilityError)",
                "upgrade lerobot (envkit setup with a newer lerobot source)")


def features(ctx: Context) -> Outcome:
    if ctx.dataset is None:
        return skip("no --dataset given")
    feats = _ds(ctx).get("features") or {}
    if not feats:
        return fail("meta/info.json lists no features", "re-create the dataset")
    missing = [k for k in ("action", "observation.state") if k not in feats]
    cams = [k for k, v in feats.items() if k.startswith("observation.images.")]
    if "action" in missing:
        return fail("no 'action' feature: ACT has nothing to learn", "record the dataset with the robot's action")
    if not cams and "observation.environment_state" not in feats:
        return fail("ACT needs at least one camera (observation.images.*) or observation.environment_state", "record with a camera")
    text = f"action {feats['action'].get('shape')}, {len(cams)} camera(s)"
    if missing:
        return warn(text + "; no observation.state", "ACT trains without it, but robot state usually helps")
    return ok(text + f", state {feats['observation.state'].get('shape')}")


def decode(ctx: Context) -> Outcome:
    if ctx.dataset is None:
        return skip("no --dataset given")
    cams = _ds(ctx).get("cameras") or {}
    if not cams:
        return skip("no video features")
    bad = []
    for key, cam in cams.items():
        if cam.get("error"):
            bad.append(f"{key}: {cam['error'].get('message')}")
        elif not cam.get("exists"):
            bad.append(f"{key}: {cam.get('path')} is missing")
        elif not (cam.get("decode") or {}).get("ok"):
            err = (cam.get("decode") or {}).get("error") or {}
            bad.append(f"{key}: {first_line(err.get('message', ''))}")
    if bad:
        return fail("first frame does not decode: " + "; ".join(bad), "see torchcodec.load for the decoder, or re-encode the videos", "\n".join(bad))
    backend = next(iter(cams.values())).get("backend")
    return ok(f"first frame of {len(cams)} camera(s) decodes with {backend}")


CHECKS = [
    Check("dataset.info", "meta/info.json readable", info),
    Check("dataset.version", "dataset format vs lerobot", version, needs=("dataset.info",)),
    Check("dataset.features", "features ACT needs", features, needs=("dataset.info",)),
    Check("dataset.decode", "first frame of each camera decodes", decode, needs=("dataset.info",)),
]
