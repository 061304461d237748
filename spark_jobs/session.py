"""The one SparkSession factory: local[*] when no master is configured (umair CLI, tests),
whatever spark-submit configured otherwise. Sessions are UTC and write standard timestamps.

A local session logs to a file: the JVM's log4j output (WARN and up) goes to
$UMAIR_LOG_DIR/spark.log (default .umair/logs), only errors reach the console, and Spark's
console progress bars are off (the jobs print their own progress)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pyspark import SparkConf
from pyspark.sql import SparkSession

LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
LOCAL_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "6g",
    "spark.sql.adaptive.enabled": "true",
}
ALWAYS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}


def submitted_master() -> str | None:
    """spark-submit's --master when spark-submit launched this process, else None.

    spark-submit starts the driver JVM first and hands its gateway port to Python; the settings it
    was given live in that JVM. A SparkConf made before connecting to it is an empty Python dict
    (`contains("spark.master")` is False even under `spark-submit --master spark://...`), which
    made every submitted job run in local mode on the driver.
    """
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        return None
    from pyspark import SparkContext

    SparkContext._ensure_initialized()  # connects to spark-submit's JVM (it is already running)
    return SparkConf().get("spark.master", None)


def get_spark(app_name: str, master: str | None = None, conf: dict[str, str] | None = None) -> SparkSession:
    """Return the active session or build one. `master` defaults to spark-submit's, else local[*]."""
    builder = SparkSession.builder.appName(app_name)
    options = dict(ALWAYS)
    if master or not submitted_master():
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = builder.master(master or "local[*]")
        for key, value in LOCAL_DEFAULTS.items():
            builder = builder.config(key, value)
        log_dir = Path(os.environ.get("UMAIR_LOG_DIR") or Path(".umair", "logs")).resolve()
        log_dir.mkdir(parents=True, exist_ok=True)
        options["spark.driver.extraJavaOptions"] += (
            f" -Dlog4j2.configurationFile=file:{LOG4J_CONFIG} -Dumair.log.dir={log_dir}"
        )
    for key, value in {**options, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def lake_job_parser(description: str, raw_help: str, lake_help: str, config_help: str) -> argparse.ArgumentParser:
    """The flags of a job from a landing zone into a lake (prep, ingest): --raw, --lake, --config, --master."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--raw", required=True, help=raw_help)
    p.add_argument("--lake", required=True, help=lake_help)
    p.add_argument("--config", default=None, help=config_help)
    p.add_argument("--master", default=None, help="Spark master (default: spark-submit's, else local[*])")
    return p


def start_lake_job(app: str, parser: argparse.ArgumentParser, argv: list[str] | None):
    """Parse `argv`, log INFO lines with times, load the prep settings, start Spark: (args, PrepConfig, session)."""
    import logging

    from spark_jobs.config import PrepConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parser.parse_args(argv)
    return args, PrepConfig.from_yaml(args.config), get_spark(app, args.master)
