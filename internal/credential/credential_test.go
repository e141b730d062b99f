package credential

import (
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"math/big"
	"strings"
	"testing"
)

// referenceChecksum computes the checksum independently of the package:
// math/big's base 62 uses 0-9a-zA-Z, so swapping letter case maps it onto
// our 0-9A-Za-z alphabet.
func referenceChecksum(body string) string {
	digits := new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body)))).Text(62)
	swapped := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, digits)
	return strings.Repeat("0", checksumLen-len(swapped)) + swapped
}

// withChecksum appends the correct checksum to body.
func withChecksum(body string) string {
	return body + referenceChecksum(body)
}

func isAlphabet(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

func TestFormats(t *testing.T) {
	for range 200 {
		id := NewClientID()
		if len(id) != 31 || !strings.HasPrefix(id, "blnk_cid_") || !isAlphabet(id[9:]) {
			t.Fatalf("bad client ID %q", id)
		}
		secret := NewSecret()
		if len(secret) != 57 || !strings.HasPrefix(secret, "blnk_cs_") || !isAlphabet(secret[8:]) {
			t.Fatalf("bad secret %q", secret)
		}
		if want := withChecksum(secret[:51]); secret != want {
			t.Fatalf("secret %q, want checksum giving %q", secret, want)
		}
		key, err := NewAPIKey(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != 79 || !strings.HasPrefix(key, "blnk_ak_") || !isAlphabet(key[8:]) {
			t.Fatalf("bad API key %q", key)
		}
		if key[8:30] != id[9:] {
			t.Fatalf("API key %q does not embed client ID %q", key, id)
		}
		if want := withChecksum(key[:73]); key != want {
			t.Fatalf("API key %q, want checksum giving %q", key, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for range 200 {
		id := NewClientID()
		if !ValidClientID(id) {
			t.Fatalf("ValidClientID(%q) = false", id)
		}
		secret := NewSecret()
		if err := CheckSecret(secret); err != nil {
			t.Fatalf("CheckSecret(%q) = %v", secret, err)
		}
		key, err := NewAPIKey(id)
		if err != nil {
			t.Fatal(err)
		}
		if !IsAPIKey(key) {
			t.Fatalf("IsAPIKey(%q) = false", key)
		}
		got, err := ParseAPIKey(key)
		if err != nil || got != id {
			t.Fatalf("ParseAPIKey(%q) = %q, %v; want %q", key, got, err, id)
		}
	}
}

func TestChecksumEncoding(t *testing.T) {
	tests := []struct {
		sum  uint32
		want string
	}{
		{0, "000000"},
		{1, "000001"},
		{61, "00000z"},
		{62, "000010"},
		{62*62 - 1, "0000zz"},
		{0xffffffff, "4gfFC3"},
	}
	for _, tt := range tests {
		if got := encodeChecksum(tt.sum); string(got[:]) != tt.want {
			t.Errorf("encodeChecksum(%#x) = %q, want %q", tt.sum, got, tt.want)
		}
	}
	// Fixed vectors, so a change to the format cannot pass unnoticed.
	body := "blnk_cs_" + strings.Repeat("A", secretRandLen)
	if got, want := crc32String(body), crc32.ChecksumIEEE([]byte(body)); got != want {
		t.Errorf("crc32String = %#x, want %#x", got, want)
	}
	if err := CheckSecret(withChecksum(body)); err != nil {
		t.Errorf("CheckSecret(fixed vector) = %v", err)
	}
	for _, s := range []string{"", "a", "blnk_", strings.Repeat("xyz", 100), NewSecret(), "\x00\xff"} {
		if got, want := crc32String(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("crc32String(%q) = %#x, want %#x", s, got, want)
		}
	}
}

// mutations returns every string differing from s in exactly one position,
// replaced by another base62 character or by a few characters outside the
// alphabet.
func mutations(s string) []string {
	var out []string
	others := alphabet + "_-. +/=\x00\xff"
	for i := range len(s) {
		for j := range len(others) {
			if others[j] == s[i] {
				continue
			}
			b := []byte(s)
			b[i] = others[j]
			out = append(out, string(b))
		}
	}
	return out
}

func TestSecretMutationsRejected(t *testing.T) {
	secret := NewSecret()
	n := 0
	for _, m := range mutations(secret) {
		n++
		if err := CheckSecret(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("CheckSecret accepted mutation %q of %q", m, secret)
		}
	}
	if n < secretLen*61 {
		t.Fatalf("only %d mutations tried", n)
	}
}

func TestAPIKeyMutationsRejected(t *testing.T) {
	key, err := NewAPIKey(NewClientID())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mutations(key) {
		if id, err := ParseAPIKey(m); !errors.Is(err, ErrMalformed) || id != "" {
			t.Errorf("ParseAPIKey accepted mutation %q of %q: %q, %v", m, key, id, err)
		}
	}
}

func TestClientIDMutations(t *testing.T) {
	// Client IDs carry no checksum: any base62 character is fine in the
	// random part, anything else is not.
	id := NewClientID()
	for i := range len(id) {
		for _, c := range []byte("_-. +/=\x00\xff") {
			if c == id[i] {
				continue
			}
			b := []byte(id)
			b[i] = c
			if ValidClientID(string(b)) {
				t.Errorf("ValidClientID(%q) = true", b)
			}
		}
	}
}

func TestTruncationAndExtensionRejected(t *testing.T) {
	secret := NewSecret()
	key, err := NewAPIKey(NewClientID())
	if err != nil {
		t.Fatal(err)
	}
	id := NewClientID()
	for n := range len(secret) {
		if CheckSecret(secret[:n]) == nil {
			t.Errorf("CheckSecret accepted truncation %q", secret[:n])
		}
	}
	for n := range len(key) {
		if _, err := ParseAPIKey(key[:n]); err == nil {
			t.Errorf("ParseAPIKey accepted truncation %q", key[:n])
		}
	}
	for n := range len(id) {
		if ValidClientID(id[:n]) {
			t.Errorf("ValidClientID accepted truncation %q", id[:n])
		}
	}
	for _, c := range alphabet + "_ \n" {
		ext := string(c)
		if CheckSecret(secret+ext) == nil || CheckSecret(ext+secret) == nil {
			t.Errorf("CheckSecret accepted %q-extended secret", ext)
		}
		if _, err := ParseAPIKey(key + ext); err == nil {
			t.Errorf("ParseAPIKey accepted %q-extended key", ext)
		}
		if _, err := ParseAPIKey(ext + key); err == nil {
			t.Errorf("ParseAPIKey accepted %q-prefixed key", ext)
		}
		if ValidClientID(id+ext) || ValidClientID(ext+id) {
			t.Errorf("ValidClientID accepted %q-extended ID", ext)
		}
	}
	// Dropping a checksum character and re-adding a valid one elsewhere
	// still changes the length, so it is refused before any checksum math.
	if CheckSecret(withChecksum(secret[:50])) == nil || CheckSecret(withChecksum(secret[:52]+"A")) == nil {
		t.Error("CheckSecret accepted a re-checksummed secret of the wrong length")
	}
}

func TestWrongPrefixRejected(t *testing.T) {
	// Each candidate has the right length, a base62 body and a checksum
	// that is valid for it, so only the prefix check can refuse it.
	random43 := NewSecret()[8:51]
	idPart := NewClientID()[9:]
	secretPrefixes := []string{"blnk_ak_", "BLNK_CS_", "blnk_cx_", "blnkacs_", "xlnk_cs_", "blnk-cs-", "blnk_cs0"}
	for _, p := range secretPrefixes {
		s := withChecksum(p + random43)
		if len(s) != secretLen {
			t.Fatalf("test bug: %q has length %d", s, len(s))
		}
		if CheckSecret(s) == nil {
			t.Errorf("CheckSecret accepted prefix %q: %q", p, s)
		}
	}
	if CheckSecret(withChecksum("blnk_cs_"+random43)) != nil {
		t.Fatal("control secret refused")
	}
	keyPrefixes := []string{"blnk_cs_", "BLNK_AK_", "blnk_ax_", "blnk-ak-", "blnk_ak0"}
	for _, p := range keyPrefixes {
		k := withChecksum(p + idPart + random43)
		if _, err := ParseAPIKey(k); err == nil {
			t.Errorf("ParseAPIKey accepted prefix %q: %q", p, k)
		}
	}
	if _, err := ParseAPIKey(withChecksum("blnk_ak_" + idPart + random43)); err != nil {
		t.Fatal("control API key refused")
	}
	for _, p := range []string{"blnk_cs__", "BLNK_CID_", "blnk_cid-", "blnk_ak__", "xlnk_cid_"} {
		if ValidClientID(p + idPart) {
			t.Errorf("ValidClientID accepted prefix %q", p)
		}
	}
}

func TestKindsNotInterchangeable(t *testing.T) {
	id := NewClientID()
	secret := NewSecret()
	key, err := NewAPIKey(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseAPIKey(secret); err == nil {
		t.Error("ParseAPIKey accepted a secret")
	}
	if _, err := ParseAPIKey(id); err == nil {
		t.Error("ParseAPIKey accepted a client ID")
	}
	if CheckSecret(key) == nil {
		t.Error("CheckSecret accepted an API key")
	}
	if CheckSecret(id) == nil {
		t.Error("CheckSecret accepted a client ID")
	}
	if ValidClientID(secret) || ValidClientID(key) {
		t.Error("ValidClientID accepted a secret or API key")
	}
	if IsAPIKey(secret) || IsAPIKey(id) {
		t.Error("IsAPIKey accepted a secret or client ID")
	}
}

func TestMalformedInputs(t *testing.T) {
	inputs := []string{
		"", " ", "blnk_", "blnk_cs_", "blnk_ak_", "blnk_cid_",
		"Bearer " + NewSecret(),
		NewSecret() + " ",
		" " + NewSecret(),
		strings.Repeat("0", secretLen),
		strings.Repeat("0", apiKeyLen),
		strings.Repeat("é", secretLen/2),
		"blnk_cs_" + strings.Repeat("ü", 24) + "x",
	}
	for _, in := range inputs {
		if err := CheckSecret(in); err != ErrMalformed {
			t.Errorf("CheckSecret(%q) = %v, want ErrMalformed", in, err)
		}
		if id, err := ParseAPIKey(in); !errors.Is(err, ErrMalformed) || id != "" {
			t.Errorf("ParseAPIKey(%q) = %q, %v; want ErrMalformed", in, id, err)
		}
		if ValidClientID(in) {
			t.Errorf("ValidClientID(%q) = true", in)
		}
	}
}

func TestIsAPIKey(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"blnk_ak_", true}, // a prefix test only; ParseAPIKey validates
		{"blnk_ak_anything", true},
		{"blnk_cs_abc", false},
		{"BLNK_AK_abc", false},
		{"blnk_ak", false},
		{"", false},
		{"eyJhbGciOiJFUzI1NiJ9.e30.sig", false},
	}
	for _, tt := range tests {
		if got := IsAPIKey(tt.in); got != tt.want {
			t.Errorf("IsAPIKey(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNewAPIKeyRejectsBadClientID(t *testing.T) {
	id := NewClientID()
	bad := []string{
		"", "blnk_cid_", id[:30], id + "A", "blnk_cs_" + id[9:] + "A",
		"BLNK_CID_" + id[9:], "blnk_cid_" + id[9:30] + "_", NewSecret(),
	}
	for _, in := range bad {
		key, err := NewAPIKey(in)
		if !errors.Is(err, ErrMalformed) || key != "" {
			t.Errorf("NewAPIKey(%q) = %q, %v; want ErrMalformed", in, key, err)
		}
		if err != nil && strings.Contains(err.Error(), in) && in != "" {
			t.Errorf("NewAPIKey error %q echoes its input", err)
		}
	}
}

func TestUniqueness(t *testing.T) {
	const n = 10000
	seen := make(map[string]bool, 4*n)
	add := func(kind, s string) {
		if seen[s] {
			t.Fatalf("duplicate %s %q", kind, s)
		}
		seen[s] = true
	}
	id := NewClientID()
	for range n {
		add("client ID", NewClientID())
		add("secret", NewSecret())
		key, err := NewAPIKey(id) // same client: the random part alone must differ
		if err != nil {
			t.Fatal(err)
		}
		add("API key", key)
		add("secret body", "body:"+key[30:73])
	}
}

// countingReader returns the bytes 0, 1, …, 255, 0, 1, … in order.
type countingReader struct{ next byte }

func (r *countingReader) read(b []byte) (int, error) {
	for i := range b {
		b[i] = r.next
		r.next++
	}
	return len(b), nil
}

func TestFillBase62IsUniform(t *testing.T) {
	// Over whole cycles of 0..255, exactly 248 bytes are accepted, each
	// character four times per cycle. Plain modulo would give the first
	// eight characters five.
	const cycles = 10
	r := &countingReader{}
	dst := make([]byte, 248*cycles)
	fillBase62(dst, r.read)
	counts := map[byte]int{}
	for _, c := range dst {
		counts[c]++
	}
	if len(counts) != 62 {
		t.Fatalf("%d distinct characters, want 62", len(counts))
	}
	for c, n := range counts {
		if n != 4*cycles {
			t.Errorf("character %q appeared %d times, want %d", c, n, 4*cycles)
		}
	}
}

func TestFillBase62RejectsHighBytes(t *testing.T) {
	calls := 0
	read := func(b []byte) (int, error) {
		calls++
		for i := range b {
			if calls == 1 {
				b[i] = byte(248 + i%8) // all rejected
			} else {
				b[i] = 61 // 'z'
			}
		}
		return len(b), nil
	}
	dst := make([]byte, 100) // needs two more reads of 64
	fillBase62(dst, read)
	if string(dst) != strings.Repeat("z", 100) {
		t.Errorf("got %q", dst)
	}
	if calls != 3 {
		t.Errorf("%d reads, want 3", calls)
	}
}

func TestFillBase62PanicsOnReadError(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "crypto/rand failed") {
			t.Errorf("recover() = %v, want a crypto/rand panic", r)
		}
	}()
	fillBase62(make([]byte, 1), func([]byte) (int, error) { return 0, errors.New("boom") })
}

func TestGeneratedCharacterDistribution(t *testing.T) {
	// A coarse chi-squared check on real output. With 61 degrees of freedom
	// the statistic exceeds 150 with probability below 1e-9 when uniform;
	// modulo bias would push it into the hundreds.
	counts := map[byte]int{}
	total := 0
	for range 2000 {
		s := NewSecret()[len(SecretPrefix) : secretLen-checksumLen]
		for _, c := range []byte(s) {
			counts[c]++
			total++
		}
	}
	expected := float64(total) / 62
	chi2 := 0.0
	for _, c := range []byte(alphabet) {
		d := float64(counts[c]) - expected
		chi2 += d * d / expected
	}
	if chi2 > 150 {
		t.Errorf("chi-squared = %.1f over %d characters, distribution looks biased", chi2, total)
	}
}

func TestHash(t *testing.T) {
	secret := NewSecret()
	h := HashOf(secret)
	if h != Hash(sha256.Sum256([]byte(secret))) {
		t.Fatal("HashOf is not SHA-256")
	}
	long := strings.Repeat("L", 1000) // past the stack buffer
	tests := []struct {
		hash   Hash
		secret string
		want   bool
	}{
		{h, secret, true},
		{h, secret[:len(secret)-1], false},
		{h, secret + "x", false},
		{h, "", false},
		{h, NewSecret(), false},
		{HashOf(""), "", true},
		{Hash{}, "", false},
		{HashOf(long), long, true},
		{HashOf(long), long[1:], false},
		{HashOf(strings.Repeat("M", 128)), strings.Repeat("M", 128), true},
		{HashOf(strings.Repeat("M", 129)), strings.Repeat("M", 129), true},
	}
	for _, tt := range tests {
		if got := tt.hash.Matches(tt.secret); got != tt.want {
			t.Errorf("HashOf(…).Matches(%q) = %v, want %v", Hint(tt.secret), got, tt.want)
		}
	}
	// Flip every bit of the stored hash: none may still match.
	for i := range h {
		for bit := range 8 {
			bad := h
			bad[i] ^= 1 << bit
			if bad.Matches(secret) {
				t.Fatalf("hash with byte %d bit %d flipped matched", i, bit)
			}
		}
	}
}

func TestHint(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"blnk_cs_" + strings.Repeat("x", 43) + "000a1B2", "blnk_cs_…a1B2"},
		{"blnk_ak_" + strings.Repeat("y", 65) + "Zz9Q", "blnk_ak_…Zz9Q"},
		{"blnk_cid_" + strings.Repeat("k", 18) + "abcd", "blnk_cid_…abcd"},
		{"blnk_cs_abcd", "blnk_cs_…abcd"}, // exactly 12 bytes
		{"blnk_cs_abc", ""},               // 11 bytes
		{"", ""},
		{"short", ""},
		{"0123456789ab", "…89ab"}, // unknown prefix: none shown
		{"Bearer blnk_cs_xyzw", "…xyzw"},
		{"blnk_cs_ééééé", "blnk_cs_…éééé"}, // rune-safe tail
		{"xxxxxxxxxx\xff\xff\xff\xff", "…\xff\xff\xff\xff"},
	}
	for _, tt := range tests {
		if got := Hint(tt.in); got != tt.want {
			t.Errorf("Hint(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	secret := NewSecret()
	if got := Hint(secret); got != "blnk_cs_…"+secret[len(secret)-4:] {
		t.Errorf("Hint(secret) = %q", got)
	}
	key, _ := NewAPIKey(NewClientID())
	if got := Hint(key); got != "blnk_ak_…"+key[len(key)-4:] {
		t.Errorf("Hint(key) = %q", got)
	}
}

var (
	sinkErr  error
	sinkBool bool
	sinkHash Hash
)

func TestNoAllocations(t *testing.T) {
	secret := NewSecret()
	id := NewClientID()
	key, _ := NewAPIKey(id)
	h := HashOf(secret)
	bad := secret[:len(secret)-1] + "!"
	tests := []struct {
		name string
		f    func()
	}{
		{"CheckSecret(valid)", func() { sinkErr = CheckSecret(secret) }},
		{"CheckSecret(bad checksum)", func() { sinkErr = CheckSecret(bad) }},
		{"CheckSecret(API key)", func() { sinkErr = CheckSecret(key) }},
		{"ValidClientID(valid)", func() { sinkBool = ValidClientID(id) }},
		{"ValidClientID(invalid)", func() { sinkBool = ValidClientID(secret) }},
		{"Matches(true)", func() { sinkBool = h.Matches(secret) }},
		{"Matches(false)", func() { sinkBool = h.Matches(key) }},
		{"IsAPIKey", func() { sinkBool = IsAPIKey(key) }},
		{"HashOf", func() { sinkHash = HashOf(key) }},
	}
	for _, tt := range tests {
		if allocs := testing.AllocsPerRun(1000, tt.f); allocs != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tt.name, allocs)
		}
	}
}

func BenchmarkCheckSecret(b *testing.B) {
	secret := NewSecret()
	b.ReportAllocs()
	for b.Loop() {
		sinkErr = CheckSecret(secret)
	}
}

func BenchmarkHashOfAndMatches(b *testing.B) {
	secret := NewSecret()
	b.Run("HashOf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = HashOf(secret)
		}
	})
	h := HashOf(secret)
	b.Run("Matches", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkBool = h.Matches(secret)
		}
	})
}

func BenchmarkNewSecret(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewSecret()
	}
}
