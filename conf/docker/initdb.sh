#!/bin/sh
# PostgreSQL container first start (docker-compose.yml): the audit schema
# from conf/sql/, then the password of octopus_app from its secret (psql
# quotes it: variables are interpolated in script input, not in -c).  The
# secret belongs to nginx's uid 1001: docker-compose.yml's entrypoint reads
# it as root into OCTOPUS_APP_PASSWORD before the server drops to postgres.
set -eu
for f in /docker-entrypoint-initdb.d/sql/*.sql; do
    psql -v ON_ERROR_STOP=1 -U postgres -d octopus -f "$f"
done
echo "ALTER ROLE octopus_app PASSWORD :'pw';" \
    | psql -v ON_ERROR_STOP=1 -U postgres -d octopus \
           -v pw="${OCTOPUS_APP_PASSWORD:-$(cat /run/secrets/pg.pass)}"
