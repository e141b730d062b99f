package dashboard

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/oidclogin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// Person is who is signed in to the dashboard, as the authorization flow sees them.
type Person struct {
	ID       string   // stable: "master", "client:<client id>", or "oidc:<issuer>#<sub>"
	Name     string   // shown on the consent page, in audit entries and grants: an email, a name, or the client's name
	MayGrant []string // the scopes this person may grant; "*" = any
}

// Dashboard is the dashboard's handler, by the name the authorization flow
// knows it.
type Dashboard = Handler

// Person IDs of key sessions (a person's is PersonID's).
const (
	MasterPersonID       = "master"
	ClientPersonIDPrefix = store.ClientPersonIDPrefix
)

// SignedIn returns the person signed in on r's session, if any (decided as every dashboard request decides it).
//
// A master-key session is "master", who may grant anything; a client's key
// session is "client:<id>" with the client's name and the scopes it holds
// now; a person signed in through the provider is "oidc:<issuer>#<sub>",
// named by their email address (or name), with the scopes the rules gave
// them at sign-in. A session that has ended, or that cannot be decided now
// (the store is unreachable), is no one.
func (d *Dashboard) SignedIn(r *http.Request) (Person, bool) {
	if !hasSessionCookie(r) {
		return Person{}, false
	}
	ses, who, err := d.session(r)
	if err != nil {
		return Person{}, false
	}
	switch {
	case ses.Person != nil:
		return Person{ID: who.ClientID, Name: personName(ses.Person), MayGrant: ses.Person.MayGrant.List()}, true
	case who.Master:
		return Person{ID: MasterPersonID, Name: "Master key", MayGrant: []string{scope.All}}, true
	}
	p := Person{ID: ClientPersonIDPrefix + who.ClientID, Name: who.ClientID, MayGrant: who.Scopes.List()}
	if c, _ := d.client(r.Context(), who.ClientID, d.cfg.Now()); c != nil && c.Name != "" {
		p.Name = c.Name
	}
	return p, true
}

// personName is how a person is shown: their email address, else their
// name, else their subject.
func personName(p *store.SessionPerson) string {
	switch {
	case p.Email != "":
		return p.Email
	case p.Name != "":
		return p.Name
	}
	return p.Subject
}

// GrantHolders decides whether the person who approved a grant may still
// hold it: as long as they could still be signed in as themselves. A person
// signed in through a provider: see PersonAllowed. A person signed in with
// a client's key: while that client is active (revoking, deleting or
// expiring a key ends what was approved with it, so that a stolen key
// leaves nothing behind once revoked). The master key: always.
type GrantHolders struct {
	Login   *oidclogin.Login // the configured provider; nil: none
	Clients authn.Clients
	Now     func() time.Time
}

// Allowed is GrantHolders' decision; an error when the client store cannot say.
func (g GrantHolders) Allowed(ctx context.Context, personID, name string) (bool, error) {
	id, isClient := strings.CutPrefix(personID, ClientPersonIDPrefix)
	if !isClient {
		return PersonAllowed(g.Login, personID, name), nil
	}
	// Read from the store, not the cache: refresh tokens end at once on
	// every instance, whatever the change feed's delay.
	e, err := g.Clients.Load(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return e.Active(g.Now()), nil
}
