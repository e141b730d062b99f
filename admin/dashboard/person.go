package dashboard

import (
	"net/http"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// Person is who is signed in to the dashboard, as the authorization flow sees them.
type Person struct {
	ID       string   // stable: "master", "client:<client id>", or (S) "oidc:<issuer>#<sub>"
	Name     string   // shown on the consent page, in audit entries and grants: an email, a name, or the client's name
	MayGrant []string // the scopes this person may grant; "*" = any
}

// Dashboard is the dashboard's handler, by the name the authorization flow's
// contract uses.
type Dashboard = Handler

// Person IDs of key sessions.
const (
	MasterPersonID       = "master"
	ClientPersonIDPrefix = "client:"
)

// SignedIn returns the person signed in on r's session, if any (the session decided as every dashboard request
// decides it: ended, revoked, expired sessions are not signed in).
func (d *Dashboard) SignedIn(r *http.Request) (Person, bool) {
	_, who, err := d.session(r)
	if err != nil {
		return Person{}, false
	}
	if who.Master {
		return Person{ID: MasterPersonID, Name: "Master key", MayGrant: []string{scope.All}}, true
	}
	p := Person{ID: ClientPersonIDPrefix + who.ClientID, Name: who.ClientID, MayGrant: who.Scopes.List()}
	if c, _ := d.client(r.Context(), who.ClientID, d.cfg.Now()); c != nil && c.Name != "" {
		p.Name = c.Name
	}
	return p, true
}
