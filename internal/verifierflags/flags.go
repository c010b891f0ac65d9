// Package verifierflags is the part of `keyward verifier`'s command line
// that the manager renders into the verifier Deployment. The verifier
// registers these flags and the manager writes them from this one
// definition, so a renamed flag or a moved port cannot leave the deployed
// verifier with a command line it no longer understands.
package verifierflags

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/keyward-dev/keyward/internal/servingtls"
)

// The verifier's ports, as the Deployment's pods and Service expose them
// and as the flags default to. The decision port (decision API,
// forward-auth) is for the proxies the operator trusts; the public port
// (OAuth token endpoint, JWKS, metadata) is the one clients may reach.
// They are separate so that exposing one never exposes the other.
const (
	HTTPPort    = 8080
	PublicPort  = 8083
	ProbePort   = 8081
	MetricsPort = 8082
)

// Flag names.
const (
	NamespaceFlag   = "namespace"
	BindAddressFlag = "bind-address"
	PublicFlag      = "public-bind-address"
	ProbeFlag       = "health-probe-bind-address"
	MetricsFlag     = "metrics-bind-address"
	ConfigFlag      = "config"
	ReusePortFlag   = "reuse-port"

	TLSCertFlag       = "tls-cert-file"
	TLSKeyFlag        = "tls-key-file"
	TLSClientCAFlag   = "tls-client-ca-file"
	TLSClientAuthFlag = "tls-client-auth"

	PublicTLSClientCAFlag   = "public-tls-client-ca-file"
	PublicTLSClientAuthFlag = "public-tls-client-auth"
)

// Flags are the verifier's flags the manager sets.
type Flags struct {
	// Namespace is the only one whose key records are read.
	Namespace              string
	BindAddr, PublicAddr   string
	ProbeAddr, MetricsAddr string
	ConfigPath             string
	ReusePort              bool
	TLS                    TLS
}

// TLS is the TLS of the request ports (decision and public), from PEM
// files (a mounted Secret's tls.crt, tls.key and a ca.crt), read again
// when they change. All empty: plain HTTP.
type TLS struct {
	// The certificate and key serve both request ports.
	CertFile, KeyFile, ClientCAFile string
	// ClientAuth is a servingtls.ClientAuth; empty is "none".
	ClientAuth string
	// PublicClientAuth and PublicClientCAFile ask the public port's
	// clients for certificates differently from the decision port's: a
	// decision port that requires its proxies' certificates cannot also
	// take the self-signed ones RFC 8705's self_signed_tls_client_auth
	// clients present to the token endpoint. Both empty: the public port
	// asks as the decision port does.
	PublicClientAuth, PublicClientCAFile string
}

// Files are the decision port's files and mode for servingtls.Load.
func (t TLS) Files() servingtls.Files {
	return servingtls.Files{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile, ClientAuth: servingtls.ClientAuth(t.ClientAuth)}
}

// SeparatePublic says whether the public port has a client certificate
// mode of its own.
func (t TLS) SeparatePublic() bool { return t.PublicClientAuth != "" || t.PublicClientCAFile != "" }

// PublicFiles are the public port's files and mode for servingtls.Load:
// the decision port's, unless SeparatePublic. A CA bundle alone is
// refused rather than paired with the decision port's mode, which may not
// verify: the operator says what the bundle is for.
func (t TLS) PublicFiles() (servingtls.Files, error) {
	if !t.SeparatePublic() {
		return t.Files(), nil
	}
	if t.PublicClientAuth == "" {
		return servingtls.Files{}, fmt.Errorf("--%s needs --%s (%s or %s); without both the public port takes --%s and --%s",
			PublicTLSClientCAFlag, PublicTLSClientAuthFlag, servingtls.ClientAuthOptional, servingtls.ClientAuthRequired, TLSClientAuthFlag, TLSClientCAFlag)
	}
	return servingtls.Files{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.PublicClientCAFile, ClientAuth: servingtls.ClientAuth(t.PublicClientAuth)}, nil
}

// Bind registers the flags on fs, with their defaults: the ports above on
// every interface, and defaultNamespace.
func (f *Flags) Bind(fs *flag.FlagSet, defaultNamespace string) {
	fs.StringVar(&f.Namespace, NamespaceFlag, defaultNamespace, "namespace whose key records are enforced (the only one read)")
	fs.StringVar(&f.BindAddr, BindAddressFlag, anyHost(HTTPPort), "address of the decision API and the forward-auth endpoints, for the proxies and services you trust; never expose it to clients")
	fs.StringVar(&f.PublicAddr, PublicFlag, anyHost(PublicPort), `address of the public OAuth 2.0 endpoints (token, JWKS, metadata), which clients may reach; "0" disables it`)
	fs.StringVar(&f.ProbeAddr, ProbeFlag, anyHost(ProbePort), "address of /healthz and /readyz")
	fs.StringVar(&f.MetricsAddr, MetricsFlag, anyHost(MetricsPort), `address of /metrics; "0" disables it`)
	fs.StringVar(&f.ConfigPath, ConfigFlag, "", "YAML file with routes, trusted headers and network classes (see docs/verifier.md)")
	fs.StringVar(&f.TLS.CertFile, TLSCertFlag, "", "PEM certificate (chain) the request ports serve TLS with; empty for plain HTTP. Read again when it changes, as a renewed certificate is")
	fs.StringVar(&f.TLS.KeyFile, TLSKeyFlag, "", "PEM private key of --"+TLSCertFlag)
	fs.StringVar(&f.TLS.ClientCAFile, TLSClientCAFlag, "", "PEM bundle of the CAs whose client certificates the request ports accept, for --"+TLSClientAuthFlag+"=optional or required; read again when it changes")
	fs.StringVar(&f.TLS.ClientAuth, TLSClientAuthFlag, string(servingtls.ClientAuthNone), `client certificates on the request ports: "none"; "request" (asked for, any accepted unverified, self-signed included: the key's binding decides); "optional" (a certificate given must verify against --`+TLSClientCAFlag+`); "required" (the handshake fails without one that verifies)`)
	fs.StringVar(&f.TLS.PublicClientAuth, PublicTLSClientAuthFlag, "", `client certificates on the public port, when they are asked for differently from the decision port (modes as --`+TLSClientAuthFlag+`; "request" for RFC 8705 self_signed_tls_client_auth clients); empty: as --`+TLSClientAuthFlag+` and --`+TLSClientCAFlag)
	fs.StringVar(&f.TLS.PublicClientCAFile, PublicTLSClientCAFlag, "", "PEM bundle of the CAs whose client certificates the public port accepts, for --"+PublicTLSClientAuthFlag+"=optional or required; read again when it changes")
	fs.BoolVar(&f.ReusePort, ReusePortFlag, false, "share the listening ports with other verifiers on the host (SO_REUSEPORT), which then take the requests in turn; the request ports (decision and public) open only once the key records are loaded, so that no request reaches a verifier that has not seen them")
}

// Deployed are the flags of a verifier pod: every port spelled out (a
// default changed in a newer verifier must not move a port the Service
// still points at), configPath only when a configuration is mounted, the
// TLS flags only with TLS.
func Deployed(namespace, configPath string, reusePort bool, tls TLS) Flags {
	if tls.ClientAuth == "" {
		tls.ClientAuth = string(servingtls.ClientAuthNone)
	}
	return Flags{
		Namespace:   namespace,
		BindAddr:    anyHost(HTTPPort),
		PublicAddr:  anyHost(PublicPort),
		ProbeAddr:   anyHost(ProbePort),
		MetricsAddr: anyHost(MetricsPort),
		ConfigPath:  configPath,
		ReusePort:   reusePort,
		TLS:         tls,
	}
}

// Args renders the flags as the verifier parses them; the empty config
// path, a false --reuse-port and empty TLS flags are left out, as their
// defaults.
func (f Flags) Args() []string {
	args := []string{
		arg(NamespaceFlag, f.Namespace),
		arg(BindAddressFlag, f.BindAddr),
		arg(PublicFlag, f.PublicAddr),
		arg(ProbeFlag, f.ProbeAddr),
		arg(MetricsFlag, f.MetricsAddr),
	}
	if f.ConfigPath != "" {
		args = append(args, arg(ConfigFlag, f.ConfigPath))
	}
	if f.ReusePort {
		args = append(args, "--"+ReusePortFlag)
	}
	for _, a := range []struct{ name, value string }{
		{TLSCertFlag, f.TLS.CertFile}, {TLSKeyFlag, f.TLS.KeyFile},
		{TLSClientCAFlag, f.TLS.ClientCAFile}, {TLSClientAuthFlag, f.TLS.ClientAuth},
		{PublicTLSClientCAFlag, f.TLS.PublicClientCAFile}, {PublicTLSClientAuthFlag, f.TLS.PublicClientAuth},
	} {
		// "none" is the decision port's default mode, left out like the
		// other defaults; the public port's default is empty, and its
		// "none" differs from it.
		isDefault := a.value == "" || (a.name == TLSClientAuthFlag && a.value == string(servingtls.ClientAuthNone))
		if !isDefault {
			args = append(args, arg(a.name, a.value))
		}
	}
	return args
}

func arg(name, value string) string { return "--" + name + "=" + value }

func anyHost(port int) string { return ":" + strconv.Itoa(port) }
