// Package credential generates and checks the gateway's client credentials:
// public client IDs, client secrets and API keys.
//
// Formats (base62 is 0-9A-Za-z; with '_' every character is URL-unreserved,
// RFC 3986 §2.3, so credentials need no escaping in forms, headers or URLs):
//
//	client ID:      blnk_cid_ + 22 random base62
//	client secret:  blnk_cs_  + 43 random base62 + 6 base62 checksum
//	API key:        blnk_ak_  + client ID's 22 chars + 43 random base62 + 6 base62 checksum
//
// The checksum is CRC-32 (IEEE) of everything before it, prefix included, as
// 6 base62 digits, most significant first, zero-padded. Like GitHub's token
// format, it lets the gateway refuse a mistyped or truncated credential
// without a database lookup, and lets secret scanners recognise leaked
// credentials with few false positives. It is not a MAC: authenticity comes
// from comparing the stored Hash.
package credential

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"unicode/utf8"
)

// Prefixes identifying each kind of credential.
const (
	// ClientIDPrefix starts every client ID.
	ClientIDPrefix = "blnk_cid_"
	// SecretPrefix starts every client secret.
	SecretPrefix = "blnk_cs_"
	// APIKeyPrefix starts every API key.
	APIKeyPrefix = "blnk_ak_"
)

// ErrMalformed is returned, or wrapped, for every credential that fails the
// format or checksum check.
var ErrMalformed = errors.New("credential: malformed")

const (
	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	idRandLen     = 22 // 22·log2(62) ≈ 131 bits: unguessable and collision-free
	secretRandLen = 43 // 43·log2(62) ≈ 256.03 bits
	checksumLen   = 6  // 62^6 ≈ 5.7e10 > 2^32, so any CRC-32 fits

	clientIDLen = len(ClientIDPrefix) + idRandLen
	secretLen   = len(SecretPrefix) + secretRandLen + checksumLen
	apiKeyLen   = len(APIKeyPrefix) + idRandLen + secretRandLen + checksumLen

	// Largest multiple of 62 not above 256: random bytes at or above it are
	// rejected so that b%62 is uniform (no modulo bias).
	rejectFrom = 256 - 256%len(alphabet) // 248

	hintMinLen  = 12 // shorter input would be mostly revealed by its hint
	hintTailLen = 4
)

// NewClientID returns a new random client ID. Client IDs are public
// identifiers (RFC 6749 §2.2) but random so they cannot be enumerated.
func NewClientID() string {
	var b [clientIDLen]byte
	copy(b[:], ClientIDPrefix)
	fillBase62(b[len(ClientIDPrefix):], rand.Read)
	return string(b[:])
}

// NewSecret returns a new random client secret with 256 bits of entropy.
func NewSecret() string {
	var b [secretLen]byte
	copy(b[:], SecretPrefix)
	fillBase62(b[len(SecretPrefix):secretLen-checksumLen], rand.Read)
	putChecksum(b[:])
	return string(b[:])
}

// NewAPIKey returns a new random API key for clientID, which it embeds so the
// key alone identifies its client. It fails if clientID is not ValidClientID.
func NewAPIKey(clientID string) (string, error) {
	if !ValidClientID(clientID) {
		// The value is not quoted: a caller mixing up arguments could
		// otherwise put a secret into an error message and a log.
		return "", fmt.Errorf("%w: invalid client ID for API key", ErrMalformed)
	}
	var b [apiKeyLen]byte
	n := copy(b[:], APIKeyPrefix)
	n += copy(b[n:], clientID[len(ClientIDPrefix):])
	fillBase62(b[n:apiKeyLen-checksumLen], rand.Read)
	putChecksum(b[:])
	return string(b[:]), nil
}

// ValidClientID reports whether s has the exact form of a client ID. It does
// not allocate.
func ValidClientID(s string) bool {
	return len(s) == clientIDLen &&
		strings.HasPrefix(s, ClientIDPrefix) &&
		isBase62(s[len(ClientIDPrefix):])
}

// CheckSecret returns nil if s is a well-formed client secret with a correct
// checksum, and ErrMalformed otherwise. It does not allocate, so rejecting
// garbage is cheap.
func CheckSecret(s string) error {
	if len(s) != secretLen || !strings.HasPrefix(s, SecretPrefix) || !checksummed(s, len(SecretPrefix)) {
		return ErrMalformed
	}
	return nil
}

// ParseAPIKey checks the format and checksum of an API key and returns the
// client ID it names. Any failure is ErrMalformed.
func ParseAPIKey(s string) (clientID string, err error) {
	if len(s) != apiKeyLen || !strings.HasPrefix(s, APIKeyPrefix) || !checksummed(s, len(APIKeyPrefix)) {
		return "", ErrMalformed
	}
	return ClientIDPrefix + s[len(APIKeyPrefix):len(APIKeyPrefix)+idRandLen], nil
}

// IsAPIKey reports whether s claims to be an API key, by prefix alone. It
// routes a bearer credential (RFC 6750 §2.1) to API key handling rather than
// access token validation; ParseAPIKey does the actual checking.
func IsAPIKey(s string) bool {
	return strings.HasPrefix(s, APIKeyPrefix)
}

// Hash is the stored form of a client secret or API key.
type Hash [sha256.Size]byte

// HashOf returns the SHA-256 of secret. A fast unsalted hash is the right
// tool here, unlike for passwords: our secrets are random with ≥256 bits of
// entropy, so a stolen hash cannot be brute-forced or looked up in a
// precomputed table, and salting or key stretching (bcrypt, Argon2) would add
// only latency to every authenticated request.
func HashOf(secret string) Hash {
	// Hashing from a stack copy avoids the heap allocation of []byte(secret)
	// for anything up to credential length.
	var buf [128]byte
	if len(secret) > len(buf) {
		return sha256.Sum256([]byte(secret))
	}
	n := copy(buf[:], secret)
	return sha256.Sum256(buf[:n])
}

// Matches reports whether secret hashes to h. The comparison takes constant
// time, so response timing reveals nothing about how much of the hash
// matched. It does not allocate for inputs of up to 128 bytes, which
// includes every well-formed credential.
func (h Hash) Matches(secret string) bool {
	got := HashOf(secret)
	return subtle.ConstantTimeCompare(h[:], got[:]) == 1
}

// Hint returns a non-secret reminder of a credential for display and logs:
// its known prefix, "…", and its last 4 characters, e.g. "blnk_cs_…a1B2".
// For our formats those characters are checksum digits, so no random
// characters are shown. Input of fewer than 12 bytes, which a hint would
// largely reveal, yields "". Input without a known prefix gets none.
func Hint(secret string) string {
	if len(secret) < hintMinLen {
		return ""
	}
	prefix := ""
	for _, p := range [...]string{SecretPrefix, APIKeyPrefix, ClientIDPrefix} {
		if strings.HasPrefix(secret, p) {
			prefix = p
			break
		}
	}
	// Count back by runes so that a malformed, non-ASCII input still
	// yields valid UTF-8 for logs.
	tail := len(secret)
	for range hintTailLen {
		_, size := utf8.DecodeLastRuneInString(secret[:tail])
		tail -= size
	}
	return prefix + "…" + secret[tail:]
}

// fillBase62 fills dst with uniformly random base62 characters using bytes
// from read. Bytes ≥ 248 are rejected so that byte%62 is uniform. read is
// crypto/rand.Read outside tests, which since Go 1.24 never returns an error
// (it aborts the program if the OS generator fails); the panic guards the
// invariant anyway, since issuing a predictable credential is never
// acceptable.
func fillBase62(dst []byte, read func([]byte) (int, error)) {
	// One read almost always suffices: the expected rejection rate is 8/256.
	var buf [64]byte
	for i := 0; i < len(dst); {
		if _, err := read(buf[:]); err != nil {
			panic("credential: crypto/rand failed: " + err.Error())
		}
		for _, c := range buf {
			if int(c) >= rejectFrom {
				continue
			}
			dst[i] = alphabet[int(c)%len(alphabet)]
			i++
			if i == len(dst) {
				break
			}
		}
	}
}

// isBase62 reports whether s consists only of alphabet characters.
func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if base62Value[s[i]] < 0 {
			return false
		}
	}
	return true
}

// base62Value maps a byte to its base62 digit value, or -1.
var base62Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

// checksummed reports whether s, whose prefix of length prefixLen is already
// checked, has a base62 body and a checksum matching it.
func checksummed(s string, prefixLen int) bool {
	body := len(s) - checksumLen
	if !isBase62(s[prefixLen:]) {
		return false
	}
	want := encodeChecksum(crc32String(s[:body]))
	return s[body:] == string(want[:])
}

// putChecksum writes the checksum of b[:len(b)-checksumLen] into the last
// checksumLen bytes of b.
func putChecksum(b []byte) {
	body := len(b) - checksumLen
	sum := encodeChecksum(crc32.ChecksumIEEE(b[:body]))
	copy(b[body:], sum[:])
}

// crc32String is crc32.ChecksumIEEE for a string, without the allocation
// of converting a long string to []byte.
func crc32String(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// encodeChecksum renders sum as checksumLen base62 digits, most significant
// first, zero-padded.
func encodeChecksum(sum uint32) (out [checksumLen]byte) {
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[sum%uint32(len(alphabet))]
		sum /= uint32(len(alphabet))
	}
	return out
}
