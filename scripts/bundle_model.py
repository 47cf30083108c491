"""Copy a trained model folder into ``models/`` as a bundled model (fp16 shards, packaged text encoder).

    python scripts/bundle_model.py /tmp/drums_model models/stemgen-drums --license CC-BY-NC-SA-4.0

Prints the written files and their sizes as one JSON object. The model card (``README.md``) that
``save_pretrained`` writes is a generic one: replace it with the full card (data, licenses,
training, evaluation, limits) before committing.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    from stemgen.pipelines.bundle import DEFAULT_MAX_SHARD, export_bundled

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="trained model folder (stemgen train --out)")
    parser.add_argument("dest", help="bundled model folder, e.g. models/stemgen-drums")
    parser.add_argument("--license", default=None, help="license id of the weights (default: as trained)")
    parser.add_argument("--max-shard-size", default=DEFAULT_MAX_SHARD)
    args = parser.parse_args(argv)
    metadata = {"license": args.license} if args.license else None
    files = export_bundled(args.src, args.dest, max_shard_size=args.max_shard_size, metadata=metadata)
    print(json.dumps({"dest": args.dest, "files": files, "total_bytes": sum(files.values())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
