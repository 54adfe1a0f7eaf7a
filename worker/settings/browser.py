"""Browser scans: Chromium's container, its limits, its warm containers, the artifact store."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class BrowserSettings(BaseSettings):
    """Browser scans."""

    #: Image browser scans (``--mode browser``) run: Chromium driven by Playwright.
    browser_image: str = "scanbox-browser:latest"
    #: Deadline (ms) of a browser container, start to exit; the capture gets this less 5 s.
    browser_timeout_ms: int = Field(default=60_000, ge=10_000)
    #: Memory limit (MiB, swap included) of a browser container.
    browser_memory_limit_mb: int = Field(default=1536, ge=256)
    #: CPUs a browser container may use, on average.
    browser_cpu_limit: float = Field(default=1.0, gt=0)
    #: Processes and threads a browser container may have (Chromium makes many).
    browser_pids_limit: int = Field(default=256, ge=64)
    #: Size (MiB) of a browser container's ``/tmp``; its ``HOME`` gets a quarter of it.
    browser_tmpfs_mb: int = Field(default=256, ge=16)
    #: Largest output (report and artifacts, bytes) the worker reads from a browser container.
    browser_output_limit_bytes: int = Field(default=80 * 1024 * 1024, ge=1024 * 1024)
    #: Browser containers each worker process keeps started, Chromium launched and waiting
    #: for its URL (each still runs one capture, then goes); 0: each capture starts cold.
    browser_standby_containers: int = Field(default=0, ge=0, le=8)
    #: Directory of the artifact store (screenshots, DOMs, HARs, favicons by sha256), shared
    #: by every replica that scans in browser mode and every process that serves artifacts.
    artifact_dir: str = "./artifacts"
