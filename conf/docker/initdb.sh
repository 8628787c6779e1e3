#!/bin/sh
# PostgreSQL container first start (docker-compose.yml): the audit schema
# from conf/sql/, then the password of octopus_app from its secret (psql
# quotes it: variables are interpolated in script input, not in -c).
set -eu
for f in /docker-entrypoint-initdb.d/sql/*.sql; do
    psql -v ON_ERROR_STOP=1 -U postgres -d octopus -f "$f"
done
echo "ALTER ROLE octopus_app PASSWORD :'pw';" \
    | psql -v ON_ERROR_STOP=1 -U postgres -d octopus \
           -v pw="$(cat /run/secrets/pg.pass)"
