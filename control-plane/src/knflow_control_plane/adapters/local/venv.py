"""The ``venv`` builder: one virtualenv per requirements hash, made with uv and cached on disk.

Layout under the builder's root::

    code/{digest}/                    an action's code bundle, written once
    venvs/{python tag}/{hash}/        a virtualenv per set of requirements
    venvs/{python tag}/{hash}.lock    the file lock that serialises its build across processes

A venv never reinstalls knflow or the runtime: a ``.pth`` file appends the control plane's own
site-packages (and the workspace ``src`` folders when knflow is installed editable) after the venv's
site-packages, so the action's requirements win any clash and the venv stays as small as they are.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import re
import shutil
import site
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from knflow.spec import ActionSpec
from knflow_control_plane.domain.environment import inherited
from knflow_control_plane.errors import BuildFailed
from knflow_control_plane.ports import Artifact, BuildResult, CodeBundle

#: Lets the .pth file sort after anything a requirement installs, though .pth order does not matter here.
PTH_NAME = "zz_knflow_host.pth"
_DIGEST = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_LOCK_POLL_S = 0.05


class VenvBuilder:
    """Builds actions into local virtualenvs (implements the ``Builder`` port).

    Args:
        root: the folder holding code bundles and venvs (``.knflow/builds``).
        python: the interpreter the venvs are made from; the control plane's own by default, which
            is also the only one whose site-packages the ``.pth`` file can share.
        uv: the ``uv`` executable; by default found on ``PATH``, beside the interpreter or in ``~/.local/bin``.
        timeout: seconds one ``uv`` command may take before the build fails.
    """

    def __init__(self, root: Path, *, python: str | None = None, uv: str | None = None, timeout: float = 600.0):
        # Absolute: the code path goes into stored artifacts and to processes running in other folders.
        self._root = Path(os.path.abspath(root))
        self._python = python or sys.executable
        self._uv = uv
        self._timeout = timeout
        self._locks: dict[str, asyncio.Lock] = {}
        # Venvs of different interpreters must not share a cache entry.
        tag = sys.implementation.cache_tag if python is None else hashlib.sha256(python.encode()).hexdigest()[:12]
        self._venvs = self._root / "venvs" / str(tag)

    async def build(self, action: ActionSpec, code: CodeBundle) -> BuildResult:
        """Write the code bundle and make (or reuse) the venv for the action's requirements.

        Args:
            action: the action version; only ``options["requirements"]`` matters here.
            code: its code, written once to ``root/code/{digest}``.

        Raises:
            BuildFailed: the bundle is invalid, uv is missing, or the install failed (``logs`` field).
        """
        code_path = await asyncio.to_thread(self._write_code, code)
        requirements = sorted(str(r) for r in action.options.get("requirements", ()))
        if not requirements:
            artifact = Artifact(kind="venv", location=self._python, code_path=str(code_path))
            return BuildResult(artifact=artifact, logs="no requirements: using the control plane's interpreter\n")
        for req in requirements:
            # Requirements are argv items, so no shell is involved, but one starting with "-" would be
            # read by uv as an option (--index-url=..., -e ...).
            if not req.strip() or req.lstrip().startswith("-"):
                raise BuildFailed(f"invalid requirement {req!r}", logs="", action=action.name)
        key = requirements_hash(requirements)
        try:
            venv, logs = await self._venv(key, requirements)
        except BuildFailed as exc:
            raise BuildFailed(f"action {action.name}: {exc}", **{**exc.fields, "action": action.name}) from exc
        artifact = Artifact(kind="venv", location=str(venv / "bin" / "python"), code_path=str(code_path))
        return BuildResult(artifact=artifact, logs=logs)

    async def _venv(self, key: str, requirements: list[str]) -> tuple[Path, str]:
        venv = self._venvs / key
        if venv.is_dir():  # the rename below makes a present folder a complete one
            return venv, f"cached venv {venv} (requirements {key[:12]})\n"
        # The asyncio lock orders this process's builders; the file lock (taken by one of them at a
        # time) orders processes, e.g. two control planes sharing one root.
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            started = time.monotonic()
            fd = await _lock_file(self._venvs / f"{key}.lock")
            try:
                if venv.is_dir():
                    return venv, f"cached venv {venv} (built by another process)\n"
                # Holding the lock, any temp folder of this key is a build that was killed midway.
                for stale in self._venvs.glob(f".{key}.*"):
                    await asyncio.to_thread(shutil.rmtree, stale, True)
                logs = await self._create(venv, requirements)
            finally:
                os.close(fd)  # closing the descriptor releases the flock
            return venv, logs + f"built venv {venv} in {time.monotonic() - started:.1f}s\n"

    async def _create(self, venv: Path, requirements: list[str]) -> str:
        uv = self._find_uv()
        tmp = Path(tempfile.mkdtemp(prefix=f".{venv.name}.", dir=venv.parent))
        logs: list[str] = []
        try:
            # --relocatable: the console scripts must keep working after the rename to the final path.
            # --no-config: an action's environment must not inherit the uv settings (pins, indexes) of
            # whatever project the control plane happens to run in.
            await self._run(logs, uv, "venv", "--no-config", "--relocatable", "--python", self._python, str(tmp))
            py = tmp / "bin" / "python"
            await self._run(logs, uv, "pip", "install", "--no-config", "--python", str(py), *requirements)
            site_dir = await self._site_packages(logs, py)
            await asyncio.to_thread(_finish, tmp, site_dir, venv)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return "".join(logs)

    async def _site_packages(self, logs: list[str], python: Path) -> Path:
        out = await self._run(logs, str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        return Path(out.strip().splitlines()[-1])

    async def _run(self, logs: list[str], *argv: str) -> str:
        logs.append(f"$ {' '.join(argv)}\n")
        # A requirement built from source runs its own code here: uv gets the allowlist user code gets,
        # plus its own settings (an index with credentials is the operator's choice), never the plane's
        # secrets. No VIRTUAL_ENV: --python names the target; an inherited venv must not compete.
        own = {k: v for k, v in os.environ.items() if k.startswith(("UV_", "XDG_"))}
        env = {**inherited(os.environ), **own, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
            )
        except OSError as exc:
            raise BuildFailed(f"cannot run {argv[0]}: {exc}", logs="".join(logs)) from exc
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self._timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            logs.append(f"timed out after {self._timeout:.0f}s\n")
            raise BuildFailed(f"{argv[0]} timed out", logs="".join(logs)) from None
        except BaseException:
            proc.kill()  # a cancelled build must not leave uv running
            await proc.wait()
            raise
        text = out.decode(errors="replace")
        logs.append(text)
        if proc.returncode != 0:
            command = " ".join([os.path.basename(argv[0]), *argv[1:3]])
            raise BuildFailed(
                f"{command} failed with exit code {proc.returncode}:\n{useful_lines(text)}", logs="".join(logs)
            )
        return text

    def _find_uv(self) -> str:
        # PATH first; then beside the interpreter (uv installed into the venv) and where
        # `pip install --user uv` puts it (what the Makefile does on a fresh machine).
        candidates = [
            self._uv,
            shutil.which("uv"),
            str(Path(sys.executable).parent / "uv"),
            str(Path.home() / ".local" / "bin" / "uv"),
        ]
        for candidate in candidates:
            if candidate and os.access(candidate, os.X_OK):
                return candidate
        raise BuildFailed("uv is not installed: the venv builder needs it", logs="")

    def _write_code(self, code: CodeBundle) -> Path:
        if not _DIGEST.match(code.digest) or code.digest in {".", ".."}:
            raise BuildFailed(f"invalid code digest {code.digest!r}", logs="")
        target = self._root / "code" / code.digest
        if target.is_dir():  # content-addressed: a present folder is already this bundle
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{code.digest}.", dir=target.parent))
        try:
            for name, content in code.files.items():
                path = tmp / _safe_relative(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            try:
                tmp.rename(target)
            except OSError:
                if not target.is_dir():  # anything but "another writer won the race" is an error
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target


#: the most lines of a failed command's output put in the error (the whole output is in ``logs``)
USEFUL_LINES = 20


def useful_lines(output: str) -> str:
    """The part of a failed command's output that says why, indented: from uv's first ``error:`` line
    (or its fancy-report cross) on, else its last lines; the progress lines before say nothing of it."""
    lines = [line.rstrip()[:300] for line in output.splitlines() if line.strip()]
    starts = ("error", "\N{MULTIPLICATION SIGN}")
    start = next((i for i, line in enumerate(lines) if line.lstrip().lower().startswith(starts)), None)
    chosen = lines[start : start + USEFUL_LINES] if start is not None else lines[-8:]
    return "\n".join(f"  {line}" for line in chosen) or "  (no output)"


def requirements_hash(requirements: Iterable[str]) -> str:
    """The identity of a set of requirements: sha256 of the sorted strings, one per line."""
    return hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()


def host_paths() -> list[str]:
    """The folders a venv borrows from the control plane: workspace ``src`` dirs, then site-packages.

    An editable install puts a package's ``src`` folder on ``sys.path`` through a ``.pth`` file, and
    ``.pth`` files are only read in site dirs, not in folders another ``.pth`` file appends: so those
    folders are listed themselves, found from where ``knflow`` and ``knflow_runtime`` were imported.
    """
    import knflow
    import knflow_runtime

    site_dirs = [str(Path(p).resolve()) for p in site.getsitepackages()]
    paths: list[str] = []
    for module_file in (knflow.__file__, knflow_runtime.__file__):
        src = str(Path(module_file or "").resolve().parent.parent)
        if src not in site_dirs and src not in paths:
            paths.append(src)
    return paths + [p for p in site_dirs if p not in paths]


def _finish(tmp: Path, site_dir: Path, venv: Path) -> None:
    (site_dir / PTH_NAME).write_text("".join(f"{p}\n" for p in host_paths()))
    tmp.rename(venv)  # atomic: the venv appears complete or not at all


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\x00" in name:
        raise BuildFailed(f"invalid path in code bundle: {name!r}", logs="")
    return path


async def _lock_file(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        # A non-blocking flock, polled: a thread blocked in flock could not be cancelled.
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                await asyncio.sleep(_LOCK_POLL_S)
    except BaseException:
        os.close(fd)
        raise
