#!/usr/bin/env python3
"""Builds v6watch's IEEE registry snapshot (MA-L, MA-M, MA-S) from the CSV files the IEEE
publishes (https://standards-oui.ieee.org/oui/oui.csv, .../oui28/mam.csv, .../oui36/oui36.csv)
or Debian's ieee-data package (/usr/share/ieee-data/{oui,mam,oui36}.csv).

Usage: python3 scripts/oui-snapshot.py DIR_WITH_CSVS crates/engine/data/oui.tsv.gz
Output: gzip of "HEXPREFIX<TAB>Organization" lines (6, 7 or 9 hex digits), sorted; the first
line is "#date<TAB>YYYYMMDD" when DIR has ieee-data's .lastupdate.
"""
import csv, gzip, os, sys

src, out = sys.argv[1], sys.argv[2]
rows = {}
for name in ("oui.csv", "mam.csv", "oui36.csv"):
    with open(os.path.join(src, name), newline="", encoding="utf-8", errors="replace") as f:
        r = csv.reader(f)
        next(r)  # header: Registry,Assignment,Organization Name,Organization Address
        for row in r:
            if len(row) < 3:
                continue
            prefix = row[1].strip().upper()
            org = " ".join(row[2].split())
            if prefix and all(c in "0123456789ABCDEF" for c in prefix):
                rows[prefix] = org
date = ""
lu = os.path.join(src, ".lastupdate")
if os.path.exists(lu):
    date = open(lu).read().strip()
with gzip.open(out, "wt", encoding="utf-8", compresslevel=9) as g:
    g.write(f"#date\t{date}\n")
    for k in sorted(rows):
        g.write(f"{k}\t{rows[k]}\n")
print(f"{out}: {len(rows)} assignments, date {date or 'unknown'}")
