"""Assemble exactly what the Space needs into a folder, and optionally push it.

    python -m space.build space-build --dry-run
    python -m space.build space-build --push your-name/skin-lesion-classifier
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError

from lesion.hub import REPO_ENV

ROOT = Path(__file__).resolve().parents[1]
CARD = Path(__file__).parent / "README.md"
INCLUDED = (
    "app.py",
    "requirements.txt",  # the app's own: gradio, LiteRT, Pillow, NumPy; no TensorFlow
    "lesion/*.py",
    "lesion/bundled_model/*",
    "examples/*",
)
"""Repository paths (globs) that go into the Space, besides the Space card that becomes its README.md."""


def space_files(root: Path = ROOT) -> dict[str, Path]:
    """{path in the Space: source file}, sorted."""
    files = {"README.md": CARD}
    for pattern in INCLUDED:
        matches = sorted(path for path in root.glob(pattern) if path.is_file())
        if not matches:
            raise FileNotFoundError(f"nothing matches {pattern} under {root}")
        files.update({str(path.relative_to(root)): path for path in matches})
    return dict(sorted(files.items()))


def build(out: Path, root: Path = ROOT) -> list[str]:
    """Copy the Space's files into out (emptied first); return their paths."""
    files = space_files(root)
    if out.exists():
        shutil.rmtree(out)
    for name, source in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, out / name)
    return list(files)


def push(out: Path, repo_id: str, *, model_repo: str | None, token: str | None) -> str:
    """Create the Space (sdk gradio) if needed and upload out in one commit; return the commit URL."""
    token = token or get_token()
    if not token:
        raise RuntimeError("No Hugging Face token: run `hf auth login` or set HF_TOKEN, then push again.")
    api = HfApi(token=token)
    variables = [{"key": REPO_ENV, "value": model_repo}] if model_repo else None
    try:
        api.create_repo(repo_id, repo_type="space", space_sdk="gradio", space_variables=variables, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=out, commit_message="Update the Space")
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as error:
        raise RuntimeError(f"Could not push the Space ({type(error).__name__}: {error}); check the network and the token.") from None
    return commit.commit_url


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="Folder to build the Space in (emptied first).")
    parser.add_argument("--push", metavar="REPO_ID", help="Upload the built folder to this Space, creating it if needed.")
    parser.add_argument("--model-repo", help=f"Hub model repo the Space serves (sets its {REPO_ENV} variable).")
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
            print(f"pushed: {push(args.out, args.push, model_repo=args.model_repo, token=args.token)}")
        except RuntimeError as error:
            sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
