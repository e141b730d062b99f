#!/usr/bin/env bash
# Builds Caddy with the Blnk Auth Gateway modules using xcaddy, the way Caddy
# plugins are usually built. Usage: ./xcaddy.sh [output-path]   (default ./caddy-bin)
# `go build -o caddy-bin ./caddy` builds the same binary without xcaddy.
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-./caddy-bin}"

XCADDY_VERSION=v0.4.5
if ! command -v xcaddy >/dev/null 2>&1; then
	echo "installing xcaddy $XCADDY_VERSION"
	go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
	export PATH="$(go env GOPATH)/bin:$PATH"
fi

# Build the Caddy version this module is tested against.
caddy_version=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
module=$(go list -m)
# Fetch every dependency first, then build offline: this module is not
# published, and a proxy lookup of it (which "go get" makes even though it is
# replaced by this checkout) must not be attempted.
go mod download
# The plugin package is caddymodule/; the replace points the module here.
GOPROXY=off GOFLAGS=-mod=mod xcaddy build "$caddy_version" --output "$out" \
	--with "$module/caddymodule" --replace "$module=$(pwd)"
"$out" list-modules | grep -E '^(blnk_auth|http\.handlers\.blnk_(admin|auth|oauth))$'
