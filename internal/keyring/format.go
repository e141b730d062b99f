package keyring

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The sealed format, version 2. Every sealed value (a signing key, or the
// check value that proves a secret) is
//
//	offset  size  field
//	0       1     version: 2
//	1       1     kdf: 1 = Argon2id
//	2       1     Argon2id passes (time)
//	3       4     Argon2id memory in KiB, big-endian
//	7       1     Argon2id lanes (threads)
//	8       16    salt
//	24      12    AES-256-GCM nonce
//	36      …     ciphertext and 16-byte tag
//
// The AES key is Argon2id(secret, salt) with the stored parameters, so they
// can be raised later without a new version; the first 24 bytes, the
// database's deployment ID and what the value is (a key's kid and algorithm,
// or the check) are the additional authenticated data, so a value moved to
// another row or another database does not open. Version 1 (no header:
// nonce ‖ ciphertext under HKDF-SHA256(secret) with no salt) is read only to
// upgrade it.
const (
	formatVersion = 2
	kdfArgon2id   = 1
	headerSize    = 24
	saltSize      = 16
	nonceSize     = 12
	tagSize       = 16
)

// header is the parsed head of a sealed value.
type header struct {
	version   byte
	kdf       byte
	time      uint32
	memoryKiB uint32
	threads   uint8
	salt      []byte
}

// Bounds on the parameters a stored value may ask for: a row is data, and
// must not make an instance spend minutes or gigabytes opening it.
const (
	maxTime      = 8
	maxMemoryKiB = 256 * 1024 // 256 MiB
	minMemoryKiB = 8 * 1024
	maxThreads   = 4
)

var errFormat = errors.New("not a sealed value of a known format")

func parseHeader(b []byte) (header, error) {
	if len(b) < headerSize+nonceSize+tagSize || b[0] != formatVersion || b[1] != kdfArgon2id {
		return header{}, errFormat
	}
	h := header{
		version:   b[0],
		kdf:       b[1],
		time:      uint32(b[2]),
		memoryKiB: binary.BigEndian.Uint32(b[3:7]),
		threads:   b[7],
		salt:      b[8:headerSize],
	}
	if h.time < 1 || h.time > maxTime || h.memoryKiB < minMemoryKiB || h.memoryKiB > maxMemoryKiB || h.threads < 1 || h.threads > maxThreads {
		return header{}, fmt.Errorf("%w: Argon2id parameters out of bounds (t=%d, m=%d KiB, p=%d)", errFormat, h.time, h.memoryKiB, h.threads)
	}
	return h, nil
}

func (h header) bytes() []byte {
	b := make([]byte, headerSize)
	b[0], b[1], b[2] = h.version, h.kdf, byte(h.time)
	binary.BigEndian.PutUint32(b[3:7], h.memoryKiB)
	b[7] = h.threads
	copy(b[8:], h.salt)
	return b
}
