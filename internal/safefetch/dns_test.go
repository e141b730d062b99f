package safefetch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer answers every A and AAAA question with the addresses given, over
// UDP on loopback, and counts the questions.
type dnsServer struct {
	conn      net.PacketConn
	a, aaaa   []netip.Addr
	questions atomic.Int64
}

func newDNSServer(t *testing.T, addrs ...string) *dnsServer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &dnsServer{conn: conn}
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		if a.Is4() {
			d.a = append(d.a, a)
		} else {
			d.aaaa = append(d.aaaa, a)
		}
	}
	t.Cleanup(func() { conn.Close() })
	go d.serve()
	return d
}

func (d *dnsServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		d.questions.Add(1)
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
		_ = b.StartQuestions()
		_ = b.Question(q)
		_ = b.StartAnswers()
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}
		switch q.Type {
		case dnsmessage.TypeA:
			for _, a := range d.a {
				_ = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
			}
		case dnsmessage.TypeAAAA:
			for _, a := range d.aaaa {
				_ = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
			}
		}
		msg, err := b.Finish()
		if err == nil {
			_, _ = d.conn.WriteTo(msg, from)
		}
	}
}

// resolver asks only d.
func (d *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.conn.LocalAddr().String())
	}}
}

// A public-looking name whose DNS answers point inside: the check is on the
// address dialled, after resolution, whatever the name. The same fetch with
// AllowPrivate succeeds, so the refusal is the address rule's and nothing
// else's (the test certificate is valid for example.com).
func TestNameResolvingInsideRefused(t *testing.T) {
	s := newServer(t, jsonHandler(`{}`))
	port := s.URL[strings.LastIndexByte(s.URL, ':')+1:]
	u := "https://example.com:" + port + "/doc"
	roots := s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	d := newDNSServer(t, "127.0.0.1")
	ok := newFetcher(Options{AllowPrivate: true, RootCAs: roots}, d.resolver())
	if _, err := ok.Get(context.Background(), u); err != nil {
		t.Fatalf("with AllowPrivate, through the test DNS: %v", err)
	}
	if d.questions.Load() == 0 || s.count("/doc") != 1 {
		t.Fatalf("the test DNS was asked %d times, the server %d", d.questions.Load(), s.count("/doc"))
	}

	for _, answers := range [][]string{
		{"127.0.0.1"},
		{"::ffff:127.0.0.1"},
		{"64:ff9b::7f00:1"},
		{"10.0.0.1", "192.168.0.1", "169.254.169.254"}, // every address is tried, every one refused
		{"100.64.0.1", "fd00::1"},
	} {
		d := newDNSServer(t, answers...)
		f := newFetcher(Options{RootCAs: roots}, d.resolver())
		_, err := f.Get(context.Background(), u)
		if !errors.Is(err, ErrAddress) {
			t.Errorf("example.com resolving to %v: err %v, want %s", answers, err, ReasonAddress)
		}
	}
	if n := s.count("/doc"); n != 1 {
		t.Fatalf("the server was reached %d times, want only the AllowPrivate fetch", n)
	}
}

// What goes on the wire (Description) must not tell an outsider how the
// gateway's resolver sees a name: "resolves to a private address" against
// "could not be reached" would map the internal DNS zones (db.corp.internal
// exists, db2 does not) one client_id at a time. Logs keep the difference
// (Reason, Error).
func TestDescriptionHidesInternalNames(t *testing.T) {
	const u = "https://db.corp.example/doc"
	inside := newDNSServer(t, "10.1.2.3")
	nowhere := newDNSServer(t) // answers, with no address
	_, errInside := newFetcher(Options{}, inside.resolver()).Get(context.Background(), u)
	_, errNowhere := newFetcher(Options{}, nowhere.resolver()).Get(context.Background(), u)
	if !errors.Is(errInside, ErrAddress) || !errors.Is(errNowhere, ErrUnreachable) {
		t.Fatalf("errors %v and %v, want %s and %s", errInside, errNowhere, ReasonAddress, ReasonUnreachable)
	}
	var a, b *Error
	errors.As(errInside, &a)
	errors.As(errNowhere, &b)
	if a.Description() != b.Description() {
		t.Fatalf("the wire tells them apart: %q for a private address, %q for no address", a.Description(), b.Description())
	}
}
