package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestIssueForPerson: a token issued for a person carries the person as sub
// and the client as client_id, escaped where JSON needs it, and the longest
// allowed subject with the worst case of everything else still fits.
func TestIssueForPerson(t *testing.T) {
	k := genKey(t, ES256)
	v := newVerifier(t, []*Key{k}, 30*time.Second, 0)
	iss := &Issuer{Key: k, Issuer: testIssuer, TTL: 5 * time.Minute}
	now := time.Now()
	for _, sub := range []string{"master", "oidc:https://idp.example/#\"quoted\" \\ \u00e9", strings.Repeat("x", MaxSubjectLength)} {
		tok, err := iss.IssueFor(sub, testClient, testScopes, testAudience, nil, now)
		if err != nil {
			t.Fatalf("IssueFor(%q): %v", sub, err)
		}
		got, err := v.Verify(tok.Token, now)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if got.Subject != sub || got.ClientID != testClient {
			t.Errorf("sub = %q, client_id = %q; want %q, %q", got.Subject, got.ClientID, sub, testClient)
		}
	}
	if _, err := iss.IssueFor(strings.Repeat("x", MaxSubjectLength+1), testClient, testScopes, testAudience, nil, now); !errors.Is(err, ErrSubjectTooLong) {
		t.Errorf("too long a subject: %v, want ErrSubjectTooLong", err)
	}
	if _, err := iss.IssueFor("", testClient, testScopes, testAudience, nil, now); err == nil {
		t.Error("an empty subject was accepted")
	}
	// A client's own token keeps sub = client_id.
	tok, _ := iss.Issue(testClient, testScopes, testAudience, nil, now)
	if got, err := v.Verify(tok.Token, now); err != nil || got.Subject != testClient {
		t.Errorf("client token: %v, sub %q", err, got.Subject)
	}
}
