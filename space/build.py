"""Assemble exactly what the Space needs into a folder, and optionally push it.

    python -m space.build space-build --dry-run
    python -m space.build space-build --push your-name/skin-lesion-classifier
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

from lesion.hub import REPO_ENV, REVISION_ENV
from lesion.private_mode import PrivateModeUnavailable, check_runtime
from training.publish import PublishError, upload

ROOT = Path(__file__).resolve().parents[1]
CARD = Path(__file__).parent / "README.md"
INCLUDED = (
    "app.py",
    "lesion/*.py",
    "lesion/web/*",  # private mode's code in the browser, and LiteRT.js's licence (Apache-2.0)
    "lesion/bundled_model/*",
    "lesion/bundled_model/browser/*",
    "examples/*",
    "examples/thumbnails/*",  # the gallery's (lesion.thumbnails)
)
"""Repository paths (globs) that go into the Space, besides the Space card that becomes its README.md, the lock that
becomes its requirements.txt, and LiteRT.js."""
LOCK = ROOT / "requirements.lock"
"""The app's whole environment, pinned with hashes (made from requirements.txt: gradio, LiteRT, Pillow, NumPy; no
TensorFlow). The Space installs it as its requirements.txt; pip checks every hash."""
RUNTIME_LEFTOVERS = {"app.pyi", "__pycache__", ".gradio", "flagged"}
"""What running the app in a built folder may leave there."""


def space_files(root: Path = ROOT) -> dict[str, Path]:
    """{path in the Space: source file}, sorted. LiteRT.js, which private mode serves to browsers, comes from
    node_modules/ (`npm ci`), checked against its pinned sha256, to the same place in the Space.

    Raises:
        FileNotFoundError: a pattern matches nothing, or LiteRT.js is missing or not the pinned release.
    """
    files = {"README.md": CARD, "requirements.txt": root / LOCK.name}
    for pattern in INCLUDED:
        matches = sorted(path for path in root.glob(pattern) if path.is_file())
        if not matches:
            raise FileNotFoundError(f"nothing matches {pattern} under {root}")
        files.update({str(path.relative_to(root)): path for path in matches})
    try:
        runtime = check_runtime(root / "node_modules")
    except PrivateModeUnavailable as error:
        raise FileNotFoundError(f"the Space needs LiteRT.js for private mode: {error}") from None
    files.update({f"node_modules/{name}": path for name, path in runtime.items()})
    return dict(sorted(files.items()))


def build(out: Path, root: Path = ROOT) -> list[str]:
    """Copy the Space's files into out, replacing an earlier build there; return their paths.

    Raises:
        FileExistsError: out holds something other than an earlier build; nothing is deleted.
    """
    files = space_files(root)
    if out.exists():
        foreign = {path.name for path in out.iterdir()} - {name.split("/")[0] for name in files} - RUNTIME_LEFTOVERS
        if foreign:
            raise FileExistsError(f"{out} holds {sorted(foreign)}, not an earlier Space build; choose an empty or new folder")
        shutil.rmtree(out)
    for name, source in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, out / name)
    return list(files)


def push(out: Path, repo_id: str, *, model_repo: str | None, token: str | None, model_revision: str = "main") -> str:
    """Create the Space (sdk gradio) if needed, upload out in one commit, and point it at model_repo, pinned to the
    commit model_revision (a branch, tag or commit) names now: the Space then serves that model until it is pushed
    again, not whatever reaches the model repo's main later."""
    api = HfApi(token=token)
    commit = None
    if model_repo:  # resolved first: a wrong repo or revision leaves the Space as it was
        try:
            commit = api.model_info(model_repo, revision=model_revision).sha
        except (RepositoryNotFoundError, RevisionNotFoundError) as error:
            raise PublishError(f"no model {model_repo} at revision {model_revision!r}: {error}") from None
    url = upload(out, repo_id, repo_type="space", token=token, space_sdk="gradio", commit_message="Update the Space")
    if model_repo:
        api.add_space_variable(repo_id, REPO_ENV, model_repo)
        api.add_space_variable(repo_id, REVISION_ENV, commit)
        print(f"the Space serves {model_repo} at commit {commit}")
    return url


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="Folder to build the Space in (emptied first).")
    parser.add_argument("--push", metavar="REPO_ID", help="Upload the built folder to this Space, creating it if needed.")
    parser.add_argument("--model-repo", help=f"Hub model repo the Space serves (sets its {REPO_ENV} variable).")
    parser.add_argument("--model-revision", default="main",
                        help=f"Branch, tag or commit of --model-repo; the Space's {REVISION_ENV} is set to its commit now.")
    parser.add_argument("--token", help="Hub token; default: HF_TOKEN or the one saved by `hf auth login`.")
    parser.add_argument("--dry-run", action="store_true", help="List what would go into the Space; write nothing.")
    args = parser.parse_args(argv)
    if args.dry_run:
        for name, source in space_files().items():
            print(f"would include {name:40s} {source.stat().st_size / 1e3:9.1f} kB")
        return
    names = build(args.out)
    print(f"built {len(names)} files into {args.out}")
    if args.push:
        try:
            url = push(args.out, args.push, model_repo=args.model_repo, token=args.token, model_revision=args.model_revision)
            print(f"pushed: {url}")
        except PublishError as error:
            sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
