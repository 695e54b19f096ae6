"""Many requests from several gradio_client clients at once, good and bad files mixed, against `python app.py`:
every answer compared with a single-threaded one, and the server's memory sampled as the requests go by.

    python -m tools.stress_load                       # 400 requests from 8 clients (tests/e2e/test_load.py sends 800)
    python -m tools.stress_load --requests 4000       # does memory level off?

Linux only (memory from /proc).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app
from tools import bad_images
from tools.served_app import ServedApp, served_app

CLIENTS = 8
REQUESTS = 400
SAMPLE_EVERY = 50


@dataclass(frozen=True)
class Upload:
    path: Path
    refusal: str | None = None
    """A phrase the error message must contain; None for a file that is classified."""


@dataclass
class LoadResult:
    wrong: list[str] = field(default_factory=list)
    """What differed from the single-threaded answer, one line per request."""
    rss_mb: list[tuple[int, float]] = field(default_factory=list)
    """(requests done, server RSS in MB), every SAMPLE_EVERY requests."""


def write_uploads(folder: Path) -> list[Upload]:
    """The 21 examples, the awkward files that are converted and the bad files that are refused."""
    uploads = [Upload(Path(path)) for path, _ in app.load_examples()]
    for table, refused in ((bad_images.ACCEPTED, False), (bad_images.REFUSED, True)):
        for name, (content, phrase) in table.items():
            path = folder / (re.sub(r"\W+", "_", name) + bad_images.suffix_for(content))
            path.write_bytes(content)
            uploads.append(Upload(path, phrase if refused else None))
    return uploads


def ask(client: Client, upload: Upload) -> str:
    """The answer as one comparable line: every probability exactly, or the refusal."""
    try:
        result = client.predict(handle_file(str(upload.path)), api_name="/classify")[0]
    except AppError as error:
        return f"refused: {error}"
    return f"{result['probabilities']} {result['notes']}"


def run_load(server: ServedApp, uploads: list[Upload], requests: int = REQUESTS, clients: int = CLIENTS) -> LoadResult:
    """requests /classify calls spread over clients threads, each with its own Client."""
    reference_client = Client(server.url, verbose=False)
    expected = {upload.path: ask(reference_client, upload) for upload in uploads}
    for upload in uploads:
        answer = expected[upload.path]
        if (upload.refusal is None) == answer.startswith("refused") or (upload.refusal and upload.refusal not in answer):
            raise AssertionError(f"{upload.path.name}: unexpected single-threaded answer {answer}")
    result, done, lock = LoadResult(), [0], threading.Lock()

    def worker(index: int) -> None:
        client = Client(server.url, verbose=False)
        for n in range(index, requests, clients):
            upload = uploads[(n * 7) % len(uploads)]  # each client walks the files in its own order
            answer = ask(client, upload)
            with lock:
                if answer != expected[upload.path]:
                    result.wrong.append(f"{upload.path.name}: {answer[:200]} != {expected[upload.path][:200]}")
                done[0] += 1
                if done[0] % SAMPLE_EVERY == 0:
                    result.rss_mb.append((done[0], server.rss_mb()))

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        uploads = write_uploads(Path(folder))
        with served_app(Path(folder)) as server:
            print(f"server RSS after startup: {server.rss_mb():.0f} MB")
            result = run_load(server, uploads, args.requests, args.clients)
            alive = server.alive()
    print("| requests done | server RSS |\n|---:|---:|")
    for count, rss in result.rss_mb:
        print(f"| {count} | {rss:.0f} MB |")
    print(f"\n{args.requests} requests from {args.clients} clients: {len(result.wrong)} answers differed from the "
          f"single-threaded ones; server {'alive' if alive else 'DOWN'}")
    for line in result.wrong[:10]:
        print("  " + line)


if __name__ == "__main__":
    main()
