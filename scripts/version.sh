#!/usr/bin/env bash
# Print the release version X.Y.Z: the vX.Y.Z tag on HEAD if there is one,
# else the VERSION file at the repository root. The Makefile stamps it into
# the binaries and scripts/package.sh makes it the component version, so
# the package, the recipe, `stirling version` and the deploy command agree.
set -euo pipefail
cd "$(dirname "$0")/.."
semver='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$'
tag=$(git describe --tags --exact-match --match 'v[0-9]*' HEAD 2>/dev/null || true)
if [[ -n $tag ]]; then
	v=${tag#v}
	[[ $v =~ $semver ]] || { echo "version.sh: tag $tag on HEAD is not vX.Y.Z" >&2; exit 1; }
	echo "$v"
	exit 0
fi
[[ -f VERSION ]] || { echo "version.sh: no VERSION file in $(pwd)" >&2; exit 1; }
v=$(tr -d ' \t\r\n' < VERSION)
[[ $v =~ $semver ]] || { echo "version.sh: VERSION \"$v\" is not X.Y.Z" >&2; exit 1; }
echo "$v"
