#!/usr/bin/env python3
"""The fleet analysis: the SQL files beside this one, run on v6watch datasets by DuckDB or
DataFusion (the Spark job in jobs/spark/ runs the same files on Spark), written as one JSON
document (schema v6watch.fleet/1) that `v6watch report --fleet FILE` renders as HTML.

Each query refers to the datasets as tables named after their folders (flows, dns, http, tls,
smtp, attempts, findings); the runner registers each folder of DIR as a view, with the Hive
partitions `sensor` and `date` as text columns.

    python3 sql/fleet.py --engine duckdb DIR -o fleet.json
"""

import argparse
import datetime
import decimal
import json
import math
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
SCHEMA = "v6watch.fleet/1"
QUERIES = ["timeline", "health", "moved", "peers"]
TABLES = ["flows", "dns", "http", "tls", "smtp", "attempts", "findings"]


def queries():
    """Each query's name and text, in report order."""
    return [(q, (HERE / f"{q}.sql").read_text()) for q in QUERIES]


def tables(root):
    """Each table's source in `root`, by name: ("parts", its folder) when sensors wrote parts
    into it, else ("empty", the file of no rows that gives its columns, _schema/NAME.parquet),
    so that a query over a table no sensor filled returns no rows instead of failing."""
    root = pathlib.Path(root)
    found = {}
    for t in TABLES:
        d = root / t
        if d.is_dir() and any(d.glob("sensor=*/date=*/*.parquet")):
            found[t] = ("parts", d)
        elif (root / "_schema" / f"{t}.parquet").is_file():
            found[t] = ("empty", root / "_schema" / f"{t}.parquet")
    if "flows" not in found or "attempts" not in found:
        raise SystemExit(f"{root}: not a v6watch dataset (no flows/ and attempts/ written by `v6watch export`)")
    return found


# The partition columns an empty table is given, as the parts' paths give them.
EMPTY = "SELECT *, CAST(NULL AS STRING) AS sensor, CAST(NULL AS STRING) AS date FROM "


def value(v):
    """A result value as JSON: times as ISO 8601 UTC, decimals as numbers."""
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def rows_of(table):
    """A pyarrow table's rows as JSON-ready dicts."""
    return [{k: value(v) for k, v in r.items()} for r in table.to_pylist()]


def document(engine, sources, results):
    return {
        "schema": SCHEMA,
        "engine": engine,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "datasets": [str(s) for s in sources],
        "queries": {name: rows for name, rows in results},
    }


def write(doc, out):
    """The document as JSON into `out` (`-`: standard output)."""
    text = json.dumps(doc, indent=1) + "\n"
    if out == "-":
        sys.stdout.write(text)
    else:
        pathlib.Path(out).write_text(text)


def run_duckdb(root):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, (kind, path) in tables(root).items():
        if kind == "empty":
            f = str(path).replace("'", "''")
            con.execute(f"CREATE VIEW {name} AS {EMPTY}read_parquet('{f}')")
            continue
        glob = str(path / "sensor=*" / "date=*" / "*.parquet").replace("'", "''")
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true, "
            "hive_types_autocast = false, union_by_name = true)"
        )
    return [(q, rows_of(con.sql(sql).to_arrow_table())) for q, sql in queries()]


def run_datafusion(root):
    import pyarrow as pa
    from datafusion import SessionContext

    ctx = SessionContext()
    for name, (kind, path) in tables(root).items():
        if kind == "empty":
            ctx.register_parquet(f"{name}_schema", str(path))
            ctx.register_view(name, ctx.sql(f"{EMPTY}{name}_schema"))
            continue
        ctx.register_parquet(
            name, str(path), table_partition_cols=[("sensor", pa.string()), ("date", pa.string())], file_extension=".parquet"
        )
    return [(q, rows_of(ctx.sql(sql).to_arrow_table())) for q, sql in queries()]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="the folder `v6watch export -o` wrote (any number of sensors)")
    p.add_argument("--engine", choices=["duckdb", "datafusion"], default="duckdb")
    p.add_argument("-o", "--out", default="-", help="JSON file to write (default: standard output)")
    a = p.parse_args(argv)
    run = run_duckdb if a.engine == "duckdb" else run_datafusion
    write(document(a.engine, [a.dataset], run(a.dataset)), a.out)


if __name__ == "__main__":
    main()
