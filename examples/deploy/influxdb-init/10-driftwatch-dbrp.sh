#!/bin/sh
# Run once by the influxdb:2 image after its initial setup (files in /docker-entrypoint-initdb.d).
# driftwatch writes with the v2 API but reads with InfluxQL (checks, Grafana): InfluxQL on 2.x goes
# through the v1-compatible /query, which needs the bucket mapped to a database and retention
# policy (DBRP). The CLI here is already configured by the setup step; org and token are passed
# explicitly anyway so the script does not depend on that.
set -eu
org="${DOCKER_INFLUXDB_INIT_ORG}"
bucket="${DOCKER_INFLUXDB_INIT_BUCKET}"
token="${DOCKER_INFLUXDB_INIT_ADMIN_TOKEN}"
bucket_id="$(influx bucket list --org "$org" --name "$bucket" --token "$token" --hide-headers | cut -f1)"
# database "driftwatch" = store.influxdb.database in config/compose.yaml and the Grafana data source
influx v1 dbrp create --org "$org" --token "$token" --db driftwatch --rp autogen --bucket-id "$bucket_id" --default
echo "driftwatch: bucket $bucket ($bucket_id) mapped to database driftwatch / rp autogen for InfluxQL"
