"""The doctor's probe: run BY THE TARGET interpreter, standard library only, one JSON document out.

envkit copies this file into an empty directory and runs `<target python> probe.py [--dataset DIR]`,
so nothing of envkit's own environment can leak into what is measured. torch is imported once.
Every section catches its own failures and reports the exception text verbatim: the texts are
what the checks recognise ("undefined symbol", "Failed to load the backend extension", ...).
stdout carries only the JSON: fd 1 is pointed at stderr while probing, because native
libraries print straight to the file descriptor.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import importlib
import importlib.util
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from importlib import metadata

PROBE_VERSION = 1
DISTS = (
    "torch", "torchvision", "torchcodec", "lerobot", "av", "accelerate",
    "numpy", "datasets", "huggingface-hub", "draccus", "safetensors", "opencv-python-headless",
    "opencv-python", "mujoco", "gym-aloha", "wandb", "transformers",
)
ENV_NAMES = ("LD_LIBRARY_PATH", "PYTHONPATH", "PATH", "CONDA_PREFIX", "VIRTUAL_ENV", "WANDB_MODE")
ENV_PREFIXES = (
    "ACCELERATE_", "TORCH_", "HF_", "MUJOCO_", "PYOPENGL_",
    "OMP_", "MKL_", "LEROBOT_", "PYTORCH_", "ENVKIT_",
)
# Which variable names hold a secret: envkit.secrets' one rule, passed in as --secret-names PATTERN.
# Without it nothing is carried out (fail closed).
SECRET = None


def _err(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc)[:4000], "traceback": traceback.format_exc()[-6000:]}


_REAL_STDOUT = None  # the fd the final document goes to (stdout proper is redirected to stderr)


def _timed(out: dict, name: str, fn, *args) -> None:
    if _REAL_STDOUT is not None:
        # What is known so far, marked partial: if native code kills the interpreter in this
        # section (a segfault importing torch), envkit still knows where and what came before.
        partial = dict(out, envkit_probe_partial=True, envkit_probe_stage=name)
        os.write(_REAL_STDOUT, (json.dumps(partial, default=str) + "\n").encode())
    start = time.monotonic()
    try:
        out[name] = fn(*args)
    except BaseException as exc:  # a probe section must never take the others down
        out[name] = {"probe_error": _err(exc)}
    out.setdefault("timings_ms", {})[name] = int((time.monotonic() - start) * 1000)


def python_facts() -> dict:
    return {
        "version": platform.python_version(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "implementation": platform.python_implementation(),
        "path": sys.path[1:],
    }


def marker_env() -> dict:
    impl = sys.implementation
    return {
        "implementation_name": impl.name,
        "implementation_version": "%d.%d.%d" % impl.version[:3],
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": "%d.%d" % sys.version_info[:2],
        "sys_platform": sys.platform,
    }


def safe_env(extra_prefixes: tuple = ()) -> dict:
    picked = {}
    prefixes = ENV_PREFIXES + tuple(extra_prefixes)
    for name, value in os.environ.items():
        if SECRET is None or SECRET.search(name):
            continue  # never carry a secret out of the target, not even to envkit
        if name in ENV_NAMES or name.startswith(prefixes):
            picked[name] = value
    return picked


def torch_spec() -> dict:
    """Where `import torch` finds it, without importing it (a PYTHONPATH torch has no dist-info)."""
    spec = importlib.util.find_spec("torch")
    return {"origin": getattr(spec, "origin", None) if spec else None}


def dist_facts(extra: dict = None) -> dict:
    """Installed versions of DISTS, plus the fragments' {key: (names to try, ...)}."""
    found = {}
    wanted = [(name, (name,)) for name in DISTS] + list((extra or {}).items())
    for key, names in wanted:
        for name in names:
            try:
                found[key] = metadata.version(name)
                break
            except Exception:
                pass
    return found


def lerobot_dist() -> dict:
    try:
        dist = metadata.distribution("lerobot")
    except metadata.PackageNotFoundError:
        return {"installed": False}
    requires = list(dist.requires or [])
    installed = {}
    for req in requires:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if not match:
            continue
        name = match.group(1)
        try:
            installed[name] = metadata.version(name)
        except Exception:
            installed[name] = None
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    # direct_url.json (PEP 610) tells an editable install of the user's tree from a wheel; the
    # METADATA file's own path says which environment the installation belongs to.
    try:
        direct_url = json.loads(dist.read_text("direct_url.json") or "null")
    except ValueError:
        direct_url = None
    metadata_file = next((f for f in dist.files or [] if f.name == "METADATA" and f.parent.name.endswith(".dist-info")), None)
    return {"installed": True, "version": dist.version, "requires": requires, "versions": installed,
            "console_scripts": scripts, "location": str(dist.locate_file("")), "direct_url": direct_url,
            "metadata_path": str(dist.locate_file(metadata_file)) if metadata_file is not None else None,
            "provides_extra": list(dist.metadata.get_all("Provides-Extra") or [])}


def torch_facts(fragments: list = (), fragment_errors: dict = None, version_attrs: list = ()) -> dict:
    caught: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            import torch
        except BaseException as exc:
            return {"import_error": _err(exc)}
        facts = {"version": torch.__version__}
        # torch's build attributes the backends read (Backend.torch_version_attrs): whose torch this is
        facts.update({attr: getattr(torch.version, attr, None) for attr in version_attrs})
        facts.update({
            "git": getattr(torch.version, "git_version", None),
            "file": torch.__file__,
            "num_threads": torch.get_num_threads(),
        })
        try:
            facts["hub_dir"] = torch.hub.get_dir()
        except Exception as exc:
            facts["hub_dir_error"] = str(exc)
        facts.update(_fragments(torch, fragments))
        facts.update(fragment_errors or {})
    facts["warnings"] = [str(w.message)[:2000] for w in caught]
    return facts


def load_fragments(specs: list, errors: dict) -> list:
    """(facts key, module) for each `KEY=MODULE` fragment copied beside this file; import errors to `errors`."""
    loaded = []
    for spec in specs:
        key, _, name = spec.partition("=")
        try:
            loaded.append((key, importlib.import_module(name)))
        except BaseException as exc:
            errors[key] = {"probe_error": _err(exc)}
    return loaded


def _fragments(torch, fragments: list) -> dict:
    """Each backend fragment's facts about torch and its accelerator, filed under its key."""
    facts = {}
    for key, module in fragments:
        try:
            facts[key] = module.probe(torch)
        except BaseException as exc:  # one backend's fragment must not take the others down
            facts[key] = {"probe_error": _err(exc)}
    return facts


# ---------------------------------------------------------------- video ----------
def _make_video(path: str) -> dict:
    """Encode a few frames with PyAV (a lerobot dependency), preferring lerobot's own codec."""
    import av

    errors = {}
    for codec in ("libsvtav1", "libaom-av1", "mpeg4"):
        if codec not in av.codecs_available:
            continue
        try:
            with av.open(path, "w") as container:
                stream = container.add_stream(codec, rate=30)
                stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
                for i in range(8):
                    frame = av.VideoFrame(128, 96, "yuv420p")
                    for plane in frame.planes:
                        plane.update(bytes([(16 * i) % 256]) * plane.buffer_size)
                    for packet in stream.encode(frame):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
            return {"path": path, "codec": codec}
        except Exception as exc:
            errors[codec] = str(exc)
    return {"path": None, "errors": errors}


def decode_torchcodec(path: str) -> dict:
    from torchcodec.decoders import VideoDecoder

    frame = VideoDecoder(path)[0]
    return {"ok": True, "shape": list(frame.shape)}


def decode_pyav(path: str) -> dict:
    import av

    with av.open(path) as container:
        frame = next(container.decode(video=0))
        return {"ok": True, "shape": [frame.height, frame.width]}


def _try(fn, *args) -> dict:
    try:
        return fn(*args)
    except BaseException as exc:
        return {"ok": False, "error": _err(exc)}


def _ctypes_diagnose(package_dir: str) -> dict:
    """Old torchcodec hides the real cause ("Could not load this library"); dlopen shows it."""
    results = {}
    for lib in sorted(glob.glob(os.path.join(package_dir, "libtorchcodec*.so"))):
        try:
            ctypes.CDLL(lib)
            results[os.path.basename(lib)] = None
        except OSError as exc:
            results[os.path.basename(lib)] = str(exc)
    return results


def loaded_libraries() -> list:
    paths = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split()
                if len(parts) >= 6 and re.search(r"lib(avutil|avcodec|avformat|torchcodec)", parts[5]):
                    paths.add(parts[5])
    except OSError:
        return []
    libs = []
    for path in sorted(paths):
        name = os.path.basename(path)
        major = re.search(r"\.so\.(\d+)", name)
        core = re.match(r"libtorchcodec_(?:core|decoder)?(\d+)\.so", name)
        bundled = bool(re.search(r"lib\w+-[0-9a-f]{8}\.so", name)) or "/av.libs/" in path or "/av/" in path
        libs.append({"path": path, "name": name, "major": int(major.group(1)) if major else None,
                     "torchcodec_ffmpeg_major": int(core.group(1)) if core else None,
                     "origin": "pyav-bundled" if bundled else "system"})
    return libs


def video_facts(workdir: str) -> dict:
    facts = {}
    try:
        import av

        facts["av"] = {"version": getattr(av, "__version__", None), "libsvtav1": "libsvtav1" in av.codecs_available,
                       "dir": os.path.dirname(av.__file__)}
    except BaseException as exc:
        facts["av"] = {"import_error": _err(exc)}
    try:
        import torchvision

        facts["torchvision"] = {"version": torchvision.__version__,
                                "video_reader": hasattr(torchvision.io, "VideoReader")}
    except BaseException as exc:
        facts["torchvision"] = {"import_error": _err(exc)}
    sample = os.path.join(workdir, "probe.mp4")
    facts["sample"] = _try(_make_video, sample) if "import_error" not in facts["av"] else {"path": None}
    path = facts["sample"].get("path")
    spec = importlib.util.find_spec("torchcodec")
    tc = {"installed": spec is not None}
    if spec is not None:
        package_dir = os.path.dirname(spec.origin or "") if spec.origin else (list(spec.submodule_search_locations or [""])[0])
        tc["dir"] = package_dir
        try:
            import torchcodec

            tc["version"] = getattr(torchcodec, "__version__", None)
            tc["import_ok"] = True
        except BaseException as exc:
            tc["import_ok"] = False
            tc["import_error"] = _err(exc)
        if tc["import_ok"] and path:
            tc["decode"] = _try(decode_torchcodec, path)
        if not tc["import_ok"] or not (tc.get("decode") or {}).get("ok", True):
            tc["dlopen"] = _ctypes_diagnose(package_dir)
    facts["torchcodec"] = tc
    if path and "import_error" not in facts["av"]:
        facts["pyav_decode"] = _try(decode_pyav, path)
    facts["loaded"] = loaded_libraries()
    ffmpeg = shutil.which("ffmpeg")
    facts["ffmpeg_cli"] = {"path": ffmpeg}
    if ffmpeg:
        try:
            first = subprocess.run([ffmpeg, "-hide_banner", "-version"], capture_output=True, text=True, timeout=20).stdout
            facts["ffmpeg_cli"]["version_line"] = first.splitlines()[0] if first else ""
            util = re.search(r"libavutil\s+(\d+)\.", first)
            facts["ffmpeg_cli"]["avutil_major"] = int(util.group(1)) if util else None
        except Exception as exc:
            facts["ffmpeg_cli"]["error"] = str(exc)
    return facts


# -------------------------------------------------------------- lerobot ----------
def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


def tree_facts(root: str) -> dict:
    """What a lerobot package directory holds, read from its files (nothing imported).

    envkit calls this on a source tree before installing it (setup --dry-run) and the probe on
    the installed package, so both name the same layout. Layouts seen in the wild:
    `lerobot.*` (PyPI 0.3.2 on), `lerobot.common.*` with draccus configs (the trees forks
    vendored until mid-2025), `lerobot.common.*` with Hydra YAML configs (PyPI's 0.1.0).
    """
    facts = {"package": None, "configs": None}
    for package, rel in (("lerobot", "datasets/lerobot_dataset.py"), ("lerobot.common", "common/datasets/lerobot_dataset.py")):
        text = _read(os.path.join(root, rel))
        if text:
            facts["package"] = package
            facts["dataset_module"] = package + ".datasets.lerobot_dataset"
            facts["dataset_create"] = bool(re.search(r"def create\(", text))
            break
    if facts["package"] is None and os.path.isdir(os.path.join(root, "common")):
        facts["package"] = "lerobot.common"
    for rel in ("datasets/dataset_metadata.py", "datasets/lerobot_dataset.py", "common/datasets/lerobot_dataset.py"):
        match = re.search(r"""CODEBASE_VERSION\s*=\s*["']([^"']+)["']""", _read(os.path.join(root, rel)))
        if match:
            facts["codebase_version"] = match.group(1)
            break
    for rel in ("scripts/lerobot_train.py", "scripts/train.py"):
        if os.path.exists(os.path.join(root, rel)):
            facts["train_module"] = "lerobot." + rel[:-3].replace("/", ".")
            break
    train_config = _read(os.path.join(root, "configs", "train.py"))
    if train_config:
        facts["configs"] = "draccus"
        facts["resume"] = bool(re.search(r"^\s*resume\s*:", train_config, re.M))
    elif glob.glob(os.path.join(root, "configs", "*.yaml")):
        facts["configs"] = "hydra"
        facts["resume"] = False
    facts["act"] = any(os.path.exists(os.path.join(root, rel, "act", "modeling_act.py"))
                       for rel in ("policies", os.path.join("common", "policies")))
    return facts


def lerobot_facts(fragments: list = ()) -> dict:
    spec = importlib.util.find_spec("lerobot")
    if spec is None:
        return {"importable": False, "error": "No module named 'lerobot'"}
    root = list(spec.submodule_search_locations or [])[0]
    facts = {"dir": root}
    try:
        import lerobot  # noqa: F401  (cheap: the package __init__ only)

        facts["importable"] = True
    except BaseException as exc:
        facts["importable"] = False
        facts["import_error"] = _err(exc)
    for rel in ("utils/device_utils.py", "utils/utils.py", "common/utils/utils.py"):
        text = _read(os.path.join(root, rel))
        if "is_torch_device_available" in text or "auto_select_torch_device" in text:
            facts["device_source"] = rel
            break
    device_text = _read(os.path.join(root, facts["device_source"])) if "device_source" in facts else ""
    for _key, module in fragments:
        if hasattr(module, "lerobot"):  # what a backend needs to know of lerobot's tree (its device branch)
            try:
                facts.update(module.lerobot(root, device_text))
            except Exception:
                pass
    facts["tree"] = tree_facts(root)
    for key in ("codebase_version", "train_module"):
        if key in facts["tree"]:
            facts[key] = facts["tree"][key]
    facts["train_script"] = shutil.which("lerobot-train")
    return facts


def _caps(module_name: str) -> dict:
    return importlib.import_module(module_name).collect()


# --------------------------------------------------------------- system ----------
def _resolves(host: str, timeout: float = 2.0) -> bool | None:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(_getaddr(host)), daemon=True)
    thread.start()
    thread.join(timeout)
    return result[0] if result else False


def _getaddr(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


def _cache_dir(var: str, value, default: str) -> dict:
    """Whether a cache folder can be written: a temporary file in it, or in its nearest existing parent
    (the folder is created on first use; the probe does not create it)."""
    path = os.path.expanduser(value) if value else default
    out = {"var": var, "path": path, "set": bool(value)}
    probe_dir = path
    while not os.path.isdir(probe_dir) and os.path.dirname(probe_dir) != probe_dir:
        probe_dir = os.path.dirname(probe_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        out.update(writable=False, error=f"{path} exists and is not a directory")
        return out
    try:
        with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".envkit-probe-"):
            pass
        out["writable"] = True
    except OSError as exc:
        out.update(writable=False, error=f"{probe_dir}: {exc}")
    return out


def system_facts(hub_dir: str | None, weights_file: str, weights_host: str) -> dict:
    facts = {}
    facts["disk_free_bytes"] = shutil.disk_usage(sys.prefix).free
    try:
        st = os.statvfs("/dev/shm")
        facts["shm_bytes"] = st.f_blocks * st.f_frsize
    except OSError:
        facts["shm_bytes"] = None
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    facts["hf_home"] = hf_home
    try:
        os.makedirs(hf_home, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=hf_home, prefix=".envkit-probe-"):
            pass
        facts["hf_home_writable"] = True
        facts["hf_home_free_bytes"] = shutil.disk_usage(hf_home).free
    except OSError as exc:
        facts["hf_home_writable"] = False
        facts["hf_home_error"] = str(exc)
    # datasets' Arrow cache and lerobot's dataset home default to folders of HF_HOME; either can be moved
    facts["hf_caches"] = [_cache_dir(var, os.environ.get(var), os.path.join(hf_home, sub))
                          for var, sub in (("HF_DATASETS_CACHE", "datasets"), ("HF_LEROBOT_HOME", "lerobot"))]
    if hub_dir:
        weights = os.path.join(hub_dir, "checkpoints", weights_file)
        facts["resnet18"] = {"path": weights, "present": os.path.isfile(weights)}
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    facts["hf_hub_offline"] = offline
    facts["network"] = _resolves(weights_host) if weights_host else None
    return facts


def lib_facts() -> dict:
    facts = {"ld_library_path": []}
    for directory in [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]:
        facts["ld_library_path"].append({"dir": directory, "exists": os.path.isdir(directory),
                                         "libavutil": sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, "libavutil.so.*")))})
    gl = os.environ.get("MUJOCO_GL")
    if gl:
        names = {"egl": ["libEGL.so.1", "libEGL.so"], "osmesa": ["libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so"],
                 "glfw": ["libglfw.so.3", "libglfw.so"]}.get(gl.lower(), [])
        loaded = None
        errors = []
        for name in names:
            try:
                ctypes.CDLL(name)
                loaded = name
                break
            except OSError as exc:
                errors.append(str(exc))
        facts["mujoco_gl"] = {"value": gl, "known": bool(names), "loaded": loaded, "errors": errors}
    return facts


# -------------------------------------------------------------- dataset ----------
class _Zero(dict):
    def __missing__(self, key):  # chunk/file/episode indices in path templates: the first one
        return 0


def dataset_facts(root: str, video_ok: bool) -> dict:
    facts = {"root": root}
    info_path = os.path.join(root, "meta", "info.json")
    try:
        with open(info_path, encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError) as exc:
        facts["info_error"] = "%s: %s" % (type(exc).__name__, exc)
        return facts
    if not isinstance(info, dict):
        facts["info_error"] = "it holds a JSON %s, not an object" % type(info).__name__
        return facts
    # lerobot reads these three before anything else; a file without them cannot be a dataset's
    facts["info_missing"] = [k for k, kind in (("total_episodes", int), ("fps", (int, float)), ("features", dict))
                             if not isinstance(info.get(k), kind) or isinstance(info.get(k), bool)]
    features = info.get("features") if isinstance(info.get("features"), dict) else {}
    facts.update(codebase_version=info.get("codebase_version"), fps=info.get("fps"),
                 total_episodes=info.get("total_episodes"), total_frames=info.get("total_frames"),
                 features={k: {"dtype": v.get("dtype"), "shape": v.get("shape")} for k, v in features.items() if isinstance(v, dict)},
                 video_path=info.get("video_path"), robot_type=info.get("robot_type"))
    cameras = {}
    for key, feature in features.items():
        if not isinstance(feature, dict) or feature.get("dtype") != "video" or not info.get("video_path"):
            continue
        try:
            rel = info["video_path"].format_map(_Zero(video_key=key))
        except (KeyError, ValueError, IndexError) as exc:
            cameras[key] = {"error": {"message": "video_path template: %s" % exc}}
            continue
        path = os.path.join(root, rel)
        entry = {"path": path, "exists": os.path.isfile(path)}
        if entry["exists"]:
            entry["decode"] = _try(decode_torchcodec, path) if video_ok else _try(decode_pyav, path)
            entry["backend"] = "torchcodec" if video_ok else "pyav"
        cameras[key] = entry
    facts["cameras"] = cameras
    return facts


def main(argv: list) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset")
    parser.add_argument("--secret-names", default=None, help="envkit.secrets.SECRET_NAME_PATTERN")
    parser.add_argument("--no-video", action="store_true")
    parser.add_argument("--weights-file", default="")
    parser.add_argument("--weights-host", default="")
    parser.add_argument("--fragment", action="append", default=[], metavar="KEY=MODULE",
                        help="a backend's probe fragment: MODULE beside this file, its facts filed as torch[KEY]")
    parser.add_argument("--torch-version", action="append", default=[], metavar="ATTR",
                        help="a torch.version attribute to record (a backend's build marker)")
    parser.add_argument("--caps", metavar="MODULE", help="the lerobot capability probe beside this file (caps_probe.py)")
    args = parser.parse_args(argv)
    global _REAL_STDOUT, SECRET
    if args.secret_names:
        SECRET = re.compile(args.secret_names, re.I)
    real_stdout = os.dup(1)
    os.dup2(2, 1)  # native code that prints must not corrupt the JSON
    _REAL_STDOUT = real_stdout
    out = {"probe_version": PROBE_VERSION}
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="envkit-probe-")
    try:
        fragment_errors = {}
        fragments = load_fragments(args.fragment, fragment_errors)
        _timed(out, "python", python_facts)
        _timed(out, "marker_env", marker_env)
        # (a plug-in's malformed entry must not take the probe down: only strings count)
        out["env"] = safe_env(tuple(p for _, m in fragments for p in getattr(m, "ENV_PREFIXES", ()) if isinstance(p, str)))
        _timed(out, "dists", dist_facts, {k: v for _, m in fragments for k, v in getattr(m, "DISTS", {}).items()})
        _timed(out, "lerobot_dist", lerobot_dist)
        _timed(out, "torch_spec", torch_spec)  # where torch would come from, known even if importing it kills the interpreter
        _timed(out, "torch", torch_facts, fragments, fragment_errors, args.torch_version)
        if not args.no_video:
            _timed(out, "video", video_facts, workdir)
        _timed(out, "lerobot", lerobot_facts, fragments)
        if args.caps:  # what the installed lerobot accepts and does, asked of its own config classes
            _timed(out, "lerobot_caps", _caps, args.caps)
        _timed(out, "system", system_facts, (out.get("torch") or {}).get("hub_dir"), args.weights_file, args.weights_host)
        _timed(out, "libs", lib_facts)
        if args.dataset:
            tc = ((out.get("video") or {}).get("torchcodec") or {})
            video_ok = bool(tc.get("import_ok") and (tc.get("decode") or {}).get("ok"))
            _timed(out, "dataset", dataset_facts, args.dataset, video_ok)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    sys.stdout.flush()
    os.write(real_stdout, (json.dumps(out, default=str) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
