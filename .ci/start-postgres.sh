# Sourced by .ci/run (and usable by hand: `source .ci/start-postgres.sh`): starts a
# throw-away PostgreSQL cluster that listens on a Unix socket only, exports AUTOCSR_PG_URL
# for the autocsr-credential-postgres tests, and stops and removes it when the shell exits.
# Needs Debian's `postgresql` package; run as root (the server runs as the `postgres` user)
# or as any non-root user who may run initdb.

pg_bin=""
for candidate in /usr/lib/postgresql/*/bin; do
  [ -x "$candidate/initdb" ] && pg_bin="$candidate"
done
if [ -z "$pg_bin" ]; then
  pg_bin=$(dirname "$(command -v initdb)")
fi

pg_root=$(mktemp -d "${TMPDIR:-/tmp}/autocsr-pg.XXXXXX")
chmod 0755 "$pg_root"
pg_run=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$pg_root"
  pg_run=(runuser -u postgres --)
fi

stop_postgres() {
  "${pg_run[@]}" "$pg_bin/pg_ctl" -D "$pg_root/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_root"
}
trap stop_postgres EXIT

"${pg_run[@]}" "$pg_bin/initdb" -D "$pg_root/data" -U postgres --auth=trust \
  --no-instructions >/dev/null
# Trust on the private socket, except one role whose password is checked, so the tests can
# prove a wrong password is a clean error.
printf '%s\n' 'local all autocsr_password_check scram-sha-256' 'local all all trust' \
  >"$pg_root/data/pg_hba.conf"
# No TCP at all: the socket directory is private to this run.
"${pg_run[@]}" "$pg_bin/pg_ctl" -D "$pg_root/data" -l "$pg_root/server.log" -w \
  -o "-k $pg_root -c listen_addresses='' -c max_connections=200" start >/dev/null
"${pg_run[@]}" "$pg_bin/createdb" -h "$pg_root" -U postgres autocsr_test
export AUTOCSR_PG_URL="postgresql://postgres@$(printf %s "$pg_root" | sed 's|/|%2F|g')/autocsr_test"
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') at $AUTOCSR_PG_URL"
