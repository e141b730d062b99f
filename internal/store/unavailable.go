package store

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err says the database could not be reached or
// could not answer in time (an outage: retry later, 503), rather than that
// the request or the code is at fault (500): a failed connection, a network
// error, a timeout, or PostgreSQL refusing sessions (SQLSTATE class 08
// connection exception, 57P01-57P03 shutting down or starting up, 53300
// too many connections).
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &pe):
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	return pgconn.Timeout(err)
}
