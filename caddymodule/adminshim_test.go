package caddymodule

import "github.com/blnkfinance/blnk-auth-gateway/admin"

// The admin API's OpenAPI document and operations, under the names the
// end-to-end tests in adminapi_test.go use; admin.Handler owns both.
var (
	openAPIDocument = admin.OpenAPIDocument()
	adminRoutes     = func() (rs []struct{ method, pattern string }) {
		for _, op := range admin.Operations() {
			rs = append(rs, struct{ method, pattern string }{op.Method, op.Pattern})
		}
		return rs
	}()
)
