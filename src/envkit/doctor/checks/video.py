"""torchcodec.* and video.*: decoding a real frame, which libav got loaded, encoding, lerobot's backend."""

from __future__ import annotations

from typing import Any

from envkit import loaderdiag
from envkit.doctor.checks._util import arch, base, err_text, first_line, known, matrix, pip_install, profile_get, vtuple
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip, warn


def _video(ctx: Context) -> dict[str, Any]:
    return ctx.section("video")


def backend(ctx: Context) -> str:
    return str(profile_get(ctx, "video_backend") or "torchcodec")


def _tc_error(tc: dict[str, Any]) -> str:
    """The most telling error text: import, decode, then what dlopen said about the core libs."""
    texts = [err_text(tc, "import_error"), err_text(tc.get("decode") or {}, "error")]
    texts += [f"{lib}: {msg}" for lib, msg in (tc.get("dlopen") or {}).items() if msg]
    return "\n".join(t for t in texts if t)


def _cause(text: str) -> str:
    """From the loader's own words (envkit.loaderdiag): never FFmpeg when it names another library."""
    found = loaderdiag.cause(text)
    if found is not None:
        return {"symbol": "abi", "ffmpeg": "ffmpeg", "gpu-runtime": "gpu_runtime"}.get(found.kind, "library")
    if "undefined symbol" in text:
        return "abi"
    if "libavutil" in text or "libavcodec" in text or "FFmpeg is not properly installed" in text:
        return "ffmpeg"
    if "libc10_cuda" in text:
        return "gpu_runtime"  # NVIDIA runtime libraries a torch build without them does not ship
    return "other"


def missing_library(text: str) -> tuple[str, str] | None:
    """(what the loader says is missing, the fix) for a library that is not FFmpeg nor a GPU runtime."""
    found = loaderdiag.cause(text)
    if found is None or found.kind in ("symbol", "ffmpeg", "gpu-runtime"):
        return None
    package = found.debian_package
    if package:
        fix = (f"apt-get install -y --no-install-recommends {package} (as root; `envkit setup --yes` installs it)"
               + (": Debian's and Ubuntu's python3 do not ship the shared libpython that torchcodec's custom ops link"
                  if found.kind == "libpython" else ""))
    else:
        fix = f"install the package that provides {found.soname} (Debian/Ubuntu: apt-file search {found.soname})"
    return found.summary(), fix


def shadowing_dirs(ctx: Context, text: str = "") -> list[dict[str, Any]]:
    """LD_LIBRARY_PATH entries that provide a libavutil: the loader takes them before the system's.

    Those named in the error text come first; reinstalling FFmpeg does not help while one of them
    shadows it.
    """
    libs = [d for d in ctx.section("libs").get("ld_library_path") or [] if d.get("libavutil")]
    named = [d for d in libs if d["dir"] and d["dir"].rstrip("/") in text]
    return named + [d for d in libs if d not in named]


def _ffmpeg_fix(ctx: Context, text: str = "") -> str:
    shadow = shadowing_dirs(ctx, text)
    if shadow:
        return (f"remove {shadow[0]['dir']} from LD_LIBRARY_PATH (it provides {', '.join(shadow[0]['libavutil'])}, which "
                "torchcodec cannot use), or put a supported FFmpeg's lib directory before it")
    if ctx.host.tools.conda or ctx.section("python").get("prefix", "").find("conda") >= 0:
        return "conda install -c conda-forge 'ffmpeg<8' (in the target env)"
    return "apt-get install -y --no-install-recommends ffmpeg (or conda install -c conda-forge ffmpeg in a conda env)"


def _matching_tc(ctx: Context) -> str | None:
    m = matrix()
    torch = base(ctx.dist("torch"))
    if m is None or torch is None:
        return None
    choices = known(m.torchcodec_for, torch, arch(ctx)) or []
    return choices[-1] if choices else None


def load(ctx: Context) -> Outcome:
    v = _video(ctx)
    tc = v.get("torchcodec") or {}
    if not tc.get("installed"):
        if backend(ctx) == "pyav":
            return skip("the profile decodes with pyav; torchcodec is not installed")
        fix = pip_install(ctx, "--no-deps", f"torchcodec=={_matching_tc(ctx)}") if _matching_tc(ctx) else "install torchcodec"
        return fail("torchcodec is not installed: lerobot falls back to pyav (slower; broken with torchvision >= 0.26)", fix)
    if tc.get("import_ok") and (tc.get("decode") or {}).get("ok"):
        sample = v.get("sample") or {}
        return ok(f"torchcodec {tc.get('version')} decoded a real {sample.get('codec', '')} frame {tc['decode'].get('shape')}")
    if tc.get("import_ok") and "decode" not in tc:
        return skip("no sample video could be made (PyAV missing?) so nothing was decoded", str((v.get("sample") or {}).get("errors", "")))
    text = _tc_error(tc)
    cause = _cause(text)
    where = "import torchcodec" if not tc.get("import_ok") else "decoding a frame"
    head = f"torchcodec {ctx.dist('torchcodec')} fails at {where}"
    if cause == "abi":
        match = _matching_tc(ctx)
        fix = pip_install(ctx, "--no-deps", f"torchcodec=={match}") if match else "install the torchcodec built for this torch"
        return fail(f"{head}: it was built for another torch ({first_line(_symbol(text))})", fix, text)
    shadow = shadowing_dirs(ctx, text)
    if cause in ("ffmpeg", "abi") and shadow:
        return fail(f"{head}: the LD_LIBRARY_PATH entry {shadow[0]['dir']} provides {', '.join(shadow[0]['libavutil'])}, "
                    f"which torchcodec cannot use ({first_line(_symbol(text))})", _ffmpeg_fix(ctx, text), text)
    if cause == "library":
        missing = missing_library(text)
        if missing:
            return fail(f"{head}: the loader says {missing[0]}", missing[1], text)
    if cause == "ffmpeg":
        return fail(f"{head}: no FFmpeg shared libraries it supports are findable (libavutil.so.N)", _ffmpeg_fix(ctx), text)
    if cause == "gpu_runtime":
        return fail(f"{head}: it is linked against CUDA libraries this torch does not ship ({first_line(_symbol(text))})",
                    pip_install(ctx, "--no-deps", f"torchcodec=={_matching_tc(ctx)}") if _matching_tc(ctx) else
                    "install torchcodec from the same PyTorch index as torch", text)
    return fail(f"{head}: {first_line(text)}", "see details", text)


def _symbol(text: str) -> str:
    # torchcodec tries every FFmpeg major; "cannot open" lines for absent majors are expected
    # noise, so an undefined symbol (the real cause) wins over them.
    for needle in ("undefined symbol", "cannot open shared object"):
        for line in text.splitlines():
            if needle in line:
                return line.strip()
    return first_line(text)


def ffmpeg(ctx: Context) -> Outcome:
    v = _video(ctx)
    loaded = v.get("loaded") or []
    cli = v.get("ffmpeg_cli") or {}
    tc_libs = [lib for lib in loaded if lib.get("torchcodec_ffmpeg_major")]
    avutil = [lib for lib in loaded if lib["name"].startswith("libavutil") and lib.get("origin") == "system"]
    bundled = [lib for lib in loaded if lib["name"].startswith("libavutil") and lib.get("origin") != "system"]
    if not tc_libs or not avutil:
        return skip("torchcodec loaded no FFmpeg (see torchcodec.load)")
    m = matrix()
    util = avutil[0]
    major = known(m.ffmpeg_major_for_avutil, util["major"]) if m else None
    lines = [f"torchcodec loaded {util['path']} (FFmpeg {major or '?'})"]
    if bundled:
        lines.append(f"PyAV uses its own bundled {bundled[0]['name']} (FFmpeg private to PyAV, invisible to torchcodec)")
    supported = known(lambda: m.torchcodec(base(ctx.dist("torchcodec"))).ffmpeg) if m else None
    if supported and major and major not in supported:
        return fail(f"FFmpeg {major} is outside torchcodec {ctx.dist('torchcodec')}'s {supported}",
                    _ffmpeg_fix(ctx), "\n".join(lines))
    cli_major = cli.get("avutil_major")
    if cli.get("path") and cli_major and cli_major != util["major"]:
        return warn(f"the `ffmpeg` on PATH ({cli['path']}, libavutil {cli_major}) is not the FFmpeg torchcodec loads "
                    f"(libavutil {util['major']}); lerobot-info reports the CLI one",
                    "put the env's FFmpeg first (conda: the env's bin and lib) so both agree", "\n".join(lines))
    if not cli.get("path"):
        lines.append("no `ffmpeg` on PATH (not needed for training)")
    return ok(f"torchcodec uses FFmpeg {major} ({util['name']})" + (f", supported: {supported}" if supported else ""), "\n".join(lines))


def lerobot_backend(ctx: Context) -> Outcome:
    lerobot = ctx.dist("lerobot")
    tc = _video(ctx).get("torchcodec") or {}
    if not lerobot:
        return skip("lerobot is not installed")
    if backend(ctx) == "pyav":
        return skip("the profile decodes with pyav (see video.pyav)")
    works = tc.get("import_ok") and (tc.get("decode") or {}).get("ok")
    if works:
        return ok(f"lerobot {lerobot} will decode with torchcodec")
    if not tc.get("installed"):
        return skip("torchcodec is not installed (see torchcodec.load)")
    tv = ctx.dist("torchvision")
    m = matrix()
    pyav_ok = known(m.pyav_backend_ok, base(lerobot), base(tv)) if (m and tv) else None
    match = _matching_tc(ctx)
    alt = ("; or train with --dataset.video_backend=pyav" if pyav_ok and pyav_ok[0]
           else f"; --dataset.video_backend=pyav does not help: torchvision {tv} has no VideoReader")
    fix = (pip_install(ctx, "--no-deps", f"torchcodec=={match}") if match else "install a torchcodec matching torch") + alt
    if vtuple(lerobot) < (0, 6):
        return fail(f"lerobot {lerobot} picks torchcodec because it is installed (find_spec), not because it works: "
                    "lerobot-train crashes at the first batch", fix)
    return warn(f"lerobot {lerobot} falls back to pyav because torchcodec cannot load ('torchcodec' is installed but cannot be loaded): "
                "training works but decodes ~2x slower", fix)


def pyav(ctx: Context) -> Outcome:
    v = _video(ctx)
    if backend(ctx) != "pyav":
        return skip("the video backend is torchcodec")
    dec = v.get("pyav_decode") or {}
    tvf = v.get("torchvision") or {}
    if not dec.get("ok"):
        return fail("PyAV cannot decode a real frame: " + first_line(err_text(dec, "error") or err_text(v.get("av") or {})),
                    pip_install(ctx, "av>=15,<16"))
    if not tvf.get("video_reader"):
        return fail(f"torchvision {tvf.get('version')} has no io.VideoReader (removed in 0.26): lerobot's pyav backend "
                    "fails with AttributeError: module 'torchvision.io' has no attribute 'VideoReader'",
                    "install torchvision <= 0.25 with its matching torch, or use the torchcodec backend")
    return ok("PyAV decodes and torchvision still has io.VideoReader")


def encode(ctx: Context) -> Outcome:
    av = _video(ctx).get("av") or {}
    if "import_error" in av:
        return fail("PyAV does not import: " + first_line(err_text(av)), pip_install(ctx, "av>=15,<16"))
    if not av:
        return skip("PyAV not probed")
    if av.get("libsvtav1"):
        return ok(f"PyAV {av.get('version')} (used by lerobot to record) has the libsvtav1 encoder")
    return warn(f"PyAV {av.get('version')} lacks libsvtav1: recording datasets fails (Unknown encoder 'libsvtav1')",
                pip_install(ctx, "--force-reinstall", "--only-binary=:all:", f"av=={av.get('version')}") + " (PyPI wheels bundle libsvtav1)")


CHECKS = [
    Check("torchcodec.load", "torchcodec decodes a real frame", load),
    Check("torchcodec.ffmpeg", "the FFmpeg torchcodec actually loads", ffmpeg),
    Check("video.backend", "lerobot's choice of video backend", lerobot_backend),
    Check("video.pyav", "pyav decoding (pyav profiles)", pyav),
    Check("video.encode", "video encoding for recording", encode),
]
