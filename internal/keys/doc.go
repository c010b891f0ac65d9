// Package keys defines keyward's API key format and how a key is stored.
//
// A key reads
//
//	keyward_<id>_<secret><checksum>
//
// where <id> is the public key ID (16 characters of lower-case base32, 80
// random bits), <secret> is 43 base62 characters (256 random bits from
// crypto/rand) and <checksum> is the CRC32 (IEEE) of everything before it,
// as 6 base62 characters. Every character is URL-safe. The fixed prefix and
// the checksum let secret scanners find leaked keys offline with the
// expression in ScanPattern, and let the verifier refuse a mistyped or
// truncated key before it looks anything up.
//
// Only a PBKDF2-HMAC-SHA256 hash of a key is ever stored (see Hasher).
package keys
