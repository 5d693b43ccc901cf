#!/usr/bin/env bash
# Lints the SAM template the way CloudFormation and SAM will read it:
#   cfn-lint template.yaml  and  sam validate --lint
# Both come from PyPI, pinned, in their own virtualenv under .tools/ (kept apart from moto's,
# whose boto pins differ). Any finding fails the run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.tools/venv-lint"
PINS=("cfn-lint==1.58.0" "aws-sam-cli==1.170.0")

if ! "$VENV/bin/python" -c 'import cfnlint, samcli' 2>/dev/null; then
    echo "lint-template: installing ${PINS[*]} into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
fi

cd "$ROOT"
export SAM_CLI_TELEMETRY=0
"$VENV/bin/cfn-lint" template.yaml
"$VENV/bin/sam" validate --lint --template template.yaml --region us-east-1
"$VENV/bin/sam" validate --template template.yaml --region us-east-1
echo "lint-template: cfn-lint and sam validate found nothing"
