package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// GrantView is a person's remembered approval of a client (the
// authorization-code flow), as the admin API shows it.
type GrantView struct {
	ClientID   string     `json:"client_id"`
	PersonID   string     `json:"person_id"`
	PersonName string     `json:"person_name"`
	Scopes     []string   `json:"scopes"`
	ApprovedAt time.Time  `json:"approved_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// ViewGrant renders g.
func ViewGrant(g *store.Grant) GrantView {
	return GrantView{ClientID: g.ClientID, PersonID: g.PersonID, PersonName: g.PersonName, Scopes: g.Scopes.List(), ApprovedAt: g.CreatedAt, LastUsedAt: g.LastUsedAt}
}

var errNoGrant = authn.NewError(http.StatusNotFound, "not_found", "no such grant")

// Grants lists a client's grants, newest first; store.ErrNotFound if there
// is no such client.
func (s *Service) Grants(ctx context.Context, id string) ([]*store.Grant, error) {
	if !authcode.IsMetadataClientID(id) { // a document's client has no row
		if _, err := s.Get(ctx, id); err != nil {
			return nil, err
		}
	}
	return s.Store.ListGrants(ctx, id)
}

// RevokeGrant ends a person's grant of a client: its refresh tokens stop at
// once, and the person is asked again next time. The actor must hold every
// scope of the client, as for revoking the client.
func (s *Service) RevokeGrant(ctx context.Context, actor Actor, id, person string) error {
	var c *store.Client
	switch {
	case authcode.IsMetadataClientID(id):
		// A document's client has no row: the actor must hold what was granted.
		g, err := s.Store.GetGrant(ctx, id, person)
		if err != nil {
			return err
		}
		c = &store.Client{ID: id, Scopes: g.Scopes}
	case credential.ValidClientID(id):
		var err error
		if c, err = s.Store.GetClient(ctx, id); err != nil {
			return err
		}
	default:
		return store.ErrNotFound
	}
	if g := actor.mayManage("revoking a grant", true); g != nil {
		if err := g(c); err != nil {
			return err
		}
	}
	if err := s.Store.RevokeGrant(ctx, id, person, s.audit(actor)); err != nil {
		return err
	}
	s.changed(id)
	return nil
}

// listGrants: GET /clients/{client_id}/grants.
func (h *Handler) listGrants(w http.ResponseWriter, r *http.Request, c *call) error {
	grants, err := h.service().Grants(r.Context(), c.clientID)
	if err != nil {
		return err
	}
	out := make([]GrantView, len(grants))
	for i, g := range grants {
		out[i] = ViewGrant(g)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"grants": out})
}

// MaxMetadataGrants bounds GET /grants without client_id.
const MaxMetadataGrants = 500

// listGrantsByQuery: GET /grants?client_id=<client id or Client Identifier
// URL>; without client_id, the grants of every client known by its metadata
// document (they have no client row to list them under), newest first.
func (h *Handler) listGrantsByQuery(w http.ResponseWriter, r *http.Request, c *call) error {
	ids := r.URL.Query()["client_id"]
	if len(ids) == 0 {
		grants, err := h.service().Store.ListMetadataGrants(r.Context(), MaxMetadataGrants)
		if err != nil {
			return err
		}
		out := make([]GrantView, len(grants))
		for i, g := range grants {
			out[i] = ViewGrant(g)
		}
		return writeJSON(w, http.StatusOK, map[string]any{"grants": out})
	}
	if len(ids) != 1 || ids[0] == "" {
		return errBadRequest("client_id: give exactly one client ID in the query")
	}
	c.clientID = ids[0]
	return h.listGrants(w, r, c)
}

// revokeGrantByQuery: DELETE /grants?client_id=&person= → 204.
func (h *Handler) revokeGrantByQuery(w http.ResponseWriter, r *http.Request, c *call) error {
	ids := r.URL.Query()["client_id"]
	if len(ids) != 1 || ids[0] == "" {
		return errBadRequest("client_id: give exactly one client ID in the query")
	}
	c.clientID = ids[0]
	return h.revokeGrant(w, r, c)
}

// revokeGrant: DELETE /clients/{client_id}/grants?person=<person id> → 204.
// The person goes in the query: a person ID may hold "/" and "#".
func (h *Handler) revokeGrant(w http.ResponseWriter, r *http.Request, c *call) error {
	persons := r.URL.Query()["person"]
	if len(persons) != 1 || persons[0] == "" {
		return errBadRequest("person: give exactly one person ID in the query")
	}
	err := h.service().RevokeGrant(r.Context(), c.actor, c.clientID, persons[0])
	if errors.Is(err, store.ErrNoGrant) {
		return errNoGrant
	}
	if err != nil {
		return err
	}
	h.logAudit(store.ActionGrantRevoke, c, c.clientID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
