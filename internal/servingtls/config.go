package servingtls

import "crypto/tls"

// nextProtos offers HTTP/2 and HTTP/1.1, as net/http does by default.
var nextProtos = []string{"h2", "http/1.1"}

// ServerConfig is the tls.Config of a server (http.Server.TLSConfig, then
// ServeTLS with empty file names). Every handshake takes the material
// current at its start; connections already open keep theirs. A client
// certificate reaches handlers as r.TLS.PeerCertificates.
func (s *Source) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.current.Load().config, nil
		},
	}
}

// snapshot builds the configuration of the handshakes that use m. Session
// tickets stay those of the server's config (rotated by crypto/tls); a
// resumed session's client certificate chain is checked by crypto/tls
// against the ClientCAs of the resuming handshake, so a CA removed from
// the bundle does not keep its clients in through resumption.
func (s *Source) snapshot(m *material) *snapshot {
	return &snapshot{material: m, config: &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   nextProtos,
		Certificates: []tls.Certificate{m.pair},
		ClientAuth:   s.files.ClientAuth.tlsType(),
		ClientCAs:    m.pool,
	}}
}
