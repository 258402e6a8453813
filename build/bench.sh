#!/usr/bin/env bash
# Runs benchmark scenarios (see BENCHMARKS.md): build/bench.sh [--quick] [--transport inmemory|rabbitmq] [SCENARIO...]
# Builds in Release, starts the services a RabbitMQ run needs (as build/test.sh does), writes
# artifacts/bench/SCENARIO.TRANSPORT.json and a line per scenario to artifacts/bench/summary.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

transport=inmemory
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = "--transport" ]; then j=$((i + 1)); transport=${!j:-}; fi
done

started_here=0
stop_services() {
  if [ "$started_here" = 1 ]; then build/services.sh stop >&2 || true; fi
}
trap stop_services EXIT
if [ "$transport" = rabbitmq ] || [ "$transport" = multibroker ]; then
  build/services.sh status >/dev/null 2>&1 || started_here=1
  # The independent nodes, and the 3-node cluster the cluster scenario measures.
  eval "$(build/services.sh start --rabbit-nodes "${PATTERNS_BENCH_RABBIT_NODES:-3}" --cluster 3)"
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build src/MassTransit.Patterns.Benchmarks -c Release -nologo -clp:ErrorsOnly
dotnet "src/MassTransit.Patterns.Benchmarks/bin/Release/net10.0/MassTransit.Patterns.Benchmarks.dll" --out "$root/artifacts/bench" "$@"
