"""Stage 6, publish: upload a model bundle to the Hugging Face Hub.

    python -m training.publish --bundle runs/efficientnet_lite0/bundle --repo-id you/ham10000-efficientnet-lite0 --dry-run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, ModelCard, get_token
from huggingface_hub.errors import HfHubHTTPError

from lesion.bundle import CONFIG_FILE, MODEL_FILE, load_bundle

CARD_FILE = "README.md"
UPLOADED = (MODEL_FILE, CONFIG_FILE, CARD_FILE, "split.json", "training_args.json", "eval_results.json", "comparison.md", "*.png",
            f"browser/{MODEL_FILE}", f"browser/{CONFIG_FILE}")
"""What a bundle publishes: the model, its config and card, the split, the training options, the numbers, the plots and
the browser variant."""


class PublishError(RuntimeError):
    """Publishing cannot go ahead; the message says what to do."""


def files_to_upload(bundle_dir: Path) -> list[Path]:
    """Check the bundle and list exactly the files that would be uploaded.

    Raises:
        lesion.bundle.InvalidBundleError: the model and config do not match.
        PublishError: the model card is missing or lacks the required metadata.
    """
    load_bundle(bundle_dir)
    card_path = bundle_dir / CARD_FILE
    if not card_path.is_file():
        raise PublishError(f"{bundle_dir} has no model card {CARD_FILE}; run training.train to write one")
    card = ModelCard.load(card_path)
    for key in ("license", "pipeline_tag", "datasets"):
        if not getattr(card.data, key, None):
            raise PublishError(f"{card_path} has no `{key}` in its metadata")
    return sorted({path for pattern in UPLOADED for path in bundle_dir.glob(pattern) if path.is_file()})


def upload(folder: Path, repo_id: str, *, repo_type: str, token: str | None, commit_message: str,
           allow_patterns: list[str] | None = None, **create_options) -> str:
    """Create the repo if needed and upload the folder in one commit; return the commit URL.

    Raises:
        PublishError: no token, or the Hub cannot be reached or refuses.
    """
    token = token or get_token()
    if not token:
        raise PublishError("No Hugging Face token: run `hf auth login` or set HF_TOKEN, then try again.")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type=repo_type, exist_ok=True, **create_options)
        commit = api.upload_folder(repo_id=repo_id, repo_type=repo_type, folder_path=folder, allow_patterns=allow_patterns,
                                   commit_message=commit_message)
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as error:
        raise PublishError(f"Could not publish to the Hub ({type(error).__name__}: {error}); check the network and the token.") from None
    return commit.commit_url


def publish(bundle_dir: Path, repo_id: str, *, private: bool = False, token: str | None = None, dry_run: bool = False) -> str | None:
    """Check the bundle and upload exactly its published files to a model repo; return the commit URL.

    Raises:
        PublishError: no token, or the Hub cannot be reached or refuses.
    """
    files = files_to_upload(bundle_dir)
    for path in files:
        print(f"{'would upload' if dry_run else 'uploading'} {path.relative_to(bundle_dir).as_posix():24s} {path.stat().st_size / 1e6:8.2f} MB -> {repo_id}")
    if dry_run:
        return None
    return upload(bundle_dir, repo_id, repo_type="model", token=token, private=private,
                  allow_patterns=[path.relative_to(bundle_dir).as_posix() for path in files], commit_message=f"Upload {load_bundle(bundle_dir).version}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True, help="The bundle folder written by training.train.")
    parser.add_argument("--repo-id", required=True, help="Hub model repo, for example you/ham10000-efficientnet-lite0.")
    parser.add_argument("--private", action="store_true", help="Create the repo as private.")
    parser.add_argument("--token", help="Hub token; default: HF_TOKEN or the one saved by `hf auth login`.")
    parser.add_argument("--dry-run", action="store_true", help="Check the bundle and list what would be uploaded; upload nothing.")
    args = parser.parse_args(argv)
    try:
        url = publish(args.bundle, args.repo_id, private=args.private, token=args.token, dry_run=args.dry_run)
    except (PublishError, ValueError) as error:
        sys.exit(f"error: {error}")
    if url:
        print(f"published: {url}")


if __name__ == "__main__":
    main()
