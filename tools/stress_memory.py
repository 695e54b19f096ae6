"""Peak server memory for the uploads that decode to huge images, sent alone and four at once.

    python -m tools.stress_memory            # starts `python app.py` on a free loopback port and prints a table

Linux only: it reads the server's resident memory (VmRSS) and its peak (VmHWM) from /proc.
tests/e2e/test_memory.py runs the same measurement and fails above MAX_PEAK_RSS_MB.
"""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gradio_client import Client, handle_file

from tools.huge_images import PNG_MODES, SIDE, zero_png
from tools.served_app import ServedApp, served_app

MAX_PEAK_RSS_MB = 600
"""Issue 11: a handful of visitors must not be able to take a free Space (16 GB, shared) down."""
AT_ONCE = 4


def measure(app: ServedApp, files: dict[str, Path]) -> list[tuple[str, float, float]]:
    """[(case, peak server RSS, server RSS afterwards, in MB)] for each file alone and then AT_ONCE copies of it at once."""
    results = [("idle after startup", app.peak_rss_mb(), app.rss_mb())]

    def classify(path: Path) -> dict:
        return Client(app.url, verbose=False).predict(handle_file(str(path)), api_name="/classify")[0]

    for name, path in files.items():
        app.reset_peak()
        classify(path)
        results.append((f"{name}, alone", app.peak_rss_mb(), app.rss_mb()))
        app.reset_peak()
        with ThreadPoolExecutor(AT_ONCE) as pool:
            list(pool.map(classify, [path] * AT_ONCE))
        results.append((f"{name}, {AT_ONCE} at once", app.peak_rss_mb(), app.rss_mb()))
    return results


def write_files(folder: Path) -> dict[str, Path]:
    files = {}
    for mode in PNG_MODES:
        path = folder / f"zero-{mode.replace(' ', '-')}.png"
        path.write_bytes(zero_png(mode))
        files[f"{SIDE}x{SIDE} {mode} PNG ({path.stat().st_size // 1000} kB)"] = path
    return files


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        files = write_files(Path(folder))
        with served_app(Path(folder)) as app:
            results = measure(app, files)
    print("| case | peak server RSS | server RSS after |\n|---|---:|---:|")
    for case, peak, after in results:
        print(f"| {case} | {peak:.0f} MB | {after:.0f} MB |")
    worst = max(peak for _, peak, _ in results)
    print(f"\nworst peak {worst:.0f} MB; limit {MAX_PEAK_RSS_MB} MB: {'OK' if worst < MAX_PEAK_RSS_MB else 'OVER'}")


if __name__ == "__main__":
    main()
