#!/usr/bin/env bash
# Package the stirling agent as a Greengrass V2 component: static binaries
# for the Pi architectures the nucleus reports (aarch64, arm) and the
# recipe, laid out for `greengrass-cli deployment create` and for
# `aws s3 sync`, then validated with `stirling recipe validate`.
#
#   scripts/package.sh          -> dist/greengrass/{recipes,artifacts}
#   scripts/package.sh --gdk    -> greengrass-build/{recipes/recipe.yaml,artifacts}
#                                  (the gdk-config.json custom build command)
#
# Environment:
#   COMPONENT_VERSION  component version X.Y.Z. Default: scripts/version.sh
#                      (the vX.Y.Z tag on HEAD, else the VERSION file). With
#                      --gdk: the version in gdk-config.json. The binaries
#                      are stamped with it, the recipe takes it from them,
#                      and it is written to $OUT/VERSION for the deploy
#                      command.
#   ARTIFACTS          s3://bucket/prefix the binaries are uploaded to
#                      (default s3://replace-with-your-bucket/stirling; it
#                      does not matter for local greengrass-cli deployments,
#                      and gdk component publish rewrites it).
#   CONFIG             agent configuration rendered as the component's
#                      DefaultConfiguration (default embedded:agent.yaml).
#   RECIPE_FLAGS       extra `stirling recipe` flags, e.g. --basic-ingest-rule R.
#   LDFLAGS            Go linker flags (the Makefile passes its version stamp,
#                      which must carry COMPONENT_VERSION: checked below).
#   GO                 go command (default go).
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
NAME=com.stirling.Agent
PKG=github.com/stirling-iot/stirling
ARTIFACTS=${ARTIFACTS:-s3://replace-with-your-bucket/stirling}
CONFIG=${CONFIG:-embedded:agent.yaml}
semver='^[0-9]+\.[0-9]+\.[0-9]+$'

die() { echo "package.sh: $*" >&2; exit 1; }

if [[ ${1:-} == --gdk ]]; then
	OUT=greengrass-build
	[[ -f gdk-config.json ]] || die "no gdk-config.json in $(pwd)"
	COMPONENT_VERSION=$(python3 -c 'import json; c = json.load(open("gdk-config.json"))["component"]; print(c[next(iter(c))]["version"])')
	RECIPE=$OUT/recipes/recipe.yaml
elif [[ $# -gt 0 ]]; then
	die "usage: scripts/package.sh [--gdk]"
else
	OUT=${DIST:-dist/greengrass}
	if [[ -z ${COMPONENT_VERSION:-} ]]; then
		COMPONENT_VERSION=$(./scripts/version.sh) || die "no component version (set COMPONENT_VERSION=X.Y.Z)"
	fi
	RECIPE=$OUT/recipes/$NAME-$COMPONENT_VERSION.yaml
fi
[[ $COMPONENT_VERSION =~ $semver ]] || die "component version \"$COMPONENT_VERSION\" is not X.Y.Z (Greengrass needs semver; NEXT_PATCH cannot be deployed locally)"

if [[ -z ${LDFLAGS:-} ]]; then
	commit=$(git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
	LDFLAGS="-s -w -X $PKG/internal/version.Version=$COMPONENT_VERSION -X $PKG/internal/version.Commit=$commit -X $PKG/internal/version.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
fi

ART=$OUT/artifacts/$NAME/$COMPONENT_VERSION
rm -rf "$ART" "$RECIPE" "$OUT/VERSION"
mkdir -p "$ART" "$(dirname "$RECIPE")"

# The host binary renders the recipe; it is built with the same stamp as
# the artifacts, and its version must be the component's.
host=$(mktemp -d)
trap 'rm -rf "$host"' EXIT
CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$host/stirling" ./cmd/stirling
built=$("$host/stirling" version)
[[ $built == "stirling $COMPONENT_VERSION "* ]] ||
	die "the binaries would say \"$built\", not version $COMPONENT_VERSION: LDFLAGS must stamp internal/version.Version=$COMPONENT_VERSION"

# name GOARCH GOARM: the file names are the recipe's artifact names
# (recipe.Targets); `stirling recipe validate --artifact-dir` below checks
# that they match.
while read -r file goarch goarm; do
	echo "package.sh: building $ART/$file (GOARCH=$goarch${goarm:+ GOARM=$goarm})"
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm \
		"$GO" build -trimpath -ldflags "$LDFLAGS" -o "$ART/$file" ./cmd/stirling
done <<'EOF'
stirling-aarch64 arm64
stirling-armv7l arm 7
EOF

# No --version: the recipe takes the binary's own, checked above.
# shellcheck disable=SC2086 # RECIPE_FLAGS is a list of flags
"$host/stirling" recipe --artifacts "$ARTIFACTS" \
	--config "$CONFIG" ${RECIPE_FLAGS:-} -o "$RECIPE"
"$host/stirling" recipe validate --artifact-dir "$OUT/artifacts" "$RECIPE"
echo "$COMPONENT_VERSION" > "$OUT/VERSION"

echo "package.sh: $NAME $COMPONENT_VERSION in $OUT"
if [[ ${1:-} != --gdk ]]; then
	cat <<EOF
Deploy on this device (Greengrass CLI):
  sudo /greengrass/v2/bin/greengrass-cli deployment create \\
    --recipeDir $OUT/recipes --artifactDir $OUT/artifacts \\
    --merge "$NAME=\$(cat $OUT/VERSION)"    # $COMPONENT_VERSION
Upload for cloud deployments:
  aws s3 sync $OUT/artifacts $ARTIFACTS
EOF
fi
