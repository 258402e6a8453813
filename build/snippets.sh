#!/usr/bin/env bash
# Rewrites every C# block of README.md and docs/ that follows a <!-- snippet: ID --> marker from its snippet in
# docs/snippets (the lines between // begin-snippet: ID and // end-snippet, dedented), so authors edit only the
# compiled .cs files. Then checks the docs as the test suite does: exits non-zero naming what still differs
# (a C# block without a marker, an unknown id).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
project=test/MassTransit.Patterns.Docs.Tests/MassTransit.Patterns.Docs.Tests.csproj
dotnet build "$project" -c Release -nologo -clp:ErrorsOnly >&2
PATTERNS_DOCS_UPDATE=1 dotnet test "$project" -c Release --no-build --nologo \
  --filter "FullyQualifiedName~DocSnippetTests" "$@"
git -C "$root" status --short -- README.md docs >&2 || true
