"""dlt's working dir belongs to one warehouse: pending packages made for another one are never loaded here.

The working dir records the destination it was last used with. When the configuration points the
pipeline at another warehouse, the data still pending for the old one is set aside (not loaded, not
deleted) and the local state is dropped, so dlt takes the schema from the new warehouse; packages set
aside earlier for the new warehouse come back and load first. Everything here is private: created
0700, files 0600 (the CLI runs with umask 077).
"""

import hashlib
import logging
import os
import shutil
from pathlib import Path

logger = logging.getLogger("bgv")
DESTINATION_FILE = "bgv_destination.txt"
# Where dlt keeps packages that are not loaded yet, relative to the working dir.
PENDING_STAGES = ("normalize/extracted", "load/new", "load/normalized")
# A package that finishes loading moves here; dlt creates these folders only when a step first runs.
LOADED_STAGE = "load/loaded"
STAGE_FOLDERS = (*PENDING_STAGES, LOADED_STAGE)
# dlt extracts into a folder of its own beside this one and moves the package here when the extract completes.
EXTRACTED_STAGE = "normalize/extracted"


def set_aside_dir(working_dir: Path, destination: str) -> Path:
    """Where packages made for `destination` wait while the working dir serves another warehouse."""
    digest = hashlib.sha256(destination.encode()).hexdigest()[:16]
    return working_dir.parent / f"{working_dir.name}.set_aside" / digest


def bound_destination(working_dir: Path) -> str | None:
    try:
        return (working_dir / DESTINATION_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def pending_packages(working_dir: Path) -> list[Path]:
    packages = []
    for stage in PENDING_STAGES:
        folder = working_dir / stage
        if folder.is_dir():
            packages.extend(sorted(path for path in folder.iterdir() if path.is_dir()))
    return packages


def set_aside_for_another_warehouse(working_dir: Path, destination: str) -> list[str]:
    """When `working_dir` last served another warehouse: move its pending packages aside, drop the rest.

    dlt then creates a fresh working dir, whose schema comes from `destination`. Returns lines for the log.
    """
    for folder in (working_dir.parent, working_dir):
        if folder.is_dir() and folder.stat().st_mode & 0o077:
            os.chmod(folder, 0o700)
    previous = bound_destination(working_dir)
    if previous is None or previous == destination:
        return []
    notes = []
    pending = pending_packages(working_dir)
    if pending:
        target = set_aside_dir(working_dir, previous)
        for package in pending:
            stage = package.parent.relative_to(working_dir)
            (target / stage).mkdir(parents=True, exist_ok=True)
            shutil.move(str(package), str(target / stage / package.name))
        notes.append(
            f"the dlt working dir {working_dir} held {len(pending)} pending load package(s) made for another "
            f"warehouse ({previous}); they were not loaded here and wait in {target} for that warehouse"
        )
    shutil.rmtree(working_dir)
    return notes


def bring_back(working_dir: Path, destination: str) -> list[str]:
    """Packages set aside earlier for `destination` go back to the working dir and load first."""
    returning = set_aside_dir(working_dir, destination)
    if not returning.is_dir():
        return []
    for stage in STAGE_FOLDERS:
        (working_dir / stage).mkdir(parents=True, exist_ok=True)
    count = 0
    for stage in PENDING_STAGES:
        folder = returning / stage
        if folder.is_dir():
            for package in folder.iterdir():
                shutil.move(str(package), str(working_dir / stage / package.name))
                count += 1
    shutil.rmtree(returning)
    return [f"{count} load package(s) set aside earlier for this warehouse are back and load first"] if count else []


def record_binding(working_dir: Path, destination: str) -> None:
    """Write down which warehouse the working dir serves (dlt may have wiped the working dir meanwhile)."""
    working_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if bound_destination(working_dir) != destination:
        (working_dir / DESTINATION_FILE).write_text(destination + "\n", encoding="utf-8")


def remove_loaded_packages(working_dir: Path) -> int:
    """Delete the packages dlt keeps after loading them (or discarding them): each holds report rows,
    and one is left per run. Returns how many were removed."""
    return _remove_folders_in(working_dir / LOADED_STAGE)


def remove_abandoned_extracts(working_dir: Path) -> int:
    """Delete what extracts that never completed (a full disk, a crash) left beside the extracted packages.

    Only while the run lock is held: no extract of another process can be in flight.
    """
    extracted = working_dir / EXTRACTED_STAGE
    if not extracted.parent.is_dir():
        return 0
    abandoned = [path for path in extracted.parent.iterdir() if path.is_dir() and path != extracted]
    for folder in abandoned:
        shutil.rmtree(folder)
    return len(abandoned)


def _remove_folders_in(folder: Path) -> int:
    packages = [path for path in folder.iterdir() if path.is_dir()] if folder.is_dir() else []
    for package in packages:
        shutil.rmtree(package)
    return len(packages)
