#!/usr/bin/env bash
# The README's test command. Starts RabbitMQ and PostgreSQL (installing them when missing), installs
# Debian's chromium when missing (build/chromium.sh: the browser tests drive it; nothing downloads one), builds
# the solution (Release), checks formatting (dotnet format --verify-no-changes, counted as one test),
# packs the four packages into artifacts/packages (the packaging tests inspect them and build the
# newcomer's app test/Newcomer against them), runs every test project (extra arguments, e.g. --filter,
# go to dotnet test), prints one closing line "N passed, N failed, N skipped", exits non-zero on any
# failure, and stops the services it started.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

nodes=${PATTERNS_TEST_RABBIT_NODES:-3}
# Beside the independent nodes, a RabbitMQ cluster of 3 (quorum queues; the cluster fault tests kill its nodes).
cluster=3
results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

started_here=0
stop_services() {
  if [ "$started_here" = 1 ]; then
    echo "== stopping the services this run started" >&2
    build/services.sh stop >&2 || true
  fi
}
trap stop_services EXIT

if build/services.sh status >/dev/null 2>&1 && [ "$(build/services.sh env | sed -n 's/^export PATTERNS_RABBIT_NODES=//p')" -ge "$nodes" ] \
    && [ "$(build/services.sh env | sed -n 's/^export PATTERNS_RABBIT_CLUSTER_NODES=//p')" = "$cluster" ]; then
  echo "== services already running: using them" >&2
else
  build/services.sh status >/dev/null 2>&1 || started_here=1
  echo "== starting RabbitMQ ($nodes nodes and a cluster of $cluster) and PostgreSQL" >&2
fi
eval "$(build/services.sh start --rabbit-nodes "$nodes" --cluster "$cluster")"

# The browser tests launch this executable; Playwright never downloads a browser of its own.
PATTERNS_CHROMIUM="$(build/chromium.sh)"
export PATTERNS_CHROMIUM PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
echo "== chromium: $PATTERNS_CHROMIUM" >&2

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
echo "== building" >&2
dotnet build MassTransit.Patterns.sln -c Release -nologo -clp:ErrorsOnly

passed=0 failed=0 skipped=0 status=0
# The names of what failed, repeated just above the closing line: CI keeps only the tail of the output.
failures=()

# Formatting gate: the code as committed is what dotnet format would leave under .editorconfig
# (whitespace, then code style, which includes the order of usings). Its third pass, analyzers, is left
# out: the build above already fails on every analyzer warning (warnings are errors). Counted as one
# test; it runs on the whole run only (a --filter run is a quick subset and skips it).
if [ $# -eq 0 ]; then
  echo "== dotnet format whitespace/style --verify-no-changes" >&2
  if dotnet format whitespace MassTransit.Patterns.sln --verify-no-changes --no-restore -v q >&2 \
      && dotnet format style MassTransit.Patterns.sln --verify-no-changes --no-restore -v q >&2; then
    passed=$((passed + 1))
  else
    echo "!! dotnet format would change the files above: run 'dotnet format MassTransit.Patterns.sln' and commit" >&2
    failed=$((failed + 1)); status=1; failures+=("dotnet format --verify-no-changes")
  fi
fi

# The packages a user gets, packed once from the Release build above.
echo "== packing into artifacts/packages" >&2
rm -rf "$root/artifacts/packages"
dotnet pack MassTransit.Patterns.sln -c Release --no-build -nologo -clp:ErrorsOnly -o "$root/artifacts/packages"

for project in test/*/*.csproj; do
  name=$(basename "$project" .csproj)
  # The newcomer's app is not a test project: the packaging tests build it against the packed packages.
  [ "$name" = Newcomer ] && continue
  echo "== $name" >&2
  project_status=0
  if ! dotnet test "$project" -c Release --no-build --nologo \
      --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
      --results-directory "$results" --blame-hang-timeout 10m "$@"; then
    status=1 project_status=1
  fi
  trx="$results/$name.trx"
  if [ -f "$trx" ]; then
    counters=$(grep -o '<Counters [^>]*' "$trx")
    count() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
    total=$(count total) p=$(count passed) f=$(( $(count failed) + $(count error) + $(count timeout) + $(count aborted) ))
    # An aborted run (a hang the blame collector stopped, a crash) counts no failed test in its results: count the
    # test it was running as failed, so the closing line never says 0 failed for a red run.
    if [ "$project_status" = 1 ] && [ "$f" -eq 0 ]; then
      echo "!! $name did not finish (hang or crash): counted as one failed test" >&2
      f=1; failures+=("$name: did not finish (hang or crash)")
    fi
    s=$((total - p - f)); [ "$s" -lt 0 ] && s=0
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    while IFS= read -r t; do failures+=("$name: $t"); done < <(
      grep -o '<UnitTestResult [^>]*outcome="\(Failed\|Error\|Timeout\|Aborted\)"' "$trx" \
        | sed -n 's/.* testName="\([^"]*\)".* outcome="\([A-Za-z]*\)".*/\2 \1/p' | sed 's/&quot;/"/g; s/&amp;/\&/g')
  else
    echo "!! $name produced no results (crashed or filtered out entirely)" >&2
    if [ $# -eq 0 ]; then failed=$((failed + 1)); status=1; failures+=("$name: produced no results"); fi
  fi
done

[ "$failed" -gt 0 ] && status=1
for f in "${failures[@]}"; do echo "!! failed: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
