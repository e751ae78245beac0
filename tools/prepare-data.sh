#!/bin/sh
# Public purchase data to gptrec's histories form (README "How good are the suggestions",
# docs/FORMATS.md "Preparing public data"):
#   tools/prepare-data.sh online-retail "Online Retail.csv"[.gz] histories.jsonl[.gz]
#   tools/prepare-data.sh sequences Toys_and_Games.txt histories.jsonl[.gz]
# Needs only Python 3's standard library (Debian's /usr/bin/python3 when present).
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3
exec "$python" "$(dirname "$0")/prepare_data.py" "$@"
