"""A Docker engine of our own for building and running the project's image where no image registry is reachable.

Debian's dockerd runs on a socket, data root and exec root of its own under a temp directory, so it clashes with
no other engine on the machine, and is stopped by its own PID. The base image the Dockerfile builds on is made
from Debian's packages by debootstrap, shaped like the official `python:3.11-slim-bookworm`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import ROOT, one_at_a_time

ENGINE_PACKAGES = ("docker.io", "debootstrap")
BASE_IMAGE = "waveflow-base:bookworm"
BASE_SUITE = "bookworm"
# passwd (useradd) is in minbase already: it is one of Debian's "required" packages.
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_VENV = "/opt/venv"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# This machine reaches PyPI through a proxy whose CA is only in the machine's bundle, not in Debian's.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What Debian's slim images leave out: every layer is a full copy under the vfs driver, so size is time.
BASE_TRIMMED = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/lib/apt/lists",
                "var/cache/apt")


class EngineUnavailable(RuntimeError):
    """The engine or its tools could not be installed or started here; the message says why."""


def tool_path() -> str:
    """PATH with the system directories: dockerd, runc and debootstrap live in sbin, which a CI PATH may lack."""
    return f"{os.environ.get('PATH', '')}:{SYSTEM_PATH}"


def which(name: str) -> str | None:
    return shutil.which(name, path=tool_path())


def output_tail(text: str | bytes | None, lines: int = 20) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").strip().splitlines()[-lines:])


def install_engine_tools(timeout: float = 600.0) -> None:
    """Install Debian's dockerd and debootstrap if either is missing (needs root and apt)."""
    if all(which(name) for name in ("dockerd", "debootstrap")):
        return
    if os.geteuid() != 0 or not which("apt-get"):
        raise EngineUnavailable(f"dockerd or debootstrap is missing; installing {' '.join(ENGINE_PACKAGES)} "
                                "needs root and apt-get")
    environment = {**os.environ, "PATH": tool_path(), "DEBIAN_FRONTEND": "noninteractive"}
    with one_at_a_time("apt"):
        for command in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "-o",
                         "DPkg::Lock::Timeout=600", *ENGINE_PACKAGES]):
            try:
                subprocess.run(command, env=environment, capture_output=True, text=True, check=True, timeout=timeout)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
                raise EngineUnavailable(f"`{' '.join(command)}` failed:\n{output_tail(error.stdout)}\n"
                                        f"{output_tail(error.stderr)}") from error


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The archive this machine's apt uses for its release's main suite (not -security or -updates)."""
    entries: list[tuple[str, list[str]]] = []
    for deb822 in sorted(sources.glob("sources.list.d/*.sources")):
        for stanza in deb822.read_text(encoding="utf-8").split("\n\n"):
            fields = dict(line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[0] != "#")
            entries += [(uri, fields.get("Suites", "").split()) for uri in fields.get("URIs", "").split()]
    for one_line in [sources / "sources.list", *sorted(sources.glob("sources.list.d/*.list"))]:
        if one_line.exists():
            for line in one_line.read_text(encoding="utf-8").splitlines():
                words = [word for word in line.split() if not word.startswith("[")]
                if len(words) >= 3 and words[0] == "deb":
                    entries.append((words[1], [words[2]]))
    for uri, suites in entries:
        if "debian" in uri and any("-" not in suite and "/" not in suite for suite in suites):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def engine_client(dockerd: str) -> str:
    """The `docker` client of dockerd's own package (/usr/bin beside /usr/sbin), whose API version matches it;
    else the first on PATH."""
    beside = Path(dockerd).resolve().parent.parent / "bin" / "docker"
    found = str(beside) if beside.exists() else which("docker")
    if found is None:
        raise EngineUnavailable("the docker client is not installed")
    return found


@dataclass
class DockerEngine:
    """dockerd on `unix://<root>/docker.sock`, everything it keeps under `root`; containers use the host network."""

    parent: Path | None = None
    """Where the engine's temp directory is made; the system's temp directory when None."""
    start_timeout: float = 60.0
    root: Path = field(init=False)
    client: str = field(init=False)
    buildkit: bool = field(init=False, default=False)
    process: subprocess.Popen[bytes] | None = field(init=False, default=None)

    @property
    def host(self) -> str:
        return f"unix://{self.root}/docker.sock"

    @property
    def log_file(self) -> Path:
        return self.root / "dockerd.log"

    def env(self) -> dict[str, str]:
        """The environment a `docker` client needs to reach this engine and no other."""
        # BuildKit where the client can drive it: under the vfs driver the legacy builder copies the whole image
        # for every step, metadata steps included, which made the build six times slower.
        return {**os.environ, "PATH": tool_path(), "DOCKER_HOST": self.host,
                "DOCKER_BUILDKIT": "1" if self.buildkit else "0", "DOCKER_CONFIG": str(self.root / "client")}

    def start(self) -> DockerEngine:
        dockerd = which("dockerd")
        if dockerd is None:
            raise EngineUnavailable("dockerd is not installed")
        self.client = engine_client(dockerd)
        self.root = Path(tempfile.mkdtemp(prefix="waveflow-engine-", dir=self.parent))
        # An empty daemon.json of its own, so a machine's /etc/docker/daemon.json changes nothing here.
        (self.root / "daemon.json").write_text("{}", encoding="utf-8")
        command = [dockerd, "--storage-driver=vfs", "--iptables=false", "--bridge=none",
                   "--config-file", str(self.root / "daemon.json"), "--data-root", str(self.root / "data"),
                   "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "dockerd.pid"),
                   "--host", self.host]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                            env={**os.environ, "PATH": tool_path()})
        try:
            self._wait_until_answering()
        except EngineUnavailable:
            self.stop()
            raise
        self.buildkit = self._client_has_buildkit()
        return self

    def _client_has_buildkit(self) -> bool:
        """Clients before 23.0 have BuildKit built in; later ones only through their buildx plugin."""
        if self.docker("buildx", "version", check=False).returncode == 0:
            return True
        version = self.docker("version", "--format", "{{.Client.Version}}", check=False).stdout.strip()
        return version.split(".")[0].isdigit() and int(version.split(".")[0]) < 23

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise EngineUnavailable(f"dockerd exited with {self.process.returncode}:\n"
                                        f"{output_tail(self.log_file.read_text(errors='replace'))}")
            if self.docker("info", check=False, timeout=30).returncode == 0:
                return
            time.sleep(0.5)
        raise EngineUnavailable(f"dockerd does not answer after {self.start_timeout} s:\n"
                                f"{output_tail(self.log_file.read_text(errors='replace'))}")

    def docker(self, *arguments: str, check: bool = True, timeout: float = 120.0,
               ) -> subprocess.CompletedProcess[str]:
        """`docker <arguments>` against this engine; with `check`, a failure raises with its output."""
        result = subprocess.run([self.client, *arguments], env=self.env(), capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"`docker {' '.join(arguments)}` exited with {result.returncode}:\n"
                               f"{output_tail(result.stdout, 40)}\n{output_tail(result.stderr, 40)}")
        return result

    def stop(self, timeout: float = 30.0) -> None:
        """Stop dockerd by its PID, then remove everything it kept, mounts included."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
            self._kill_own_containerd()
            remove_with_mounts(self.root)

    def _kill_own_containerd(self) -> None:
        """dockerd stops the containerd it started unless it was killed itself; this engine's one only."""
        pid_file = self.root / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(pid_file.read_text(encoding="utf-8").strip())
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if str(self.root).encode() in command_line:
            os.kill(pid, signal.SIGKILL)


def remove_with_mounts(directory: Path) -> None:
    """Unmount what is mounted under `directory`, then remove it: dockerd leaves its network namespace file (and,
    when killed, its data root) mounted, and an interrupted debootstrap its target's /proc and /sys."""
    prefix = f"{directory}/"
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        mount_points = [line.split()[4] for line in mountinfo]
    for mount_point in sorted((point for point in mount_points if point.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "--lazy", mount_point], check=False, capture_output=True)
    shutil.rmtree(directory)


def run_logged(command: list[str], log_file: Path, timeout: float) -> None:
    """Run `command` with its output in `log_file`; a failure raises with the output's tail."""
    with log_file.open("ab") as log:
        try:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=timeout,
                           env={**os.environ, "PATH": tool_path()})
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            raise EngineUnavailable(f"`{' '.join(command)}` failed:\n"
                                    f"{output_tail(log_file.read_text(errors='replace'))}") from error


def make_python_root_filesystem(root_filesystem: Path, mirror: str | None = None, timeout: float = 600.0) -> None:
    """Debian bookworm's minimal system with Python, shaped like the official slim Python image: a venv first on
    PATH gives `python` and `pip`, and pip trusts this machine's CA bundle."""
    log_file = root_filesystem.parent / f"{root_filesystem.name}.log"
    run_logged(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", BASE_SUITE,
                str(root_filesystem), mirror or debian_mirror()], log_file, timeout)
    run_logged(["chroot", str(root_filesystem), "python3", "-m", "venv", BASE_VENV], log_file, timeout)
    for trimmed in BASE_TRIMMED:
        for entry in (root_filesystem / trimmed).glob("*"):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    shutil.copyfile(HOST_CA_BUNDLE, root_filesystem / HOST_CA_BUNDLE.relative_to("/"))
    (root_filesystem / "etc" / "pip.conf").write_text(f"[global]\ncert = {HOST_CA_BUNDLE}\n", encoding="utf-8")


def import_root_filesystem(engine: DockerEngine, root_filesystem: Path, tag: str) -> None:
    """`tar | docker import` with the image settings the official Python image has."""
    changes = [f"ENV PATH={BASE_VENV}/bin:{SYSTEM_PATH}", "ENV LANG=C.UTF-8", 'CMD ["python"]']
    tar = subprocess.Popen(["tar", "-C", str(root_filesystem), "-c", "."], stdout=subprocess.PIPE)
    try:
        imported = subprocess.run([engine.client, "import", *(f"--change={change}" for change in changes), "-", tag],
                                  stdin=tar.stdout, env=engine.env(), capture_output=True, text=True, timeout=300)
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
    if imported.returncode != 0 or tar.returncode != 0:
        raise RuntimeError(f"importing {root_filesystem} as {tag} failed (tar {tar.returncode}, "
                           f"docker {imported.returncode}):\n{output_tail(imported.stderr)}")


def build_base_image(engine: DockerEngine, work_dir: Path, tag: str = BASE_IMAGE, mirror: str | None = None,
                     ) -> str:
    """A stand-in for `python:3.11-slim-bookworm`, made from Debian's packages; returns its tag."""
    root_filesystem = work_dir / "base-rootfs"
    try:
        make_python_root_filesystem(root_filesystem, mirror)
        import_root_filesystem(engine, root_filesystem, tag)
    finally:
        if root_filesystem.exists():
            remove_with_mounts(root_filesystem)
    return tag


def build_project_image(engine: DockerEngine, tag: str, base_image: str = BASE_IMAGE, context: Path = ROOT,
                        timeout: float = 900.0) -> str:
    """The project's Dockerfile built on `base_image`; its RUN steps reach PyPI through the host network."""
    progress = ["--progress=plain"] if engine.buildkit else []
    engine.docker("build", *progress, "--build-arg", f"BASE_IMAGE={base_image}", "--network", "host", "--tag", tag,
                  str(context), timeout=timeout)
    return tag
