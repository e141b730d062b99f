// Command caddy builds a Caddy binary with the standard modules and the Blnk Auth Gateway modules.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/blnkfinance/blnk-auth-gateway/caddymodule"
)

func main() {
	caddycmd.Main()
}
