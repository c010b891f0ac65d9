package v1alpha1

// ClientCertificate binds a key to the client certificates that may
// authenticate it (RFC 8705). The schema checks what it can see; the
// admission webhook checks the rest (that a URI parses, that a DNS name is
// one) with the same code the manager and the verifier use.
//
// +kubebuilder:validation:XValidation:rule="[has(self.thumbprint), has(self.subject), has(self.dnsName), has(self.uri), has(self.email)].filter(x, x).size() == 1",message="set exactly one of thumbprint, subject, dnsName, uri and email"
// +kubebuilder:validation:XValidation:rule="has(self.thumbprint) || has(self.authority)",message="authority is required when binding by subject, dnsName, uri or email: any certificate authority can sign any name, so the name alone proves nothing"
type ClientCertificate struct {
	// thumbprint is the certificate's SHA-256 thumbprint as RFC 8705
	// writes it (x5t#S256): 43 characters of unpadded base64url of the
	// SHA-256 of the certificate's DER encoding, for example
	// `openssl x509 -in client.pem -outform DER | openssl dgst -sha256 -binary | basenc --base64url | tr -d =`.
	// Only that one certificate matches: renewing it means a new
	// thumbprint here. Without authority the certificate may be
	// self-signed.
	// +optional
	// +kubebuilder:validation:MinLength=43
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{43}$`
	Thumbprint string `json:"thumbprint,omitempty"`

	// subject is the certificate's whole subject distinguished name in
	// RFC 4514 form, for example "CN=payments,OU=billing,O=Acme": every
	// RDN of the certificate, most specific (last encoded) first, the
	// attributes of a multi-valued RDN joined by "+" in their encoded
	// order. Attributes other than C, ST, L, STREET, POSTALCODE, O, OU, CN
	// and SERIALNUMBER are written as their dotted OID, "=#" and the hex
	// of their value as DER (RFC 4514 §2.4); docs/mtls.md has the details.
	// A subject with two CNs is
	// "CN=payments,CN=mallory,O=Acme" and matches only that.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Subject string `json:"subject,omitempty"`

	// dnsName is a DNS subject alternative name the certificate must
	// carry, for example "reporter.payments.example.com"; compared without
	// regard to case.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	DNSName string `json:"dnsName,omitempty"`

	// uri is a URI subject alternative name the certificate must carry,
	// compared exactly with the string the certificate holds (case,
	// trailing "#" or "?" included): a SPIFFE ID such as
	// "spiffe://example.org/ns/payments/sa/reporter", or any absolute URI.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	URI string `json:"uri,omitempty"`

	// email is an e-mail subject alternative name the certificate must
	// carry, a bare ASCII address such as "reporter@payments.example.com";
	// the domain is compared without regard to case, the local part
	// exactly (RFC 5321).
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=254
	Email string `json:"email,omitempty"`

	// authority names the certificate authority, as the verifier's
	// configuration names it, that must have issued the certificate; the
	// verifier checks the chain to it and the validity period. Required
	// with subject, dnsName, uri or email; optional with thumbprint. A
	// name the verifier does not know matches no certificate. A KeyPolicy
	// may limit the authorities keys name (allowedAuthorities).
	// +optional
	Authority AuthorityName `json:"authority,omitempty"`

	// credential is what a request must present: Certificate (the
	// certificate alone authenticates the key) or CertificateAndKey (the
	// key itself as well, over a connection with the bound certificate).
	// Defaults to Certificate.
	// +optional
	// +kubebuilder:default=Certificate
	Credential CertificateCredential `json:"credential,omitempty"`
}

// CertificateCredential is what a request bound to a certificate presents.
// +kubebuilder:validation:Enum=Certificate;CertificateAndKey
type CertificateCredential string

const (
	// CredentialCertificate: the certificate alone authenticates the key.
	CredentialCertificate CertificateCredential = "Certificate"
	// CredentialCertificateAndKey: the key and the certificate together.
	CredentialCertificateAndKey CertificateCredential = "CertificateAndKey"
)
