#!/usr/bin/env python3
"""The fleet analysis on Spark: the repository's SQL (sql/*.sql, the same files DuckDB and
DataFusion run) over the datasets of many sensors, written as the fleet JSON document
(v6watch.fleet/1) that `v6watch report --fleet FILE` renders.

Given datasets (the folder `v6watch export -o` wrote, any number of sensors in it):

    spark-submit jobs/spark/fleet.py --datasets DIR -o fleet.json

Given captures instead (one folder per sensor: CAPTURES/SENSOR/*.pcap*), each sensor's files
go to an executor that runs `v6watch export` on them (the binary shipped with the job), and
the analysis runs on what they wrote; DIR must be a folder every executor can write to (a
shared file system):

    spark-submit jobs/spark/fleet.py --captures CAPTURES --v6watch PATH --datasets DIR -o fleet.json

`python3 jobs/spark/fleet.py ...` runs the same job on a local Spark (`--master local[2]`).
"""

import argparse
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "sql"))
import fleet  # noqa: E402  (the SQL files and the JSON document, shared with DuckDB and DataFusion)


def export_sensor(item):
    """On an executor: one sensor's captures into the shared dataset folder."""
    from pyspark import SparkFiles

    sensor, files, out, binary, extra = item
    exe = binary if os.path.isabs(binary) and os.path.exists(binary) else SparkFiles.get(os.path.basename(binary))
    cmd = [exe, "export", "--no-progress", "-o", out, "--sensor", f"{sensor}=*", *extra, *files]
    r = subprocess.run(cmd, capture_output=True, text=True)
    # Exit 2 with a complete export is a capture damaged part-way: what was read is kept.
    return (sensor, r.returncode, r.stderr.strip()[-2000:])


def sensors_of(captures):
    """(sensor, its capture files) per sub-folder of `captures`."""
    out = []
    for d in sorted(pathlib.Path(captures).iterdir()):
        if d.is_dir():
            files = sorted(str(f) for f in d.iterdir() if f.is_file() and not f.name.startswith("."))
            if files:
                out.append((d.name, files))
    if not out:
        raise SystemExit(f"{captures}: no sensor folders with captures (want CAPTURES/SENSOR/FILE)")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", required=True, help="the datasets folder (read; written first with --captures)")
    p.add_argument("--captures", help="a folder of sensor folders of captures to export first, on the executors")
    p.add_argument("--v6watch", default="v6watch", help="the v6watch binary shipped to the executors")
    p.add_argument("--export-arg", action="append", default=[], help="an argument for `v6watch export` (repeatable)")
    p.add_argument("--master", default=None, help="Spark master when not run by spark-submit (default local[2])")
    p.add_argument("-o", "--out", default="-", help="JSON file to write (default: standard output)")
    a = p.parse_args(argv)

    from pyspark.sql import SparkSession

    b = (
        SparkSession.builder.appName("v6watch-fleet")
        # Times in UTC; partition values as text, as every engine reads them.
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.ui.enabled", "false")
    )
    if a.master or "SPARK_HOME" not in os.environ or not os.environ.get("PYSPARK_SUBMIT_ARGS"):
        b = b.master(a.master or "local[2]")
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        if a.captures:
            out = str(pathlib.Path(a.datasets).resolve())
            os.makedirs(out, exist_ok=True)
            if not os.path.isabs(a.v6watch) or not os.path.exists(a.v6watch):
                raise SystemExit(f"--v6watch {a.v6watch}: give the path of the binary to ship")
            spark.sparkContext.addFile(a.v6watch)
            items = [(s, f, out, a.v6watch, a.export_arg) for s, f in sensors_of(a.captures)]
            done = spark.sparkContext.parallelize(items, len(items)).map(export_sensor).collect()
            for sensor, code, err in done:
                if code not in (0, 2) or not (pathlib.Path(out) / "flows").is_dir():
                    raise SystemExit(f"v6watch export of sensor {sensor} failed ({code}): {err}")
                if code == 2:
                    print(f"fleet: sensor {sensor}: {err}", file=sys.stderr)
        for name, (kind, path) in fleet.tables(a.datasets).items():
            if kind == "empty":
                spark.read.parquet(str(path)).createOrReplaceTempView(f"{name}_schema")
                spark.sql(f"{fleet.EMPTY}{name}_schema").createOrReplaceTempView(name)
                continue
            spark.read.option("basePath", str(path)).parquet(str(path)).createOrReplaceTempView(name)
        results = [(q, fleet.rows_of(spark.sql(sql).toArrow())) for q, sql in fleet.queries()]
    finally:
        spark.stop()
    fleet.write(fleet.document("spark", [a.datasets], results), a.out)


if __name__ == "__main__":
    main()
