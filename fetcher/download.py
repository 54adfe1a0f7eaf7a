"""Whether a response is a file download, and whether that file could run on a victim's machine."""

from __future__ import annotations

from typing import NamedTuple

#: Media types of programs, installers, scripts and the archives they usually travel in.
EXECUTABLE_MEDIA_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-dosexec",
        "application/x-msdos-program",
        "application/vnd.microsoft.portable-executable",
        "application/x-executable",
        "application/x-elf",
        "application/x-mach-binary",
        "application/x-sh",
        "application/x-shellscript",
        "application/x-bat",
        "application/x-powershell",
        "application/java-archive",
        "application/x-java-archive",
        "application/vnd.android.package-archive",
        "application/x-msi",
        "application/x-ms-installer",
        "application/x-ole-storage",
        "application/x-apple-diskimage",
        "application/x-iso9660-image",
        "application/vnd.ms-cab-compressed",
        "application/zip",
        "application/x-zip-compressed",
        "application/x-rar-compressed",
        "application/vnd.rar",
        "application/x-7z-compressed",
        "application/x-tar",
        "application/gzip",
        "application/x-gzip",
        "application/x-bzip2",
        "application/x-xz",
        "application/hta",
    }
)

#: File name extensions of the same kinds of files, lower-case with the dot.
EXECUTABLE_EXTENSIONS = frozenset(
    {
        ".exe", ".scr", ".com", ".pif", ".cpl", ".dll", ".sys", ".msi", ".msp", ".msix",
        ".appx", ".bat", ".cmd", ".ps1", ".psm1", ".vbs", ".vbe", ".js", ".jse", ".wsf",
        ".wsh", ".hta", ".lnk", ".reg", ".jar", ".apk", ".xapk", ".dmg", ".pkg", ".app",
        ".iso", ".img", ".vhd", ".vhdx", ".zip", ".rar", ".7z", ".cab", ".tar", ".gz",
        ".tgz", ".bz2", ".xz", ".sh", ".run", ".bin", ".elf", ".deb", ".rpm", ".appimage",
    }
)  # fmt: skip

#: Leading bytes of Windows (MZ) and ELF executables.
EXECUTABLE_MAGIC = (b"MZ", b"\x7fELF")


class DownloadFacts(NamedTuple):
    """The report's ``download`` observation."""

    attachment: bool
    filename: str | None
    executable: bool


def judge_download(
    *, attachment: bool, filename: str | None, media_type: str | None, body_start: bytes
) -> DownloadFacts:
    """Decide whether the response is, or carries, something executable."""
    extension = _extension(filename)
    executable = (
        media_type in EXECUTABLE_MEDIA_TYPES
        or extension in EXECUTABLE_EXTENSIONS
        or body_start.startswith(EXECUTABLE_MAGIC)
    )
    return DownloadFacts(attachment=attachment, filename=filename, executable=executable)


def _extension(filename: str | None) -> str | None:
    if not filename:
        return None
    # Only the last path component counts; Windows and URL separators alike.
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip().rstrip(". ").lower()
    dot = name.rfind(".")
    return name[dot:] if dot > 0 else None
