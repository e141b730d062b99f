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
# This module is not published: "go get" looks its packages up on the module
# proxy even though the checkout replaces it, and the proxy refuses unknown
# modules with an error, not "not found". An empty local proxy after it (with
# "|": fall through on any error) turns that into "not found", so the lookup
# ends at the replacement; every real dependency still comes from the proxy.
empty_proxy=$(mktemp -d)
trap 'rm -rf "$empty_proxy"' EXIT
proxy=$(go env GOPROXY | cut -d, -f1)
# The plugin package is caddymodule/; the replace points the module here.
GOPROXY="$proxy|file://$empty_proxy" GOFLAGS=-mod=mod xcaddy build "$caddy_version" --output "$out" \
	--with "$module/caddymodule" --replace "$module=$(pwd)"
"$out" list-modules | grep -E '^(blnk_auth|http\.handlers\.blnk_(admin|auth|oauth))$'
