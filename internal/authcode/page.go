package authcode

import (
	"html/template"
	"net/http"
)

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body><main><h1>{{.Title}}</h1><p id="error">{{.Message}}</p><p>Return to the application and try again.</p></main></body></html>
`))

// WriteErrorPage answers an authorization request whose error cannot be
// sent back to the client (unknown client, unregistered redirect URI: RFC
// 6749 §4.1.2.1 forbids redirecting then) with a page the person reads.
func WriteErrorPage(w http.ResponseWriter, status int, title, message string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = errorPage.Execute(w, struct{ Title, Message string }{title, message})
}
