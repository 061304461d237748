#!/usr/bin/env bash
# spark-submit wrapper for the data teams: packages spark_jobs (and umair_models, the Spark-free
# helpers it imports: storage locations, the dataset spec) as a zip for the executors and runs
# one job on a cluster (YARN / Kubernetes / standalone: whatever --master says).
#
#   deploy/spark/submit.sh build_datasets --raw /shared/raw --lake /shared/lake [--config deploy/configs/prep.yaml]
#   deploy/spark/submit.sh generate_site --size paper --out /shared/raw --no-images
#   deploy/spark/submit.sh featurize --config /shared/tables.yaml --lake /shared/lake
#   deploy/spark/submit.sh ingest --raw s3://landing/site --lake s3://lake/site   # the days that arrived
#
# s3:// locations are read and written through Python (pyarrow, delta-rs), not the JVM's S3 connector:
# the driver and every executor need AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (and
# AWS_ENDPOINT_URL, AWS_ALLOW_HTTP=true for an S3-protocol server over plain HTTP) in their environment,
# e.g. on the workers or through --conf spark.executorEnv.<NAME>=... in SPARK_CONF.
#
# Environment: SPARK_MASTER (default local[*]), SPARK_SUBMIT (default: the venv's spark-submit),
# SPARK_CONF (extra --conf flags, e.g. "--conf spark.executor.memory=8g"). Executors need Python 3.11
# with pyarrow, numpy, pandas, pillow, deltalake (e.g. ship .venv with --archives, see README).
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
job="${1:?usage: submit.sh <build_datasets|generate_site|featurize|ingest> [job flags]}"; shift
[ -f "$here/spark_jobs/$job.py" ] || { echo "no such job: spark_jobs/$job.py" >&2; exit 2; }
dist="$here/build/spark"
mkdir -p "$dist"
rm -f "$dist/umair_spark.zip"
(cd "$here" && python3 -m zipfile -c "$dist/umair_spark.zip" spark_jobs umair_models >/dev/null)
if [ -z "${SPARK_SUBMIT:-}" ]; then  # the pip-installed Spark in .venv: its python must come first on PATH
  SPARK_SUBMIT="$here/.venv/bin/spark-submit"
  export PATH="$here/.venv/bin:$PATH"
  export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$here/.venv/bin/python}"
fi
exec "$SPARK_SUBMIT" \
  --master "${SPARK_MASTER:-local[*]}" \
  --name "umair-$job" \
  --py-files "$dist/umair_spark.zip" \
  --conf spark.sql.session.timeZone=UTC \
  --conf spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS \
  --conf spark.sql.execution.arrow.pyspark.enabled=true \
  ${SPARK_CONF:-} \
  "$here/spark_jobs/$job.py" "$@"
